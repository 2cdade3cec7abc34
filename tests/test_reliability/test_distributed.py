# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Two-process (gloo, CPU) training of a tiny SG-HRNet with MMEngine's own
launchers: ``tools/dist_train.sh`` (torch.distributed.run) and ``mim train
mmpose ... --launcher pytorch`` (torch.distributed.launch).

Each rank writes what it saw at every iteration (RankConsistencyHook with a
dump folder): the logged DWA weights, the DWA buffers and a digest of the
parameters. The test compares the two ranks' files, independently of the
hook's own cross-rank check.
"""
import json
import os.path as osp
import random
import sys

import pytest
import torch

from mmpose_ext.compat.checkpoint import safe_torch_load
from .conftest import dump_cfg, run_cmd, subprocess_env, tiny_sg_hrnet_cfg

pytestmark = pytest.mark.slow


def _cfg(repo_root, data_root, work_dir, sync_bn, nan_iters=()):
    hooks = [
        dict(
            type='RankConsistencyHook',
            interval=1,
            dump_dir='dump',
            buffer_keys=('*multi_task_loss.*', '*running_mean',
                         '*running_var') if sync_bn else
            ('*multi_task_loss.*', )),
        dict(type='NonFiniteLossHook', max_consecutive=3),
    ]
    if nan_iters:
        # a corrupt batch on rank 1 only: both ranks must skip it together
        hooks.append(
            dict(type='InjectNonFiniteHook', iters=nan_iters, ranks=[1]))
    cfg = tiny_sg_hrnet_cfg(
        repo_root,
        data_root,
        work_dir,
        max_epochs=2,
        ckpt_interval=2,
        custom_hooks=hooks)
    cfg.train_dataloader.dataset.indices = 8  # 2 ranks x batch 2: 2 it/ep
    if sync_bn:
        cfg.model.backbone.norm_cfg = dict(type='SyncBN', requires_grad=True)
    return cfg


def _read_dumps(work_dir):
    out = []
    for rank in (0, 1):
        with open(osp.join(work_dir, 'dump', f'rank{rank}.jsonl')) as f:
            out.append([json.loads(line) for line in f])
    return out


def _check_ranks_agree(work_dir, num_iters):
    r0, r1 = _read_dumps(work_dir)
    assert [r['iter'] for r in r0] == list(range(1, num_iters + 1))
    assert [r['iter'] for r in r1] == list(range(1, num_iters + 1))
    for a, b in zip(r0, r1):
        assert a['rank'] == 0 and b['rank'] == 1
        # DWA weights as logged by each rank, and the DWA buffers
        assert set(a['scalars']) == {'train/dwa_w_kpt', 'train/dwa_w_seg'}
        assert a['scalars'] == b['scalars'], a['iter']
        assert a['buffers'] == b['buffers'], a['iter']
        assert a['digest'] == b['digest'], a['iter']
    # the DWA weights moved away from 1 (the history was filled)
    assert r0[-1]['scalars']['train/dwa_w_kpt'] != 1.0
    s0 = torch.load(osp.join(work_dir, 'dump', 'rank0_final.pth'))
    s1 = torch.load(osp.join(work_dir, 'dump', 'rank1_final.pth'))
    return r0, s0, s1


def test_dist_train_sh_syncbn_dwa_and_one_rank_nan(repo_root, synthetic_coco,
                                                   tmp_path):
    work = tmp_path / 'dist'
    cfg_path = dump_cfg(
        _cfg(repo_root, synthetic_coco, work, sync_bn=True, nan_iters=[3]),
        tmp_path / 'dist_cfg.py')
    env = subprocess_env(repo_root)
    env['PYTHON'] = sys.executable
    env['PORT'] = str(random.randint(20000, 29999))
    out = run_cmd(['bash', 'tools/dist_train.sh', cfg_path, '2'],
                  cwd=repo_root,
                  env=env,
                  timeout=400)
    assert 'Distributed training: True' in out and 'GPU number: 2' in out
    # 2 processes x 2 crops = 4 per step against the recipe's 32: said once
    # (rank 0), with the per-process batch that keeps the recipe
    warning = ('RecipeCheckHook: this run trains 4 crops per step (2 '
               'process(es) x train_dataloader.batch_size=2), the recipe 32')
    assert out.count(warning) == 1, out[-3000:]
    assert 'use train_dataloader.batch_size=16' in out
    assert "the learning rate stays at the recipe's 0.001" in out
    r0, s0, s1 = _check_ranks_agree(work, num_iters=4)
    # final parameters AND buffers agree: SyncBN keeps the BN statistics
    # identical on both ranks (plain BN under DDP leaves them rank-local)
    assert s0.keys() == s1.keys()
    for k in s0:
        assert torch.equal(s0[k], s1[k]), k
    bn = [k for k in s0 if k.endswith('running_mean')]
    assert bn and any(s0[k].abs().sum() > 0 for k in bn)
    # iteration 3 had NaN targets on rank 1 only: skipped on both ranks,
    # so the parameters did not change and the DWA history did not take it
    assert r0[2]['digest'] == r0[1]['digest']
    assert r0[2]['buffers']['head.multi_task_loss.history'] == \
        r0[1]['buffers']['head.multi_task_loss.history']
    assert r0[3]['digest'] != r0[2]['digest']
    assert 'Non-finite loss at iteration 3' in out
    # the DWA loss itself refused the all-reduced NaN, same numbering
    assert 'at iteration 3; not recorded in the DWA history' in out
    # the checkpoint (rank 0) holds the same weights
    ckpt = safe_torch_load(str(work / 'iter_4.pth'))
    for k, v in ckpt['state_dict'].items():
        assert torch.equal(v, s0[k]), k


def test_mim_train_launcher_pytorch_two_processes(repo_root, synthetic_coco,
                                                  tmp_path):
    work = tmp_path / 'mim'
    cfg = _cfg(repo_root, synthetic_coco, work, sync_bn=False)
    # a recipe of 4 crops per step, kept by 2 processes x 2, with
    # --auto-scale-lr on: nothing to warn about, the LR scales by 1
    cfg.auto_scale_lr = dict(base_batch_size=4, enable=True)
    cfg_path = dump_cfg(cfg, tmp_path / 'mim_cfg.py')
    mim = osp.join(osp.dirname(sys.executable), 'mim')
    env = subprocess_env(repo_root)
    env['PATH'] = osp.dirname(sys.executable) + ':' + env.get('PATH', '')
    run_cmd([
        mim, 'train', 'mmpose', cfg_path, '--launcher', 'pytorch', '--gpus',
        '2', '--port',
        str(random.randint(20000, 29999)), '--work-dir',
        str(work)
    ],
            cwd=repo_root,
            env=env,
            timeout=400)
    log = open(sorted(work.glob('*/*.log'))[-1]).read()
    assert 'RecipeCheckHook: this run trains' not in log
    assert 'LR is set based on batch size of 4 and the current batch size ' \
        'is 4. Scaling the original LR by 1.0.' in log
    r0, s0, s1 = _check_ranks_agree(work, num_iters=4)
    # plain BN: MMEngine's DDP wrapper leaves BN statistics rank-local, and
    # MMPose's SyncBuffersHook averages them at the end of each epoch; so
    # they differ after iteration 1 but agree at the end of the run
    r1 = _read_dumps(work)[1]
    assert r0[0]['buffers'] == r1[0]['buffers']  # DWA buffers only
    assert s0.keys() == s1.keys()
    for k in s0:
        assert torch.equal(s0[k], s1[k]), k
