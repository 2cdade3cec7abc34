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
from typing import Optional, Sequence, Union

import numpy as np
from mmpose.apis import inference_topdown
from mmpose.structures import merge_data_samples

from .batched_flip import enable_batched_flip
from .boxes import check_bboxes, filter_detections
from .fast_cpu import optimize_for_cpu
from .media import MediaReadError, read_image
from .model_loading import (ConfigLike, default_device, init_person_detector,
                            init_pose_model)
from .onnx_backend import attach_onnx_backend
from .result import TopdownResult

__all__ = ['TopdownInferencer', 'BACKENDS']

BACKENDS = ('pytorch', 'onnxruntime', 'openvino')


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
        backend (str, optional): ``'pytorch'``, ``'onnxruntime'`` (needs
            ``pose_onnx``) or ``'openvino'`` (needs ``pose_ir``). Default:
            the one whose file is given, else PyTorch.
        pose_ir (str, optional): An OpenVINO IR ``.xml`` of the pose network
            (``tools/export_onnx.py --format openvino``; with its .bin and
            .json side file), see
            :func:`~mmpose_ext.apis.openvino_backend.attach_openvino_backend`.
        precision (str): ``'f32'`` (default), ``'bf16'`` (OpenVINO, on CPUs
            with bf16 arithmetic) or ``'int8'`` (OpenVINO, a quantized IR).
            PyTorch and ONNX Runtime run f32 only.
        bf16_fallback (str): ``'error'`` (default): bf16 on a CPU without
            bf16 raises ``PrecisionNotSupportedError``; ``'f32'``: warn and
            run f32.
        batched_flip (bool): Run the flip test's crops and mirrored crops in
            one network call (:func:`~mmpose_ext.apis.batched_flip.
            enable_batched_flip`; same keypoints up to float rounding).
            Defaults to True.

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
                 optimize_cpu: bool = False,
                 backend: Optional[str] = None,
                 pose_ir: Optional[str] = None,
                 precision: str = 'f32',
                 bf16_fallback: str = 'error',
                 batched_flip: bool = True):
        if det_config is None and det_checkpoint is not None:
            raise ValueError('det_checkpoint was given without det_config')
        backend = _check_backend(backend, pose_onnx, pose_ir, precision)
        self.device = device or default_device()
        self.det_cat_ids = ((det_cat_id, ) if isinstance(det_cat_id, int) else
                            tuple(int(c) for c in det_cat_id))
        self.bbox_thr = float(bbox_thr)
        self.nms_thr = nms_thr
        self.max_persons = max_persons
        self.detector = None
        if det_config is not None:
            self.detector = init_person_detector(det_config, det_checkpoint,
                                                 self.device, det_cfg_options,
                                                 strict)
        # The pose model last: init_model leaves 'mmpose' as default scope.
        self.pose_model = init_pose_model(pose_config, pose_checkpoint,
                                          self.device, pose_cfg_options,
                                          strict)
        if backend == 'onnxruntime':  # onnx_backend.py
            self.pose_model = attach_onnx_backend(self.pose_model, pose_onnx,
                                                  onnx_threads)
        elif backend == 'openvino':  # openvino_backend.py
            # OpenVINO is optional (the `openvino` extra): imported on use
            from .openvino_backend import \
                attach_openvino_backend  # noqa: PLC0415
            self.pose_model = attach_openvino_backend(
                self.pose_model,
                pose_ir,
                precision=precision,
                num_threads=onnx_threads,
                bf16_fallback=bf16_fallback)
        elif optimize_cpu:  # BN folding + channels_last (fast_cpu.py)
            self.pose_model = optimize_for_cpu(self.pose_model)
        if batched_flip:
            self.pose_model = enable_batched_flip(self.pose_model)
        self.backend = backend
        self.precision = getattr(
            getattr(self.pose_model, 'onnx_session', None), 'precision', 'f32')

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
        # MMDet is an optional dependency (the `det` extra): imported on use
        from mmdet.apis import inference_detector  # noqa: PLC0415
        if self.detector is None:
            raise RuntimeError('no detector: pass det_config')
        img = self._read(img)
        det = inference_detector(self.detector, img)
        pred = det.pred_instances.cpu().numpy()
        bboxes = np.concatenate(
            [pred.bboxes.reshape(-1, 4),
             pred.scores.reshape(-1, 1)], axis=1)
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

    def __call__(
            self,
            img: Union[str, np.ndarray],
            bboxes: Optional[Union[np.ndarray,
                                   Sequence]] = None) -> TopdownResult:
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

        img_path = img if isinstance(img, str) else None
        image = self._read(img)
        h, w = image.shape[:2]
        if bboxes is not None:
            boxes = check_bboxes(
                bboxes, (h, w), source=f'bboxes for {img_path or "image"}')
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


def _check_backend(backend: Optional[str], pose_onnx: Optional[str],
                   pose_ir: Optional[str], precision: str) -> str:
    """The backend to run, after checking it against the files given."""
    if pose_onnx is not None and pose_ir is not None:
        raise ValueError('give pose_onnx (ONNX Runtime) or pose_ir '
                         '(OpenVINO), not both')
    inferred = ('onnxruntime' if pose_onnx is not None else
                'openvino' if pose_ir is not None else 'pytorch')
    backend = backend or inferred
    if backend not in BACKENDS:
        raise ValueError(f'backend must be one of {BACKENDS}, got '
                         f'{backend!r}')
    if backend != inferred:
        need = {
            'onnxruntime': 'pose_onnx (an .onnx file from '
            'tools/export_onnx.py)',
            'openvino': 'pose_ir (an .xml IR from tools/export_onnx.py '
            '--format openvino)',
            'pytorch': 'neither pose_onnx nor pose_ir'
        }[backend]
        raise ValueError(f'backend={backend!r} needs {need}')
    if precision not in ('f32', 'bf16', 'int8'):
        raise ValueError("precision must be 'f32', 'bf16' or 'int8', got "
                         f'{precision!r}')
    if precision != 'f32' and backend != 'openvino':
        raise ValueError(
            f'precision={precision!r} runs on the OpenVINO backend only '
            f"(backend={backend!r} runs f32): export an IR with "
            'tools/export_onnx.py --format openvino and pass pose_ir')
    return backend
