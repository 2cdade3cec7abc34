# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""FSDP / DeepSpeed / ColossalAI are refused at start with a message that
names the supported runners and strategies; FlexibleRunner with
SingleDeviceStrategy or DDPStrategy trains; a config's strategy that
MMPose's tools/train.py (Runner.from_cfg) would silently ignore is an
error."""
import json
import os

import pytest
import torch
import torch.multiprocessing as mp
from mmengine.config import Config
from mmengine.runner import FlexibleRunner, Runner

from mmpose_ext.engine.runner_check import (UnsupportedTrainingSetupError,
                                            check_training_setup)
from .conftest import ToyModel, toy_dataset

SUPPORTED_MSG = 'FlexibleRunner with SingleDeviceStrategy or DDPStrategy'


def _args(work_dir, **kwargs):
    return dict(
        model=ToyModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=toy_dataset(),
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=2,
            num_workers=0),
        optim_wrapper=dict(optimizer=dict(type='Adam', lr=0.05)),
        train_cfg=dict(type='ResumableEpochBasedTrainLoop', max_epochs=1),
        default_hooks=dict(
            checkpoint=dict(
                type='AtomicCheckpointHook', interval=2, by_epoch=False)),
        custom_hooks=[dict(type='NonFiniteLossHook')],
        default_scope='mmpose',
        log_level='WARNING',
        **kwargs)


def _flexible_in_child(tmp_path, strategy, port):
    """Train a FlexibleRunner on 1 gloo process (a child: the strategies
    initialise torch.distributed)."""

    def child():
        torch.set_num_threads(1)
        os.environ.update(
            LOCAL_RANK='0',
            RANK='0',
            WORLD_SIZE='1',
            MASTER_ADDR='127.0.0.1',
            MASTER_PORT=str(port))
        try:
            runner = FlexibleRunner(**_args(
                tmp_path / strategy,
                strategy=dict(type=strategy),
                launcher='pytorch',
                env_cfg=dict(dist_cfg=dict(backend='gloo'))))
            runner.train()
            res = dict(iter=runner.iter)
        except Exception as e:  # noqa: BLE001  reported to the test
            res = dict(error=type(e).__name__, message=str(e))
        with open(tmp_path / f'{strategy}.json', 'w') as f:
            json.dump(res, f)
        os._exit(0)

    proc = mp.get_context('fork').Process(target=child)
    proc.start()
    proc.join(120)
    return json.load(open(tmp_path / f'{strategy}.json'))


@pytest.mark.slow
def test_fsdp_strategy_refused_at_start(tmp_path):
    res = _flexible_in_child(tmp_path, 'FSDPStrategy',
                             29000 + os.getpid() % 900)
    assert res['error'] == 'UnsupportedTrainingSetupError'
    assert 'FlexibleRunner with FSDPStrategy' in res['message']
    assert SUPPORTED_MSG in res['message']


@pytest.mark.slow
def test_ddp_strategy_trains(tmp_path):
    res = _flexible_in_child(tmp_path, 'DDPStrategy',
                             29000 + os.getpid() % 900 + 1)
    assert res == dict(iter=6)


def test_single_device_strategy_trains(tmp_path):
    runner = FlexibleRunner(**_args(
        tmp_path / 'single', strategy=dict(type='SingleDeviceStrategy')))
    runner.train()
    assert runner.iter == 6
    assert (tmp_path / 'single' / 'iter_6.pth').exists()


@pytest.mark.parametrize(
    'name', ['DeepSpeedStrategy', 'ColossalAIStrategy', 'FSDPStrategy'])
def test_sharded_strategies_refused(name):
    # the strategy objects need their packages (and GPUs) to be built;
    # the check only looks at the runner's strategy type
    strategy = type(name, (), {})()
    runner = type('FakeFlexibleRunner', (), dict(strategy=strategy))()
    with pytest.raises(UnsupportedTrainingSetupError, match=name):
        check_training_setup(runner)


def test_fsdp_model_wrapper_refused():
    wrapper = type('MMFullyShardedDataParallel', (), {})()
    runner = type('FakeRunner', (), dict(model=wrapper, cfg=None))()
    with pytest.raises(
            UnsupportedTrainingSetupError, match='FSDP.*model_wrapper_cfg'):
        check_training_setup(runner)


def test_strategy_in_config_of_plain_runner_refused(tmp_path):
    """tools/train.py builds Runner.from_cfg, which ignores `strategy`."""
    cfg = Config(
        dict(
            _args(tmp_path / 'plain'),
            model=dict(type='ToyModelForCheck'),
            runner_type='FlexibleRunner',
            strategy=dict(type='DeepSpeedStrategy')))
    from mmpose.registry import MODELS
    if 'ToyModelForCheck' not in MODELS.module_dict:
        MODELS.register_module('ToyModelForCheck', module=ToyModel)
    runner = Runner.from_cfg(cfg)
    with pytest.raises(
            UnsupportedTrainingSetupError,
            match="strategy='DeepSpeedStrategy'.*silently not be used"):
        runner.train()
    assert not list((tmp_path / 'plain').glob('iter_*.pth'))
