#!/usr/bin/env bash
# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
#
# Distributed training with MMEngine's launcher (torch.distributed.run).
#
#   tools/dist_train.sh CONFIG NPROC [tools/train.py args...]
#
# One node, 8 GPUs:
#   tools/dist_train.sh configs/sg_hrnet_w32_coco.py 8
# Two nodes, 8 GPUs each (run on every node, NODE_RANK=0 on the master):
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 PORT=29500 \
#       tools/dist_train.sh configs/sg_hrnet_w32_coco.py 8
# CPU-only (gloo backend), e.g. to test:
#   tools/dist_train.sh CONFIG 2 --cfg-options env_cfg.dist_cfg.backend=gloo
#
# Environment: NNODES (1), NODE_RANK (0), MASTER_ADDR (127.0.0.1),
# PORT (29500), PYTHON (python). Resume after a crash by running the same
# command with --resume (the latest checkpoint in --work-dir).
set -euo pipefail

if [ $# -lt 2 ]; then
    echo "usage: $0 CONFIG NPROC_PER_NODE [train.py args...]" >&2
    exit 2
fi
CONFIG=$1
NPROC=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${PYTHON:-python}
TOOLS_DIR="$(cd "$(dirname "$0")" && pwd)"

PYTHONPATH="${TOOLS_DIR}/..${PYTHONPATH:+:$PYTHONPATH}" \
"${PYTHON}" -m torch.distributed.run \
    --nnodes="${NNODES}" \
    --node_rank="${NODE_RANK}" \
    --master_addr="${MASTER_ADDR}" \
    --nproc_per_node="${NPROC}" \
    --master_port="${PORT}" \
    "${TOOLS_DIR}/train.py" \
    "${CONFIG}" \
    --launcher pytorch "${@:3}"
