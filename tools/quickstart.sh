#!/usr/bin/env bash
# Install everything, then run the quick start on a built-in demo data set:
#   1. generate a small synthetic COCO-format data set (data/synthetic_coco),
#   2. train a small SG-HRNet on it with `mim train mmpose` (MMPose's runner),
#   3. evaluate the checkpoint with MMPose's CocoMetric (tools/test.py),
#   4. run top-down inference on a demo image and write a picture.
#
#   bash tools/quickstart.sh            # uses/creates .venv in the checkout
#   bash tools/quickstart.sh --active   # uses the already-active environment
#
# Idempotent: finished steps are skipped on a second run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/tools/install.sh" "$@"
if [ "${1:-}" = "--active" ]; then BIN="$(dirname "$(command -v python)")"; else BIN="${MMPOSE_EXT_VENV:-$ROOT/.venv}/bin"; fi
PY="$BIN/python"
cd "$ROOT"

CFG=configs/quickstart/sg_hrnet_tiny_synthetic_coco.py
DATA=data/synthetic_coco
WORK=work_dirs/quickstart
OUT=outputs/quickstart
log() { printf '\n[quickstart] %s\n' "$*"; }

if [ ! -f "$DATA/annotations/person_keypoints_val2017.json" ]; then
  log "1/4 generating the demo data set in $DATA"
  "$PY" tools/make_synthetic_dataset.py coco "$DATA" --num-train 300 --num-val 40 --seed 0
else
  log "1/4 demo data set already in $DATA"
fi

CKPT="$("$PY" -c "from mmengine import Config; print('$WORK/epoch_%d.pth' % Config.fromfile('$CFG').train_cfg.max_epochs)")"
if [ ! -f "$CKPT" ]; then
  log "2/4 training $CFG with mim (work dir $WORK)"
  "$BIN/mim" train mmpose "$CFG" --work-dir "$WORK"
else
  log "2/4 already trained: $CKPT"
fi

log "3/4 evaluating $CKPT with CocoMetric on the detector boxes"
"$PY" tools/test.py "$CFG" "$CKPT" --work-dir "$WORK/test" 2>&1 | tee "$WORK/test.log" | grep -E "coco/AP|coco/AR" || true
grep -q "coco/AP" "$WORK/test.log" || { echo "[quickstart] evaluation failed, see $WORK/test.log" >&2; exit 1; }

log "4/4 top-down inference on a demo image"
mkdir -p "$OUT"
IMG="$(ls "$DATA"/val2017/*.jpg | head -n 1)"
"$PY" tools/topdown_demo.py "$CFG" "$CKPT" --input "$IMG" --out-dir "$OUT" \
  --bbox-file "$DATA/person_detection_results/COCO_val2017_detections_AP_H_56_person.json"
log "done: picture and predictions.json in $OUT"
