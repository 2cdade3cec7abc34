# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""SIGKILL a tools/train.py SG-HRNet run in mid-epoch after a checkpoint,
resume it with --resume, and compare with an uninterrupted run: same
iterations, same weights, optimizer, LR schedule and DWA state."""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from mmpose_ext.compat.checkpoint import safe_torch_load
from .conftest import dump_cfg, subprocess_env, tiny_sg_hrnet_cfg

pytestmark = pytest.mark.slow

# 8 samples, batch 2: 4 iterations per epoch, 2 epochs; checkpoints at
# iterations 2, 4, 6, 8. The kill comes after iteration 6 (and iter_6.pth),
# in the middle of epoch 2.
KILL_AFTER = 6


def _cfg(repo_root, data_root, work_dir, extra_hooks=()):
    cfg = tiny_sg_hrnet_cfg(
        repo_root,
        data_root,
        work_dir,
        max_epochs=2,
        ckpt_interval=2,
        custom_hooks=extra_hooks)
    cfg.train_dataloader.dataset.indices = 8
    return cfg


def _train(repo_root, cfg_path, work_dir, *extra):
    cmd = [
        sys.executable, 'tools/train.py', cfg_path, '--work-dir',
        str(work_dir), *extra
    ]
    return subprocess.Popen(
        cmd,
        cwd=repo_root,
        env=subprocess_env(repo_root),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True)


def _train_in_process(cfg_path):
    from mmengine.config import Config
    from mmengine.runner import Runner
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        Runner.from_cfg(Config.fromfile(cfg_path)).train()
    finally:
        torch.set_num_threads(threads)


def _assert_same(a, b, what, atol=0.0):
    if isinstance(a, torch.Tensor):
        assert a.shape == b.shape and a.dtype == b.dtype, what
        assert torch.allclose(a.double(), b.double(), rtol=0, atol=atol), \
            f'{what}: max diff {(a.double() - b.double()).abs().max()}'
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), what
        for k in a:
            _assert_same(a[k], b[k], f'{what}.{k}', atol)
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), what
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f'{what}[{i}]', atol)
    else:
        assert a == b, f'{what}: {a!r} != {b!r}'


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted(
        repo_root, synthetic_coco, tmp_path):
    ref_dir, run_dir = tmp_path / 'ref', tmp_path / 'run'
    ready = tmp_path / 'ready'
    ref_cfg = dump_cfg(
        _cfg(repo_root, synthetic_coco, ref_dir), tmp_path / 'ref_cfg.py')
    kill_cfg = dump_cfg(
        _cfg(repo_root, synthetic_coco, run_dir, [
            dict(
                type='PauseAfterIterHook',
                iter=KILL_AFTER,
                ready_file=str(ready),
                seconds=300)
        ]), tmp_path / 'kill_cfg.py')
    resume_cfg = dump_cfg(
        _cfg(repo_root, synthetic_coco, run_dir), tmp_path / 'resume_cfg.py')

    victim = _train(repo_root, kill_cfg, run_dir)
    try:
        # meanwhile, the uninterrupted reference run (in this process, one
        # thread like the subprocesses: same code as tools/train.py)
        _train_in_process(ref_cfg)
        deadline = time.time() + 240
        while not ready.exists():
            assert victim.poll() is None, victim.stdout.read()[-4000:]
            assert time.time() < deadline, 'no checkpoint before the kill'
            time.sleep(0.2)
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(60)
    finally:
        if victim.poll() is None:
            victim.kill()
    assert victim.returncode == -signal.SIGKILL
    victim.stdout.close()

    names = set(os.listdir(run_dir))
    assert {'iter_2.pth', 'iter_4.pth', 'iter_6.pth'} <= names
    assert 'iter_8.pth' not in names
    with open(run_dir / 'last_checkpoint') as f:
        assert f.read().strip() == str(run_dir / 'iter_6.pth')
    killed_ckpt = safe_torch_load(str(run_dir / 'iter_6.pth'))
    assert killed_ckpt['meta']['epoch'] == 1  # in epoch 2 (0-based 1)

    # --resume: picks up iter_6.pth and skips the 2 batches of epoch 2
    # that it already contains
    res = _train(repo_root, resume_cfg, run_dir, '--resume')
    out = res.communicate(timeout=240)[0]
    assert res.returncode == 0, out[-4000:]
    assert f'Auto resumed from the latest checkpoint {run_dir}/iter_6.pth' \
        in out
    assert 'skipping the 2 batches of epoch 2' in out
    logged = [line for line in out.splitlines() if 'Epoch(train)' in line]
    assert '[2][3/4]' in logged[0] and '[2][4/4]' in logged[-1]
    assert len(logged) == 2  # iterations 7 and 8 only

    final = safe_torch_load(str(run_dir / 'iter_8.pth'))
    expect = safe_torch_load(str(ref_dir / 'iter_8.pth'))
    assert final['meta']['iter'] == expect['meta']['iter'] == 8
    assert final['meta']['epoch'] == expect['meta']['epoch']
    # weights and the DWA loss history/weights (persistent buffers)
    _assert_same(
        final['state_dict'], expect['state_dict'], 'state_dict', atol=1e-7)
    assert any('multi_task_loss.history' in k for k in final['state_dict'])
    # Adam moments and step counts; LR schedule (warm-up + multi-step)
    _assert_same(
        final['optimizer'], expect['optimizer'], 'optimizer', atol=1e-7)
    _assert_same(final['param_schedulers'], expect['param_schedulers'],
                 'param_schedulers')
    # the state the resumed run started from equals the reference's
    _assert_same(
        killed_ckpt['state_dict'],
        safe_torch_load(str(ref_dir / 'iter_6.pth'))['state_dict'],
        'iter_6 state_dict',
        atol=1e-7)
