# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""A toy MMEngine runner (linear model + BN, 12 samples) for fast engine
tests: the hooks and the loop are model agnostic."""
import functools
import itertools

import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel

_COUNTER = itertools.count()


class ToyModel(BaseModel):
    """y = linear(bn(x)); MSE loss. BN gives it buffers."""

    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm1d(4)
        self.linear = nn.Linear(4, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = torch.stack(inputs) if isinstance(inputs, list) else inputs
        out = self.linear(self.bn(x))
        if mode == 'loss':
            y = torch.stack(data_samples)
            return dict(loss=((out - y)**2).mean())
        return out


def toy_dataset(n=12):
    g = torch.Generator().manual_seed(0)
    xs = torch.randn(n, 4, generator=g)
    ys = xs.sum(1, keepdim=True) * 0.5 + 1
    return [dict(inputs=x, data_samples=y) for x, y in zip(xs, ys)]


def make_toy_runner(tmp_path,
                    work_dir=None,
                    max_epochs=2,
                    loop='ResumableEpochBasedTrainLoop',
                    ckpt=None,
                    custom_hooks=(),
                    resume=False,
                    load_from=None,
                    optim_wrapper=None,
                    batch_size=2,
                    seed=0):
    """A Runner of :class:`ToyModel`, checkpoints every 2 iterations."""
    from mmengine.runner import Runner

    from mmpose_ext.engine.hooks import AtomicCheckpointHook
    work_dir = str(work_dir or tmp_path / f'toy{next(_COUNTER)}')
    torch.manual_seed(0)  # the model is built before the Runner seeds
    return Runner(
        model=ToyModel(),
        work_dir=work_dir,
        experiment_name=f'toy_{next(_COUNTER)}',
        train_dataloader=dict(
            dataset=toy_dataset(),
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=batch_size,
            num_workers=0),
        optim_wrapper=optim_wrapper
        or dict(optimizer=dict(type='Adam', lr=0.05)),
        param_scheduler=dict(
            type='MultiStepLR', milestones=[1], by_epoch=True),
        train_cfg=dict(type=loop, max_epochs=max_epochs),
        default_hooks=dict(
            checkpoint=ckpt if ckpt is not None else AtomicCheckpointHook(
                interval=2, by_epoch=False),
            logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=list(custom_hooks),
        randomness=dict(seed=seed, deterministic=True),
        default_scope='mmpose',
        resume=resume,
        load_from=load_from,
        log_level='WARNING')


@pytest.fixture
def toy_runner(tmp_path):
    """Factory: ``toy_runner(work_dir, **kwargs) -> Runner``."""
    return functools.partial(make_toy_runner, tmp_path)


def model_state(runner):
    state = runner.model.state_dict()
    return {k: v.detach().clone() for k, v in state.items()}


def assert_same_state(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
