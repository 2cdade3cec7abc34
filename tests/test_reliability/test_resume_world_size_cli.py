# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""The real command lines: a tiny SG-HRNet trained by ``tools/dist_train.sh
CONFIG 2`` (gloo) is SIGKILLed in mid-epoch and resumed by ``tools/train.py
--resume`` on one process, which trains only the rest of the epoch."""
import random
import re
import subprocess
import sys
import time

import psutil
import pytest

from mmpose_ext.compat.checkpoint import safe_torch_load
from .conftest import dump_cfg, subprocess_env, tiny_sg_hrnet_cfg

pytestmark = pytest.mark.slow


def _cfg(repo_root, data_root, work_dir, hooks=()):
    cfg = tiny_sg_hrnet_cfg(
        repo_root,
        data_root,
        work_dir,
        max_epochs=1,
        ckpt_interval=2,
        custom_hooks=hooks)
    # 16 samples: 2 processes x batch 2 -> 4 iterations per epoch
    cfg.train_dataloader.dataset.indices = 16
    return cfg


def test_dist_train_killed_then_resumed_on_one_process(repo_root,
                                                       synthetic_coco,
                                                       tmp_path):
    work, ready = tmp_path / 'work', tmp_path / 'ready'
    kill_cfg = dump_cfg(
        _cfg(repo_root, synthetic_coco, work, [
            dict(
                type='PauseAfterIterHook',
                iter=2,
                ready_file=str(ready),
                seconds=300)
        ]), tmp_path / 'kill_cfg.py')
    env = subprocess_env(repo_root)
    env.update(PYTHON=sys.executable, PORT=str(random.randint(20000, 29999)))
    victim = subprocess.Popen(['bash', 'tools/dist_train.sh', kill_cfg, '2'],
                              cwd=repo_root,
                              env=env,
                              stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT,
                              text=True,
                              start_new_session=True)

    def kill_job():
        # torchrun starts each worker in a session of its own, so a process
        # group kill misses them: SIGKILL the whole tree, as a node failure
        try:
            root = psutil.Process(victim.pid)
            tree = [root] + root.children(recursive=True)
        except psutil.NoSuchProcess:
            return
        for proc in tree:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(tree, timeout=60)

    try:
        deadline = time.time() + 300
        while not ready.exists():
            assert victim.poll() is None, victim.stdout.read()[-4000:]
            assert time.time() < deadline, 'no checkpoint before the kill'
            time.sleep(0.2)
        kill_job()
    finally:
        kill_job()
    victim.stdout.close()
    ckpt = safe_torch_load(str(work / 'iter_2.pth'))
    assert ckpt['meta']['epoch'] == 0  # 2 of the epoch's 4 batches done
    assert not (work / 'iter_4.pth').exists()

    resume_cfg = dump_cfg(
        _cfg(repo_root, synthetic_coco, work), tmp_path / 'resume_cfg.py')
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', resume_cfg, '--resume'],
        cwd=repo_root,
        env=subprocess_env(repo_root),
        capture_output=True,
        text=True,
        timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert ('Resuming epoch 1 on 1 process(es) x batch 2 (it was trained '
            'on 2 x 2): 8 of its 16 samples were trained before the '
            'checkpoint; the remaining 8 are split') in out
    logged = re.findall(r'Epoch\(train\)\s+\[1\]\[\s*(\d+)/8\]', out)
    assert logged == ['5', '6', '7', '8']  # the rest of the epoch only
    final = safe_torch_load(str(work / 'iter_6.pth'))
    assert final['meta']['iter'] == 6
    # the DWA history kept moving after the resume
    key = 'head.multi_task_loss.history'
    assert not (final['state_dict'][key] == ckpt['state_dict'][key]).all()
