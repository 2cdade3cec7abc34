# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Build the detector and the pose model of top-down inference, with checks.

``mmdet.apis.init_detector`` and ``mmpose.apis.init_model`` with what they
leave out: a config that is not a detector (or not a top-down pose model),
a checkpoint whose weights do not fit the model (MMEngine loads
non-strictly and only warns) each raise an error naming the file or
argument.
"""
import copy
import os.path as osp
import pickle
from typing import Dict, Optional, Union

import torch
from mmengine.config import Config
from mmengine.runner.checkpoint import _load_checkpoint
from mmpose.apis import init_model
from mmpose.models.pose_estimators.base import BasePoseEstimator
from mmpose.utils import adapt_mmdet_pipeline

__all__ = [
    'CheckpointMismatchError', 'ModelTypeError', 'load_state_dict',
    'check_checkpoint', 'init_person_detector', 'init_pose_model'
]

ConfigLike = Union[str, Config]


class CheckpointMismatchError(ValueError):
    """A checkpoint's weights do not fit the model built from the config."""


class ModelTypeError(ValueError):
    """A config builds the wrong kind of model (e.g. a pose config given as
    the detector)."""


def default_device() -> str:
    """``'cuda:0'`` when CUDA is available, else ``'cpu'``."""
    return 'cuda:0' if torch.cuda.is_available() else 'cpu'


def _load_config(config: ConfigLike, arg: str) -> Config:
    if isinstance(config, Config):
        return copy.deepcopy(config)  # init_* modify the config they get
    if not isinstance(config, str):
        raise TypeError(f'{arg} must be a config path or an mmengine Config, '
                        f'got {type(config).__name__}')
    if not osp.isfile(config):
        raise FileNotFoundError(f'{arg} "{config}" does not exist')
    try:
        return Config.fromfile(config)
    except Exception as e:  # syntax errors, missing bases, failed imports
        raise ValueError(f'{arg} "{config}" cannot be parsed as an MMEngine '
                         f'config: {type(e).__name__}: {e}') from e


def _describe(config: ConfigLike) -> str:
    return f'"{config}"' if isinstance(config, str) else 'the given Config'


def load_state_dict(checkpoint: str, arg: str = 'checkpoint') -> dict:
    """Read the ``state_dict`` of an MMEngine checkpoint file.

    The file is read through MMEngine's ``CheckpointLoader``, i.e. the
    plugin's safe loader for local paths (a checkpoint that holds pickled
    code is refused with ``UnsafeCheckpointError``).

    Args:
        checkpoint (str): Path of the checkpoint.
        arg (str): Argument name used in messages.

    Returns:
        dict: Weight name -> tensor, without a ``module.`` prefix.

    Raises:
        FileNotFoundError: the file does not exist.
        CheckpointMismatchError: it is not a torch checkpoint of a model.
    """
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'{arg} "{checkpoint}" does not exist')
    try:
        ckpt = _load_checkpoint(checkpoint, map_location='cpu')
    except pickle.UnpicklingError:
        raise  # UnsafeCheckpointError: already names the file
    except Exception as e:
        raise CheckpointMismatchError(
            f'{arg} "{checkpoint}" cannot be read as a torch checkpoint: '
            f'{type(e).__name__}: {e}') from e
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not all(
            isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointMismatchError(
            f'{arg} "{checkpoint}" is not a model checkpoint: expected a '
            'dict of tensors or a dict with a "state_dict" of tensors')
    return {
        (k[7:] if k.startswith('module.') else k): v
        for k, v in state.items()
    }


def check_checkpoint(model: torch.nn.Module,
                     state: Dict[str, torch.Tensor],
                     checkpoint: str = '',
                     arg: str = 'checkpoint',
                     max_listed: int = 5) -> None:
    """Check that a checkpoint's weights fit ``model`` exactly.

    MMEngine's ``load_checkpoint`` (used by ``init_detector`` and
    ``init_model``) loads non-strictly: missing, unexpected and mis-shaped
    weights only produce a logged warning and leave those layers at their
    initial values. This check turns that into an error.

    Args:
        model (nn.Module): The built model.
        state (dict): The checkpoint's weights (:func:`load_state_dict`).
        checkpoint (str): Its path, for the message.
        arg (str): Argument name used in the message.
        max_listed (int): Offending keys listed per kind.

    Raises:
        CheckpointMismatchError: keys are missing, unexpected, or shapes
            differ; the message names the file and lists examples.
    """
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f'{k}: checkpoint {tuple(state[k].shape)} vs model '
        f'{tuple(v.shape)}' for k, v in own.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if not (missing or unexpected or shapes):
        return
    parts = []
    for name, items in (('missing in the checkpoint',
                         missing), ('not in the model', unexpected),
                        ('with another shape', shapes)):
        if items:
            listed = ', '.join(items[:max_listed])
            more = f' (+{len(items) - max_listed} more)' \
                if len(items) > max_listed else ''
            parts.append(f'{len(items)} weights {name}: {listed}{more}')
    raise CheckpointMismatchError(
        f'{arg} "{checkpoint}" does not match the {type(model).__name__} '
        f'built from the config ({len(own)} weights in the model): ' +
        '; '.join(parts) + '. Was it trained with another config?')


def init_person_detector(det_config: ConfigLike,
                         det_checkpoint: Optional[str] = None,
                         device: Optional[str] = None,
                         cfg_options: Optional[dict] = None,
                         strict: bool = True) -> torch.nn.Module:
    """``mmdet.apis.init_detector`` with checks, ready for MMPose's scope.

    Args:
        det_config (str | Config): Any MMDet detector config.
        det_checkpoint (str, optional): Its checkpoint (None: random
            weights, for tests).
        device (str, optional): Defaults to CUDA when available, else CPU.
        cfg_options (dict, optional): Overrides merged into the config.
        strict (bool): Refuse a checkpoint that does not fit the model
            (see :func:`check_checkpoint`). Defaults to True.

    Returns:
        nn.Module: The detector in eval mode, with its ``cfg`` test pipeline
        prefixed for the ``mmpose`` default scope (``adapt_mmdet_pipeline``).

    Raises:
        ModelTypeError: the config does not build an MMDet detector.
        CheckpointMismatchError: the checkpoint does not fit the model.
    """
    # MMDet is an optional dependency (the `det` extra): imported on use
    from mmdet.apis import init_detector  # noqa: PLC0415
    from mmdet.models.detectors import BaseDetector  # noqa: PLC0415

    device = device or default_device()
    cfg = _load_config(det_config, 'det_config')
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    what = f'det_config {_describe(det_config)}'
    if 'model' not in cfg:
        raise ModelTypeError(f'{what} has no "model": it is not a detector '
                             'config')
    try:
        test_pipeline = cfg.test_dataloader.dataset.pipeline
    except AttributeError:
        test_pipeline = None
    if not test_pipeline:
        raise ModelTypeError(
            f'{what} has no test_dataloader.dataset.pipeline, which '
            'inference_detector needs: it is not an MMDet detector config')
    state = None
    if det_checkpoint is not None:
        state = load_state_dict(det_checkpoint, 'det_checkpoint')
    try:
        detector = init_detector(cfg, det_checkpoint, device=device)
    except (KeyError, AttributeError) as e:
        raise ModelTypeError(
            f'{what} does not build an MMDet detector: {e}') from e
    if not isinstance(detector, BaseDetector):
        raise ModelTypeError(
            f'{what} builds a {type(detector).__name__}, not an MMDet '
            'detector (mmdet.models.BaseDetector). Was a pose config passed '
            'as the detector?')
    if state is not None and strict:
        check_checkpoint(detector, state, det_checkpoint, 'det_checkpoint')
    detector.cfg = adapt_mmdet_pipeline(detector.cfg)
    return detector


def init_pose_model(pose_config: ConfigLike,
                    pose_checkpoint: Optional[str] = None,
                    device: Optional[str] = None,
                    cfg_options: Optional[dict] = None,
                    strict: bool = True) -> torch.nn.Module:
    """``mmpose.apis.init_model`` with checks for top-down inference.

    Args:
        pose_config (str | Config): A top-down MMPose config (ours or
            MMPose's).
        pose_checkpoint (str, optional): Its checkpoint (None: random
            weights).
        device (str, optional): Defaults to CUDA when available, else CPU.
        cfg_options (dict, optional): Overrides merged into the config, e.g.
            ``dict(model=dict(test_cfg=dict(output_heatmaps=True)))``.
        strict (bool): Refuse a checkpoint that does not fit the model.

    Returns:
        nn.Module: The pose estimator in eval mode with ``dataset_meta``.

    Raises:
        ModelTypeError: the config is not a top-down pose model config.
        CheckpointMismatchError: the checkpoint does not fit the model.
    """
    device = device or default_device()
    cfg = _load_config(pose_config, 'pose_config')
    what = f'pose_config {_describe(pose_config)}'
    if 'model' not in cfg:
        raise ModelTypeError(f'{what} has no "model": not a pose config')
    if cfg.get('data_mode', 'topdown') != 'topdown':
        raise ModelTypeError(
            f'{what} has data_mode={cfg.data_mode!r}; top-down inference '
            'needs a top-down model')
    state = None
    if pose_checkpoint is not None:
        state = load_state_dict(pose_checkpoint, 'pose_checkpoint')
    try:
        model = init_model(
            cfg, pose_checkpoint, device=device, cfg_options=cfg_options)
    except KeyError as e:
        raise ModelTypeError(
            f'{what} does not build an MMPose model: {e}') from e
    if not isinstance(model, BasePoseEstimator):
        raise ModelTypeError(
            f'{what} builds a {type(model).__name__}, not an MMPose pose '
            'estimator. Was a detector config passed as the pose model?')
    if state is not None and strict:
        check_checkpoint(model, state, pose_checkpoint, 'pose_checkpoint')
    return model
