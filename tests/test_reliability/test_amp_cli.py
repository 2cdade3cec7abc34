# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""``tools/train.py CONFIG --amp`` on a machine without a GPU trains a tiny
SG-HRNet with bfloat16 autocast (MMEngine alone stops with an
AssertionError)."""
import re
import subprocess
import sys

import pytest

from mmpose_ext.compat.amp import _accelerator_available
from .conftest import dump_cfg, subprocess_env, tiny_sg_hrnet_cfg

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(_accelerator_available(), reason='CPU behaviour')
]


def test_train_py_amp_on_cpu(repo_root, synthetic_coco, tmp_path):
    work = tmp_path / 'amp'
    cfg = tiny_sg_hrnet_cfg(repo_root, synthetic_coco, work, ckpt_interval=3)
    cfg_path = dump_cfg(cfg, tmp_path / 'amp_cfg.py')
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', cfg_path, '--amp'],
        cwd=repo_root,
        env=subprocess_env(repo_root),
        capture_output=True,
        text=True,
        timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "type='AmpOptimWrapper'" in open(
        sorted(work.glob('*/vis_data/config.py'))[-1]).read()
    losses = [
        float(x)
        for x in re.findall(r'Epoch\(train\).*? loss: ([-\d.e+]+)', out)
    ]
    assert len(losses) == 9  # 18 persons, batch 2
    assert all(0 < v < 10 for v in losses), losses
    assert (work / 'iter_9.pth').exists()
