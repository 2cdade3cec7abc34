# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""NonFiniteLossHook / NonFiniteSkipOptimWrapper: NaN/Inf iterations are
skipped (no parameter, optimizer or buffer change), logged, and K in a row
stop the run while the latest checkpoint stays the last good state."""
import logging
import math

import pytest
import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.logging import MMLogger
from mmengine.optim import OptimWrapper

from mmpose_ext.compat.checkpoint import safe_torch_load
from mmpose_ext.engine.hooks.nonfinite_loss_hook import (
    NonFiniteLossError, NonFiniteLossHook, NonFiniteSkipOptimWrapper)
from .conftest import assert_same_state, model_state


def _linear_wrapper(check_grads=True):
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    ow = NonFiniteSkipOptimWrapper(
        optimizer=torch.optim.Adam(model.parameters(), lr=0.1),
        check_grads=check_grads)
    return model, ow


def _snapshot(model, ow):
    return ({
        k: v.clone()
        for k, v in model.state_dict().items()
    }, repr(ow.optimizer.state_dict()))


@pytest.mark.parametrize('bad', [float('nan'), float('inf'), -float('inf')])
def test_wrapper_skips_nonfinite_loss(bad):
    model, ow = _linear_wrapper()
    x = torch.ones(2, 3)
    ow.update_params(model(x).sum())  # one good step: Adam has state
    assert not ow.last_skipped
    before = _snapshot(model, ow)
    ow.update_params(model(x).sum() * bad)
    assert ow.last_skipped and ow.last_skip_reason == 'loss'
    after = _snapshot(model, ow)
    assert_same_state(before[0], after[0])
    assert before[1] == after[1]
    assert all(p.grad is None or not p.grad.any() for p in model.parameters())
    ow.update_params(model(x).sum())  # and training goes on
    assert not ow.last_skipped and ow.num_skipped == 1
    assert not torch.equal(before[0]['weight'], model.weight)


def test_wrapper_skips_nonfinite_gradient():
    model, ow = _linear_wrapper()
    model.weight.register_hook(lambda g: g * float('inf'))
    before = _snapshot(model, ow)
    loss = model(torch.ones(2, 3)).sum()
    assert torch.isfinite(loss)
    ow.update_params(loss)
    assert ow.last_skipped and ow.last_skip_reason == 'grad'
    assert_same_state(before[0], _snapshot(model, ow)[0])


def test_hook_upgrades_plain_optim_wrapper_in_place():
    model = nn.Linear(3, 1)
    ow = OptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=1.0))

    class R:
        optim_wrapper = ow

        class message_hub:
            log_scalars = {}

    NonFiniteLossHook().before_train(R())
    assert isinstance(ow, OptimWrapper) and hasattr(ow, 'last_skipped')
    w = model.weight.clone()
    ow.update_params(model(torch.ones(1, 3)).sum() * float('nan'))
    assert ow.last_skipped and torch.equal(w, model.weight)
    assert ow.state_dict().keys() == {'state', 'param_groups'}


def test_max_consecutive_must_be_positive():
    with pytest.raises(ValueError, match='max_consecutive'):
        NonFiniteLossHook(max_consecutive=0)


class ListHandler(logging.Handler):
    """Collects the messages of warnings and errors."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


class NaNTargets(Hook):
    """Toy fault: the targets of the given iterations become NaN."""
    priority = 'VERY_HIGH'

    def __init__(self, iters):
        self.iters = set(iters)

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter + 1 in self.iters:
            data_batch['data_samples'][:] = [
                torch.full_like(y, math.nan)
                for y in data_batch['data_samples']
            ]


class Snapshots(Hook):
    priority = 'LOWEST'

    def __init__(self):
        self.states = {}

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        self.states[runner.iter + 1] = model_state(runner)


def test_hook_skips_logs_and_stops_keeping_last_good_checkpoint(
        toy_runner, tmp_path):
    work = tmp_path / 'nan'
    snaps = Snapshots()
    hook = NonFiniteLossHook(max_consecutive=3)
    # iteration 3 alone, then 5, 6, 7 in a row -> stop at 7
    runner = toy_runner(
        work, custom_hooks=[NaNTargets({3, 5, 6, 7}), hook, snaps])
    logger = MMLogger.get_current_instance()
    handler = ListHandler()
    messages = handler.messages
    logger.addHandler(handler)
    try:
        with pytest.raises(NonFiniteLossError) as err:
            runner.train()
    finally:
        logger.removeHandler(handler)
    msg = str(err.value)
    assert '3 consecutive' in msg and '[5, 6, 7]' in msg
    assert str(work / 'iter_6.pth') in msg  # names the last good checkpoint
    assert hook.skipped_iters == [3, 5, 6, 7]
    assert any('Non-finite loss at iteration 3' in m for m in messages)
    assert any('Non-finite loss at iteration 5' in m for m in messages)

    # skipped iterations change nothing, BN running stats included
    assert_same_state(snaps.states[3], snaps.states[2])
    assert_same_state(snaps.states[6], snaps.states[4])
    assert_same_state(model_state(runner), snaps.states[4])
    assert not torch.equal(snaps.states[4]['bn.running_mean'],
                           snaps.states[2]['bn.running_mean'])
    # no checkpoint for iteration 7; the latest one is intact and good
    with open(work / 'last_checkpoint') as f:
        assert f.read().strip() == str(work / 'iter_6.pth')
    assert not (work / 'iter_8.pth').exists()
    ckpt = safe_torch_load(str(work / 'iter_6.pth'))
    assert_same_state(ckpt['state_dict'], snaps.states[4])
    assert all(
        torch.isfinite(v).all() for v in ckpt['state_dict'].values()
        if v.is_floating_point())
    assert ckpt['message_hub']['log_scalars']['train/nonfinite_skips'].current(
    ) == 3
