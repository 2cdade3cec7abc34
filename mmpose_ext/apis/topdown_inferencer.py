# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Top-down pose inference with an MMDet person detector.

A thin layer over MMDet's and MMPose's own APIs, as MMPose's
``demo/topdown_demo_with_mmdet.py`` uses them::

    detector = init_detector(det_config, det_checkpoint)        # mmdet.apis
    detector.cfg = adapt_mmdet_pipeline(detector.cfg)            # mmpose.utils
    pose_model = init_model(pose_config, pose_checkpoint)        # mmpose.apis
    det = inference_detector(detector, img).pred_instances       # mmdet.apis
    boxes = boxes of det_cat_id with score > bbox_thr, then nms(nms_thr)
    results = inference_topdown(pose_model, img, boxes)          # mmpose.apis
    merged = merge_data_samples(results)             # mmpose.structures

What this module adds is the checking around it: an unreadable image, a
config that is not a detector (or not a top-down pose model), a checkpoint
whose weights do not fit the model, a box that lies outside the image all
raise an error that names the file or argument; zero detections give an
empty :class:`TopdownResult` (MMPose's ``inference_topdown`` would silently
use the whole image).
"""
import copy
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.config import Config

from .coco_io import keypoint_results
from .media import MediaReadError, read_image

__all__ = [
    'TopdownResult', 'TopdownInferencer', 'init_person_detector',
    'init_pose_model', 'load_state_dict', 'check_checkpoint',
    'CheckpointMismatchError',
    'ModelTypeError', 'check_bboxes', 'filter_detections'
]

ConfigLike = Union[str, Config]


class CheckpointMismatchError(ValueError):
    """A checkpoint's weights do not fit the model built from the config."""


class ModelTypeError(ValueError):
    """A config builds the wrong kind of model (e.g. a pose config given as
    the detector)."""


def _default_device() -> str:
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
    import pickle

    from mmengine.runner.checkpoint import _load_checkpoint
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
    return {(k[7:] if k.startswith('module.') else k): v
            for k, v in state.items()}


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
    for name, items in (('missing in the checkpoint', missing),
                        ('not in the model', unexpected),
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
    from mmdet.apis import init_detector
    from mmdet.models.detectors import BaseDetector
    from mmpose.utils import adapt_mmdet_pipeline

    device = device or _default_device()
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
    from mmpose.apis import init_model
    from mmpose.models.pose_estimators.base import BasePoseEstimator

    device = device or _default_device()
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


def check_bboxes(bboxes: Union[np.ndarray, Sequence],
                 img_shape: Sequence[int],
                 source: str = 'bboxes') -> np.ndarray:
    """Validate person boxes given by the user.

    Boxes may extend past the image border (the crop is padded, as in
    training), but must overlap the image and have positive size.

    Args:
        bboxes (array-like): (N, 4) ``x1, y1, x2, y2`` or (N, 5) with a
            score, in image pixels; a single box (4,) / (5,) is accepted.
        img_shape (Sequence[int]): ``(H, W)`` of the image.
        source (str): Where the boxes come from, for the message.

    Returns:
        np.ndarray: (N, 5) float32 ``x1, y1, x2, y2, score`` (score 1 when
        not given).

    Raises:
        ValueError: wrong shape, non-finite values, an empty box, or a box
            that lies entirely outside the image.
    """
    arr = np.asarray(bboxes, dtype=np.float32)
    if arr.ndim == 1 and arr.size in (4, 5):
        arr = arr[None]
    if arr.size == 0:
        return np.zeros((0, 5), np.float32)
    if arr.ndim != 2 or arr.shape[1] not in (4, 5):
        raise ValueError(f'{source}: expected (N, 4) boxes x1, y1, x2, y2 or '
                         f'(N, 5) with a score, got shape {arr.shape}')
    if arr.shape[1] == 4:
        arr = np.concatenate([arr, np.ones((len(arr), 1), np.float32)], 1)
    h, w = int(img_shape[0]), int(img_shape[1])
    for i, (x1, y1, x2, y2, _) in enumerate(arr):
        box = f'box {i} [{x1:g}, {y1:g}, {x2:g}, {y2:g}] (x1, y1, x2, y2)'
        if not np.isfinite(arr[i]).all():
            raise ValueError(f'{source}: {box} has a non-finite value')
        if x2 <= x1 or y2 <= y1:
            raise ValueError(f'{source}: {box} is empty (needs x2 > x1 and '
                             'y2 > y1; xywh boxes must be converted)')
        if x2 <= 0 or y2 <= 0 or x1 >= w or y1 >= h:
            raise ValueError(f'{source}: {box} lies outside the image of '
                             f'width {w} and height {h}')
    return arr


def filter_detections(bboxes: np.ndarray,
                      bbox_thr: float = 0.3,
                      nms_thr: Optional[float] = 0.3,
                      max_persons: Optional[int] = None) -> np.ndarray:
    """Score threshold, NMS and top-k, as MMPose's demo does.

    Args:
        bboxes (np.ndarray): (N, 5) ``x1, y1, x2, y2, score``.
        bbox_thr (float): Keep boxes with score > ``bbox_thr``.
        nms_thr (float, optional): IoU threshold of
            ``mmpose.evaluation.functional.nms``; None skips NMS.
        max_persons (int, optional): Keep at most this many (best first).

    Returns:
        np.ndarray: (M, 5), sorted by decreasing score.
    """
    from mmpose.evaluation.functional import nms
    bboxes = np.asarray(bboxes, dtype=np.float32).reshape(-1, 5)
    bboxes = bboxes[bboxes[:, 4] > bbox_thr]
    if len(bboxes) and nms_thr is not None:
        bboxes = bboxes[np.asarray(nms(bboxes, nms_thr), dtype=np.int64)]
    bboxes = bboxes[np.argsort(-bboxes[:, 4], kind='stable')]
    if max_persons is not None:
        bboxes = bboxes[:max_persons]
    return bboxes


@dataclass
class TopdownResult:
    """Top-down predictions of one image, in image pixels.

    Attributes:
        img_shape (tuple): ``(H, W)`` of the image.
        bboxes (np.ndarray): (N, 4) person boxes ``x1, y1, x2, y2``.
        bbox_scores (np.ndarray): (N, ) box scores (1 for whole-image or
            user boxes without a score).
        keypoints (np.ndarray): (N, K, 2) keypoint ``x, y``.
        keypoint_scores (np.ndarray): (N, K).
        data_sample (PoseDataSample, optional): MMPose's merged data sample
            (``merge_data_samples``), for its visualiser; None when N = 0.
        img_path (str, optional): The image file, when read from one.
    """
    img_shape: tuple
    bboxes: np.ndarray
    bbox_scores: np.ndarray
    keypoints: np.ndarray
    keypoint_scores: np.ndarray
    data_sample: Optional[object] = None
    img_path: Optional[str] = None
    extra: Dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.bboxes)

    @classmethod
    def empty(cls, img_shape, num_keypoints: int, img_path=None):
        return cls(
            img_shape=tuple(img_shape[:2]),
            bboxes=np.zeros((0, 4), np.float32),
            bbox_scores=np.zeros((0, ), np.float32),
            keypoints=np.zeros((0, num_keypoints, 2), np.float32),
            keypoint_scores=np.zeros((0, num_keypoints), np.float32),
            img_path=img_path)

    @property
    def instances(self) -> List[dict]:
        """One dict per person: ``bbox`` (4,), ``bbox_score``, ``keypoints``
        (K, 2), ``keypoint_scores`` (K, )."""
        return [
            dict(
                bbox=self.bboxes[i],
                bbox_score=float(self.bbox_scores[i]),
                keypoints=self.keypoints[i],
                keypoint_scores=self.keypoint_scores[i])
            for i in range(len(self))
        ]

    def to_coco(self,
                image_id: int,
                category_id: int = 1,
                kpt_score_thr: float = 0.2) -> List[dict]:
        """COCO keypoint results (see :func:`coco_io.keypoint_results`)."""
        return keypoint_results(image_id, self.keypoints,
                                self.keypoint_scores, self.bbox_scores,
                                category_id, kpt_score_thr)


class TopdownInferencer:
    """Person detector (any MMDet detector) + top-down MMPose model.

    Args:
        pose_config (str | Config): Top-down pose config (e.g.
            ``configs/sg_hrnet_w32_coco.py``).
        pose_checkpoint (str, optional): Pose weights.
        det_config (str | Config, optional): MMDet detector config. Without
            it, :meth:`__call__` uses the given boxes or the whole image.
        det_checkpoint (str, optional): Detector weights.
        device (str, optional): Defaults to CUDA when available, else CPU.
        det_cat_id (int | Sequence[int]): Detector label(s) of a person
            (0-based: 0 for COCO-trained and single-class person detectors).
            Defaults to 0.
        bbox_thr (float): Keep detections with score > ``bbox_thr``.
            Defaults to 0.3.
        nms_thr (float, optional): IoU threshold of the box NMS (None: no
            NMS). Defaults to 0.3.
        max_persons (int, optional): Keep at most this many detections per
            image. Defaults to None (all).
        pose_cfg_options (dict, optional): Overrides of the pose config.
        det_cfg_options (dict, optional): Overrides of the detector config.
        strict (bool): Refuse checkpoints that do not fit their model.
        pose_onnx (str, optional): An ONNX file of the pose network
            (``tools/export_onnx.py``) to run with ONNX Runtime instead of
            PyTorch; ``pose_checkpoint`` is then not needed. Pre- and
            post-processing stay the config's (see
            :func:`~mmpose_ext.apis.onnx_backend.attach_onnx_backend`).
        onnx_threads (int, optional): ONNX Runtime threads (default: torch's
            thread count).
        optimize_cpu (bool): Without ``pose_onnx``: fold the BatchNorms into
            the convolutions and store the weights channels_last
            (:func:`~mmpose_ext.apis.fast_cpu.optimize_for_cpu`), ~1.2-1.3x
            faster on CPU, same heatmaps up to ~1e-6. Defaults to False.

    Example:
        >>> inferencer = TopdownInferencer(
        ...     'configs/sg_hrnet_w32_coco.py', 'sg_hrnet.pth',
        ...     det_config='configs/detectors/rtmdet_tiny_person_synthetic.py',
        ...     det_checkpoint='rtmdet.pth')
        >>> result = inferencer('demo.jpg')
        >>> result.keypoints.shape            # (N, 17, 2), image pixels
    """

    def __init__(self,
                 pose_config: ConfigLike,
                 pose_checkpoint: Optional[str] = None,
                 det_config: Optional[ConfigLike] = None,
                 det_checkpoint: Optional[str] = None,
                 device: Optional[str] = None,
                 det_cat_id: Union[int, Sequence[int]] = 0,
                 bbox_thr: float = 0.3,
                 nms_thr: Optional[float] = 0.3,
                 max_persons: Optional[int] = None,
                 pose_cfg_options: Optional[dict] = None,
                 det_cfg_options: Optional[dict] = None,
                 strict: bool = True,
                 pose_onnx: Optional[str] = None,
                 onnx_threads: Optional[int] = None,
                 optimize_cpu: bool = False):
        if det_config is None and det_checkpoint is not None:
            raise ValueError('det_checkpoint was given without det_config')
        self.device = device or _default_device()
        self.det_cat_ids = ((det_cat_id, ) if isinstance(det_cat_id, int)
                            else tuple(int(c) for c in det_cat_id))
        self.bbox_thr = float(bbox_thr)
        self.nms_thr = nms_thr
        self.max_persons = max_persons
        self.detector = None
        if det_config is not None:
            self.detector = init_person_detector(
                det_config, det_checkpoint, self.device, det_cfg_options,
                strict)
        # The pose model last: init_model leaves 'mmpose' as default scope.
        self.pose_model = init_pose_model(pose_config, pose_checkpoint,
                                          self.device, pose_cfg_options,
                                          strict)
        if pose_onnx is not None:  # ONNX Runtime network (onnx_backend.py)
            from .onnx_backend import attach_onnx_backend
            self.pose_model = attach_onnx_backend(self.pose_model, pose_onnx,
                                                  onnx_threads)
        elif optimize_cpu:  # BN folding + channels_last (fast_cpu.py)
            from .fast_cpu import optimize_for_cpu
            self.pose_model = optimize_for_cpu(self.pose_model)

    @property
    def dataset_meta(self) -> dict:
        """The pose model's ``dataset_meta`` (keypoint names, skeleton)."""
        return self.pose_model.dataset_meta

    @property
    def num_keypoints(self) -> int:
        return int(self.dataset_meta['num_keypoints'])

    @staticmethod
    def _read(img: Union[str, np.ndarray]) -> np.ndarray:
        if isinstance(img, str):
            return read_image(img)
        if not (isinstance(img, np.ndarray) and img.ndim == 3
                and img.shape[2] == 3 and img.size > 0):
            raise MediaReadError(
                'img must be an image path or a BGR (H, W, 3) array, got '
                f'{type(img).__name__} '
                f'{getattr(img, "shape", "")}')
        return img

    def detect(self, img: Union[str, np.ndarray]) -> np.ndarray:
        """Person boxes of an image from the detector.

        Args:
            img (str | np.ndarray): Image path or BGR (H, W, 3) array.

        Returns:
            np.ndarray: (N, 5) ``x1, y1, x2, y2, score`` after the category,
            score and NMS filters; N may be 0.
        """
        from mmdet.apis import inference_detector
        if self.detector is None:
            raise RuntimeError('no detector: pass det_config')
        img = self._read(img)
        det = inference_detector(self.detector, img)
        pred = det.pred_instances.cpu().numpy()
        bboxes = np.concatenate(
            [pred.bboxes.reshape(-1, 4), pred.scores.reshape(-1, 1)], axis=1)
        bboxes = bboxes[np.isin(pred.labels, self.det_cat_ids)]
        # Detectors may predict into the padding of their resized input:
        # clip to the image, drop boxes left with less than a pixel.
        h, w = img.shape[:2]
        bboxes[:, 0:4:2] = bboxes[:, 0:4:2].clip(0, w)
        bboxes[:, 1:4:2] = bboxes[:, 1:4:2].clip(0, h)
        bboxes = bboxes[(bboxes[:, 2] - bboxes[:, 0] >= 1)
                        & (bboxes[:, 3] - bboxes[:, 1] >= 1)]
        return filter_detections(bboxes, self.bbox_thr, self.nms_thr,
                                 self.max_persons)

    def __call__(self,
                 img: Union[str, np.ndarray],
                 bboxes: Optional[Union[np.ndarray, Sequence]] = None
                 ) -> TopdownResult:
        """Detect persons (unless ``bboxes`` is given) and estimate poses.

        Args:
            img (str | np.ndarray): Image path or BGR (H, W, 3) uint8 array.
            bboxes (array-like, optional): (N, 4) or (N, 5) boxes ``x1, y1,
                x2, y2[, score]`` in image pixels; they replace the detector.
                An empty array gives an empty result. Without boxes and
                without a detector, the whole image is one person box.

        Returns:
            TopdownResult: boxes, box scores, keypoints (N, K, 2) and
            keypoint scores (N, K) in image pixels.
        """
        from mmpose.apis import inference_topdown
        from mmpose.structures import merge_data_samples

        img_path = img if isinstance(img, str) else None
        image = self._read(img)
        h, w = image.shape[:2]
        if bboxes is not None:
            boxes = check_bboxes(bboxes, (h, w),
                                 source=f'bboxes for {img_path or "image"}')
        elif self.detector is not None:
            boxes = self.detect(image)
        else:
            boxes = np.array([[0, 0, w, h, 1]], dtype=np.float32)
        if len(boxes) == 0:
            return TopdownResult.empty((h, w), self.num_keypoints, img_path)

        pose_results = inference_topdown(
            self.pose_model, image, boxes[:, :4], bbox_format='xyxy')
        merged = merge_data_samples(pose_results)
        inst = merged.pred_instances
        # inference_topdown gives every box the score 1: restore ours.
        inst.bbox_scores = boxes[:, 4].copy()
        if img_path is not None:
            merged.set_metainfo(dict(img_path=img_path))
        return TopdownResult(
            img_shape=(h, w),
            bboxes=boxes[:, :4].copy(),
            bbox_scores=boxes[:, 4].copy(),
            keypoints=np.asarray(inst.keypoints, np.float32),
            keypoint_scores=np.asarray(inst.keypoint_scores, np.float32),
            data_sample=merged,
            img_path=img_path)
