# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""ResumableEpochBasedTrainLoop: a run interrupted in mid-epoch and resumed
from its iteration checkpoint ends exactly like an uninterrupted one; with
MMEngine's EpochBasedTrainLoop it does not."""
import pytest
import torch
from mmengine.hooks import Hook

from .conftest import assert_same_state, model_state


class _Crash(Exception):
    pass


class CrashAfterIter(Hook):
    """Simulate a kill after iteration ``n`` (after its checkpoint)."""
    priority = 'LOWEST'

    def __init__(self, n):
        self.n = n

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        if runner.iter + 1 == self.n:
            raise _Crash(f'crash after iteration {self.n}')


class RecordBatches(Hook):
    """Record (iter, batch_idx, sample sums) of every training iteration."""

    def __init__(self):
        self.seen = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        sig = float(sum(x.sum() for x in data_batch['inputs']))
        self.seen.append((runner.iter + 1, batch_idx, round(sig, 5)))


def _interrupted_then_resumed(toy_runner, tmp_path, loop, crash_at):
    work = tmp_path / loop
    first = toy_runner(
        work, loop=loop, custom_hooks=[CrashAfterIter(crash_at)])
    with pytest.raises(_Crash):
        first.train()
    rec = RecordBatches()
    second = toy_runner(work, loop=loop, resume=True, custom_hooks=[rec])
    second.train()
    return second, rec


def test_mid_epoch_resume_reproduces_uninterrupted_run(toy_runner, tmp_path):
    # 12 samples, batch 2: 6 iterations per epoch, 2 epochs, checkpoints at
    # iterations 2, 4, ..., 12; the crash after iteration 9 loses iteration
    # 9 and resumes from iter_8.pth, in the middle of epoch 2.
    ref_rec = RecordBatches()
    ref = toy_runner(tmp_path / 'ref', custom_hooks=[ref_rec])
    ref.train()
    assert ref.iter == 12

    resumed, rec = _interrupted_then_resumed(
        toy_runner, tmp_path, 'ResumableEpochBasedTrainLoop', crash_at=9)
    assert resumed.iter == 12 and resumed.epoch == 2
    # the resumed run trained exactly the batches 9..12 of the reference,
    # with the same batch indices within epoch 2 (2..5)
    assert rec.seen == ref_rec.seen[8:]
    assert_same_state(model_state(resumed), model_state(ref))
    # optimizer state and LR schedule continue as in the reference
    opt_a = resumed.optim_wrapper.optimizer.state_dict()
    opt_b = ref.optim_wrapper.optimizer.state_dict()
    for k in opt_b['state']:
        for name in ('exp_avg', 'exp_avg_sq'):
            assert torch.equal(opt_a['state'][k][name],
                               opt_b['state'][k][name])
    assert resumed.optim_wrapper.get_lr() == ref.optim_wrapper.get_lr()
    assert resumed.param_schedulers[0].state_dict() == \
        ref.param_schedulers[0].state_dict()


def test_mmengine_epoch_loop_repeats_batches_after_mid_epoch_resume(
        toy_runner, tmp_path):
    """Why the plugin's loop exists (MMEngine 0.10.7 behaviour)."""
    ref = toy_runner(tmp_path / 'ref_mm', loop='EpochBasedTrainLoop')
    ref.train()
    resumed, rec = _interrupted_then_resumed(
        toy_runner, tmp_path, 'EpochBasedTrainLoop', crash_at=9)
    # epoch 2 restarts from its first batch: 6 more iterations, not 4
    assert len(rec.seen) == 6 and resumed.iter == 14
    state_a, state_b = model_state(resumed), model_state(ref)
    assert any(not torch.equal(state_a[k], state_b[k]) for k in state_a)


def test_resume_at_epoch_boundary_skips_nothing(toy_runner, tmp_path):
    ref = toy_runner(tmp_path / 'ref_b')
    ref.train()
    resumed, rec = _interrupted_then_resumed(
        toy_runner, tmp_path, 'ResumableEpochBasedTrainLoop', crash_at=6)
    assert [s[0] for s in rec.seen] == list(range(7, 13))
    assert [s[1] for s in rec.seen] == list(range(6))
    assert_same_state(model_state(resumed), model_state(ref))


class RecordSamples(Hook):
    """Record (epoch, batch_idx, per-sample input sums) of every iteration."""

    def __init__(self):
        self.seen = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.seen.append(
            (runner.epoch, batch_idx,
             [round(float(x.sum()), 5) for x in data_batch['inputs']]))


def test_resume_with_another_batch_size_trains_the_rest_once(
        toy_runner, tmp_path):
    # the crash after iteration 9 resumes from iter_8.pth: 2 batches of 2
    # of epoch 2 trained; the remaining 8 samples go in batches of 3
    work = tmp_path / 'bs'
    first_rec = RecordSamples()
    first = toy_runner(work, custom_hooks=[CrashAfterIter(9), first_rec])
    with pytest.raises(_Crash):
        first.train()
    rec = RecordSamples()
    second = toy_runner(work, resume=True, batch_size=3, custom_hooks=[rec])
    second.train()
    before = [s for e, b, batch in first_rec.seen[6:8] for s in batch]
    after = [s for e, b, batch in rec.seen for s in batch]
    assert [len(batch) for _, _, batch in rec.seen] == [3, 3, 2]
    # epoch 2's batch indices end at len(dataloader) - 1 = 3
    assert [(e, b) for e, b, _ in rec.seen] == [(1, 1), (1, 2), (1, 3)]
    full_epoch = [s for e, b, batch in first_rec.seen[:6] for s in batch]
    assert sorted(before + after) == sorted(full_epoch)  # every sample once
    assert second.iter == 8 + 3


def test_resume_resplit_refuses_another_seed(toy_runner, tmp_path):
    from mmpose_ext.engine.loops import EpochResumeError
    work = tmp_path / 'seed'
    first = toy_runner(work, custom_hooks=[CrashAfterIter(9)])
    with pytest.raises(_Crash):
        first.train()
    second = toy_runner(work, resume=True, batch_size=3, seed=1)
    with pytest.raises(EpochResumeError, match='seed/shuffle are 1/True'):
        second.train()
