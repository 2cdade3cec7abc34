# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Resume on another number of processes: 2 gloo processes are SIGKILLed in
mid-epoch, and the run is resumed from its iteration checkpoint on 1 and on
3 processes. Every sample of the interrupted epoch is trained exactly once
(the killed run's part up to the checkpoint plus the resumed part), the
next epoch is a whole epoch on the new processes, the DWA state continues
from the checkpoint (identical on every rank) and the bad-sample count of
the interrupted epoch is complete."""
import json
import os
import os.path as osp
import shutil
import time
from collections import Counter

import pytest
import torch
import torch.multiprocessing as mp
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.model import BaseModel

from mmpose_ext.compat.checkpoint import safe_torch_load

N = 24  # samples; batch 2 per process
BAD = (1, 5, 9, 16)  # reported as unreadable whenever loaded
CKPT_INTERVAL = 3  # iteration checkpoints at 3, 6, ...
PAUSE_AT = 4  # killed after iteration 4: iteration 4 is lost


class IdxModel(BaseModel):
    """Linear model; two task losses combined by DWA."""

    def __init__(self):
        super().__init__()
        from mmpose_ext.models.losses import DWAMultiTaskLoss
        self.linear = nn.Linear(4, 1)
        self.dwa = DWAMultiTaskLoss(task_names=('loss_mse', 'loss_l1'))

    def forward(self, inputs, data_samples=None, mode='tensor', **kwargs):
        out = self.linear(torch.stack(inputs))
        if mode != 'loss':
            return out
        y = torch.stack(data_samples)
        weighted, _ = self.dwa(
            dict(
                loss_mse=((out - y)**2).mean(),
                loss_l1=(out - y).abs().mean()))
        return weighted


def _dataset():
    g = torch.Generator().manual_seed(0)
    xs = torch.randn(N, 4, generator=g)
    ys = xs.sum(1, keepdim=True) * 0.5 + 1
    return [
        dict(inputs=x, data_samples=y, idx=i)
        for i, (x, y) in enumerate(zip(xs, ys))
    ]


class Record(Hook):
    """Each rank writes the sample indices and DWA state of every
    iteration, and the bad-sample count of every epoch."""
    priority = 'LOW'  # after BadSampleHook (NORMAL)

    def __init__(self, path):
        self.path = path

    def _write(self, **rec):
        with open(self.path, 'a') as f:
            f.write(json.dumps(rec) + '\n')

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        from mmpose_ext.datasets.robust_dataset import BAD_SAMPLES_KEY
        idx = list(data_batch['idx'])
        # what SkipBadSamples reports when it substitutes a sample
        data_batch[BAD_SAMPLES_KEY] = [
            dict(index=i, kind='load_error') for i in idx if i in BAD
        ]
        model = getattr(runner.model, 'module', runner.model)
        self._write(
            iter=runner.iter + 1,
            epoch=runner.epoch,
            batch_idx=batch_idx,
            idx=idx,
            history=model.dwa.history.tolist(),
            weights=model.dwa.weights.tolist())

    def after_train_epoch(self, runner):
        self._write(
            epoch_end=runner.epoch,
            bad=runner.message_hub.get_info('bad_samples_last_epoch'),
            total=runner.message_hub.get_info('bad_samples_total'))


def _worker(rank, world, init_file, work_dir, rec_dir, resume, ready):
    import torch.distributed as dist
    from mmengine.runner import Runner

    from mmpose_ext.engine.hooks import AtomicCheckpointHook
    torch.set_num_threads(1)  # forked from a process with a thread pool
    if world > 1:
        os.environ.update(LOCAL_RANK=str(rank), RANK=str(rank))
        dist.init_process_group(
            'gloo',
            init_method=f'file://{init_file}',
            rank=rank,
            world_size=world)
    hooks = [
        dict(type='BadSampleHook'),
        Record(osp.join(rec_dir, f'w{world}_rank{rank}.jsonl'))
    ]
    if ready:
        from mmpose_ext.devkit.testing.faults import PauseAfterIterHook
        hooks.append(PauseAfterIterHook(PAUSE_AT, ready, seconds=300))
    torch.manual_seed(0)
    runner = Runner(
        model=IdxModel(),
        work_dir=work_dir,
        experiment_name=f'ws{world}_{rank}_{resume}',
        train_dataloader=dict(
            dataset=_dataset(),
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=2,
            num_workers=0),
        optim_wrapper=dict(optimizer=dict(type='Adam', lr=0.05)),
        train_cfg=dict(type='ResumableEpochBasedTrainLoop', max_epochs=2),
        default_hooks=dict(
            checkpoint=AtomicCheckpointHook(
                interval=CKPT_INTERVAL, by_epoch=False),
            logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=hooks,
        randomness=dict(seed=0),
        default_scope='mmpose',
        launcher='pytorch' if world > 1 else 'none',
        resume=resume,
        log_level='WARNING')
    runner.train()
    if world > 1:
        dist.destroy_process_group()


def _spawn(world, tag, tmp_path, work_dir, resume, ready=None):
    ctx = mp.get_context('fork')  # the children reuse this process' imports
    init = str(tmp_path / f'init_{tag}')
    procs = [
        ctx.Process(
            target=_worker,
            args=(rank, world, init, str(work_dir), str(tmp_path / tag),
                  resume, ready)) for rank in range(world)
    ]
    os.makedirs(tmp_path / tag, exist_ok=True)
    for p in procs:
        p.start()
    return procs


def _read(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope='module')
def killed_run(tmp_path_factory):
    """2 processes, SIGKILLed after iteration 4 (checkpoint: iteration 3)."""
    tmp = tmp_path_factory.mktemp('ws')
    work, ready = tmp / 'work', tmp / 'ready'
    procs = _spawn(2, 'killed', tmp, work, False, str(ready))
    try:
        deadline = time.time() + 120
        while not ready.exists():
            assert all(p.exitcode is None for p in procs), \
                [p.exitcode for p in procs]
            assert time.time() < deadline, 'the run did not reach iter 4'
            time.sleep(0.1)
    finally:
        for p in procs:
            p.kill()  # SIGKILL
            p.join(30)
    assert [p.exitcode for p in procs] == [-9, -9]
    return tmp, work


@pytest.mark.parametrize('world', [1, 3])
def test_resume_on_other_world_size_trains_each_sample_once(
        killed_run, tmp_path, world):
    tmp, killed_work = killed_run
    with open(killed_work / 'last_checkpoint') as f:
        assert f.read().strip().endswith('iter_3.pth')
    ckpt = safe_torch_load(str(killed_work / 'iter_3.pth'))
    work = tmp_path / 'work'
    shutil.copytree(killed_work, work)
    with open(work / 'last_checkpoint', 'w') as f:
        f.write(str(work / 'iter_3.pth'))

    procs = _spawn(world, 'resumed', tmp_path, work, True)
    for p in procs:
        p.join(240)
    assert [p.exitcode for p in procs] == [0] * world

    # the killed run: what each rank trained up to the checkpoint
    before = Counter()
    for rank in (0, 1):
        for r in _read(tmp / 'killed' / f'w2_rank{rank}.jsonl'):
            if 'iter' in r and r['iter'] <= 3:
                assert r['epoch'] == 0
                before.update(r['idx'])
    assert sum(before.values()) == 3 * 2 * 2
    # some bad samples were met before the checkpoint, some after it
    assert 0 < len(set(before) & set(BAD)) < len(BAD), sorted(before)

    recs = [
        _read(tmp_path / 'resumed' / f'w{world}_rank{r}.jsonl')
        for r in range(world)
    ]
    iters = [[r for r in rank_recs if 'iter' in r] for rank_recs in recs]
    after = Counter(i for rank_iters in iters for r in rank_iters
                    if r['epoch'] == 0 for i in r['idx'])
    # the interrupted epoch: each of the 24 samples exactly once
    assert before + after == Counter(range(N))
    # the remaining 12 samples on `world` processes x 2: 6 or 2 iterations,
    # numbered on from the checkpoint; the epoch's last batch index is
    # len(dataloader) - 1 as in an uninterrupted epoch
    per_epoch = N // (2 * world)
    rest = 12 // (2 * world)
    for rank_iters in iters:
        ep0 = [r for r in rank_iters if r['epoch'] == 0]
        assert [r['iter'] for r in ep0] == list(range(4, 4 + rest))
        assert ep0[-1]['batch_idx'] == per_epoch - 1
        # the next epoch: a whole epoch on the new processes
        ep1 = [r for r in rank_iters if r['epoch'] == 1]
        assert len(ep1) == per_epoch
    epoch2 = Counter(i for rank_iters in iters for r in rank_iters
                     if r['epoch'] == 1 for i in r['idx'])
    assert epoch2 == Counter(range(N))

    # DWA: continues from the checkpoint's history, same on every rank
    first = iters[0][0]
    assert first['history'] == ckpt['state_dict']['dwa.history'].tolist()
    assert ckpt['state_dict']['dwa.num_history'] == 2
    for k in range(len(iters[0])):
        assert len({json.dumps(it[k]['weights']) for it in iters}) == 1
    assert iters[0][-1]['history'] != first['history']

    # bad samples: the interrupted epoch counts all 4, not only those met
    # after the resume; the total over the 2 epochs is 8
    ends = [r for r in recs[0] if 'epoch_end' in r]
    assert [(e['bad'], e['total']) for e in ends] == [(4, 4), (4, 8)]
