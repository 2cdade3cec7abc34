# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Refuse, at start, the training set-ups the plugin does not support.

MMEngine offers two runners. The plugin's fault tolerance is built and
tested on :class:`~mmengine.runner.Runner` (``tools/train.py``,
``tools/dist_train.sh``, ``mim train``) with one process or
``MMDistributedDataParallel`` (DDP), and it also works under
:class:`~mmengine.runner.FlexibleRunner` with ``SingleDeviceStrategy`` or
``DDPStrategy`` (the same model wrapper). Sharded training - FSDP
(``FSDPStrategy``, or ``model_wrapper_cfg=dict(type=
'MMFullyShardedDataParallel')``), DeepSpeed (``DeepSpeedStrategy``) and
ColossalAI (``ColossalAIStrategy``) - is not supported:

- ``AtomicCheckpointHook`` writes one checkpoint file atomically; DeepSpeed
  and sharded FSDP checkpoints are folders of per-rank files that the
  strategy writes itself, so neither the atomic rename nor the
  ``last_checkpoint`` guarantee would hold;
- ``NonFiniteLossHook`` skips an update by wrapping ``OptimWrapper.
  update_params``; DeepSpeed's engine runs backward and step itself;
- the DWA loss history and ``RankConsistencyHook`` assume every rank holds
  the whole model.

So that such a run does not start and then break in subtle ways (or, with
``tools/train.py``, silently ignore the ``strategy`` of the config, since
``Runner.from_cfg`` does not read it), :func:`check_training_setup` raises
:class:`UnsupportedTrainingSetupError` naming what is supported. It is
called when :class:`~mmpose_ext.engine.ResumableEpochBasedTrainLoop` is
built and by ``AtomicCheckpointHook`` and ``NonFiniteLossHook`` before
training.
"""
from typing import Optional

__all__ = ['UnsupportedTrainingSetupError', 'check_training_setup']

SUPPORTED = ("MMEngine's Runner (tools/train.py, tools/dist_train.sh, mim "
             'train) on one process or with MMDistributedDataParallel (DDP), '
             'or FlexibleRunner with SingleDeviceStrategy or DDPStrategy')
_SUPPORTED_STRATEGIES = ('SingleDeviceStrategy', 'DDPStrategy')


class UnsupportedTrainingSetupError(RuntimeError):
    """The runner, strategy or model wrapper is not supported."""


def _type_name(obj) -> Optional[str]:
    if obj is None:
        return None
    if isinstance(obj, dict):
        t = obj.get('type')
        return t if isinstance(t, str) else getattr(t, '__name__', str(t))
    return type(obj).__name__


def check_training_setup(runner) -> None:
    """Raise :class:`UnsupportedTrainingSetupError` for sharded training.

    Args:
        runner: The MMEngine runner (``Runner`` or ``FlexibleRunner``).
    """
    strategy = getattr(runner, 'strategy', None)
    if strategy is not None:  # FlexibleRunner
        name = _type_name(strategy)
        if name not in _SUPPORTED_STRATEGIES:
            raise UnsupportedTrainingSetupError(
                f'mmpose_ext does not support FlexibleRunner with {name}: '
                'its atomic checkpoints, non-finite-loss skipping and DWA '
                'state assume one checkpoint file and whole, unsharded '
                f'models on every rank. Supported: {SUPPORTED}. Remove '
                "runner_type/strategy from the config (or use strategy="
                "dict(type='DDPStrategy')).")
        return
    wrapper = type(getattr(runner, 'model', None)).__name__
    if 'FullyShardedDataParallel' in wrapper:
        raise UnsupportedTrainingSetupError(
            f'mmpose_ext does not support FSDP ({wrapper}): its atomic '
            'checkpoints, non-finite-loss skipping and DWA state assume '
            f'whole, unsharded models on every rank. Supported: {SUPPORTED}.'
            ' Remove model_wrapper_cfg from the config.')
    cfg = getattr(runner, 'cfg', None)
    if cfg is not None and (cfg.get('strategy') is not None
                            or cfg.get('runner_type') == 'FlexibleRunner'):
        raise UnsupportedTrainingSetupError(
            'The config sets runner_type='
            f"{cfg.get('runner_type')!r} / strategy="
            f"{_type_name(cfg.get('strategy'))!r}, but this run was started "
            "with MMEngine's Runner (MMPose's tools/train.py uses "
            'Runner.from_cfg, which ignores them): the strategy would '
            'silently not be used. mmpose_ext supports '
            f'{SUPPORTED}; remove runner_type and strategy from the config.')
