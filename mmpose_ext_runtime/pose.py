# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Top-down pose estimation from an exported heatmap network.

The steps of MMPose's test pipeline and model, in numpy / OpenCV::

    box x1 y1 x2 y2 -> centre, size * bbox_padding    GetBBoxCenterScale
    size to the input's aspect ratio, affine crop       TopdownAffine
    BGR -> RGB, (x - mean) / std, NCHW                  PoseDataPreprocessor
    network(crops [+ mirrored crops in the same batch]) -> heatmaps
    mirror back, swap left/right, shift, average        flip test
    [per scale: resize + pad the crops, resample heatmaps, average]
                                                        SADI-Net's pyramid
    maximum + quarter offset / DARK, x input / heatmap  MSRAHeatmap.decode
    crop -> image pixels                                add_pred_to_datasample
"""
import math
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

from .backends import InferenceSession, check_fixed_dims
from .heatmaps import decode_heatmaps, flip_back, resample_to_base
from .spec import SpecError, load_spec, resolve_model_file

__all__ = ['PoseEstimator', 'box_to_center_scale', 'warp_matrix']


def box_to_center_scale(boxes: np.ndarray, padding: float,
                        aspect_ratio: float) -> Tuple[np.ndarray, np.ndarray]:
    """Centres (N, 2) and sizes (N, 2) of the crops of ``boxes`` (N, 4)
    x1 y1 x2 y2: padded, then widened or heightened to ``aspect_ratio``
    (w / h), as ``GetBBoxCenterScale`` + ``TopdownAffine``."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    scale = (boxes[:, 2:] - boxes[:, :2]) * padding
    center = (boxes[:, 2:] + boxes[:, :2]) * 0.5
    w, h = scale[:, :1], scale[:, 1:]
    scale = np.where(w > h * aspect_ratio, np.hstack([w, w / aspect_ratio]),
                     np.hstack([h * aspect_ratio, h]))
    return center, scale


def warp_matrix(center: np.ndarray, scale: np.ndarray,
                output_size: Sequence[int]) -> np.ndarray:
    """MMPose's ``get_warp_matrix`` without rotation: the 2x3 affine map
    from the image to the (w, h) crop."""
    dst_w, dst_h = output_size
    src = np.zeros((3, 2), np.float32)
    dst = np.zeros((3, 2), np.float32)
    src[0] = center
    src[1] = center + np.array([scale[0] * -0.5, 0.])
    dst[0] = [dst_w * 0.5, dst_h * 0.5]
    dst[1] = dst[0] + np.array([dst_w * -0.5, 0.])
    for pts in (src, dst):
        d = pts[0] - pts[1]
        pts[2] = pts[1] + np.array([-d[1], d[0]])
    return cv2.getAffineTransform(np.float32(src), np.float32(dst))


class PoseEstimator:
    """A top-down heatmap pose network and its JSON
    (``tools/export_onnx.py`` writes both).

    Args:
        spec_file (str): The JSON (or the model file beside it).
        model_file (str, optional): The network (``.onnx`` or OpenVINO
            ``.xml``); default: the JSON's ``model``.
        backend (str): ``'auto'``, ``'onnxruntime'`` or ``'openvino'``.
        num_threads (int, optional): Engine threads.
        precision (str, optional): OpenVINO precision hint.
        bf16_fallback (str): ``'error'`` (bf16 on a CPU without it
            raises) or ``'f32'`` (warn, run f32).
        flip_test (bool, optional): Override the JSON's flip test.

    Raises:
        SpecError: a bad JSON, or one this runtime cannot follow (another
            codec, a flip mode or multi-scale mode it does not implement).
        ValueError: the model file does not fit the JSON.
    """

    def __init__(self,
                 spec_file: str,
                 model_file: Optional[str] = None,
                 backend: str = 'auto',
                 num_threads: Optional[int] = None,
                 precision: Optional[str] = None,
                 flip_test: Optional[bool] = None,
                 bf16_fallback: str = 'error'):
        spec = load_spec(spec_file, 'topdown_pose')
        self.spec = spec
        where = spec['_path']
        codec = spec['codec']
        if codec.get('type') not in ('MSRAHeatmap', 'DiskSegHeatmap'):
            raise SpecError(
                f'"{where}": codec {codec.get("type")!r} is not implemented '
                'by the runtime (MSRAHeatmap, DiskSegHeatmap, with or '
                'without DARK); use the PyTorch / ONNX path of '
                'mmpose_ext.apis.TopdownInferencer')
        test = spec['test']
        if test.get('flip_test') and test.get('flip_mode',
                                              'heatmap') != 'heatmap':
            raise SpecError(
                f'"{where}": flip_mode {test.get("flip_mode")!r} is not '
                "implemented by the runtime (only 'heatmap')")
        if test.get('multiscale_mode', 'resize') != 'resize':
            raise SpecError(
                f'"{where}": multi-scale mode {test["multiscale_mode"]!r} is '
                "not implemented by the runtime (only 'resize'); export "
                'with multiscale_test.mode=resize or a single scale')
        self.input_size = tuple(int(v) for v in spec['input_size'])  # w, h
        self.heatmap_size = tuple(int(v) for v in spec['heatmap_size'])
        pre = spec['preprocess']
        self.mean = np.asarray(pre['mean'], np.float32)
        self.std = np.asarray(pre['std'], np.float32)
        self.bgr_to_rgb = bool(pre.get('bgr_to_rgb', True))
        self.padding = float(pre.get('bbox_padding', 1.25))
        self.codec = codec
        self.flip_test = bool(
            test.get('flip_test', False) if flip_test is None else flip_test)
        self.shift_heatmap = bool(test.get('shift_heatmap', True))
        self.scales = tuple(float(s) for s in test.get('scales', (1.0, )))
        self.size_divisor = int(test.get('size_divisor', 32))
        self.meta = spec['dataset_meta']
        self.num_keypoints = int(self.meta['num_keypoints'])
        flip = self.meta.get('flip_indices')
        self.flip_indices = list(flip) if flip is not None else None
        if self.flip_test and self.flip_indices is None:
            raise SpecError(f'"{where}": flip test needs dataset_meta.'
                            'flip_indices')

        self.session = InferenceSession(
            resolve_model_file(spec, model_file), backend, num_threads,
            precision, bf16_fallback)
        w, h = self.input_size
        fix = ('the model file and the JSON do not belong together: export '
               'them together')
        check_fixed_dims(self.session, (None, 3, h, w), f'"{where}"', fix)
        if any(s != 1 for s in self.scales) and not self.session.dynamic_hw:
            raise ValueError(
                f'"{where}" tests at scales {self.scales}, but '
                f'"{self.session.model_file}" has a fixed input size '
                f'{self.session.input_shape}: export with --dynamic-hw')
        out = self.session.output_shapes[0]
        if len(out) != 4 or (isinstance(out[1], int)
                             and out[1] != self.num_keypoints):
            raise ValueError(
                f'"{self.session.model_file}" outputs {out}, but "{where}" '
                f'has {self.num_keypoints} keypoints: {fix}')
        # the normalised value of a black pixel (the multi-scale padding)
        self._black = -self.mean / self.std

    # ---------------------------------------------------------- crops
    def crops(self, image: np.ndarray,
              boxes: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Normalised crops (N, 3, h, w) of ``boxes`` (N, 4) in a BGR
        image, with their centres and sizes (N, 2) in image pixels."""
        w, h = self.input_size
        centers, scales = box_to_center_scale(boxes, self.padding, w / h)
        crops = np.empty((len(boxes), h, w, 3), np.float32)
        for i, (c, s) in enumerate(zip(centers, scales)):
            crops[i] = cv2.warpAffine(
                image,
                warp_matrix(c, s, (w, h)), (w, h),
                flags=cv2.INTER_LINEAR)
        if self.bgr_to_rgb:
            crops = crops[..., ::-1]
        crops = (crops - self.mean) / self.std
        return (np.ascontiguousarray(crops.transpose(0, 3, 1, 2),
                                     np.float32), centers, scales)

    # ---------------------------------------------------------- network
    def _flip_merged(self, x: np.ndarray) -> np.ndarray:
        """Heatmaps of crops ``x``, flip test in one batch."""
        n = len(x)
        if not self.flip_test:
            return self.session(x)[0]
        both = self.session(np.concatenate([x, x[..., ::-1]]))[0]
        back = flip_back(both[n:], self.flip_indices, self.shift_heatmap)
        return (both[:n] + back) * 0.5

    def _scaled_input(self, x: np.ndarray, s: float):
        """Crops resized by ``s`` and padded to the size divisor."""
        h, w = x.shape[-2:]
        rh, rw = (max(1, int(math.floor(v * s + 0.5))) for v in (h, w))
        div = self.size_divisor
        ph, pw = -(-rh // div) * div, -(-rw // div) * div
        out = np.empty((len(x), 3, ph, pw), np.float32)
        out[:] = self._black[None, :, None, None]
        for i, crop in enumerate(x):
            resized = cv2.resize(
                crop.transpose(1, 2, 0), (rw, rh),
                interpolation=cv2.INTER_LINEAR)
            out[i, :, :rh, :rw] = resized.transpose(2, 0, 1)
        return out, (rh, rw), (ph, pw)

    def heatmaps(self, x: np.ndarray) -> np.ndarray:
        """Flip- and scale-merged heatmaps (N, K, h, w) of crops ``x``."""
        if self.scales == (1.0, ):
            return self._flip_merged(x)
        in_hw = x.shape[-2:]
        base = (self.heatmap_size[1], self.heatmap_size[0])
        merged = []
        for s in self.scales:
            if s == 1:
                merged.append(self._flip_merged(x))
                continue
            xs, resized, padded = self._scaled_input(x, s)
            merged.append(
                resample_to_base(
                    self._flip_merged(xs), in_hw, resized, padded, base))
        return np.mean(merged, axis=0, dtype=np.float32)

    # ---------------------------------------------------------- predict
    def __call__(self, image: np.ndarray,
                 boxes: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Keypoints of the persons in ``boxes``.

        Args:
            image (np.ndarray): BGR uint8 (H, W, 3).
            boxes (np.ndarray): (N, 4+) x1 y1 x2 y2 [score] in image pixels.

        Returns:
            tuple: keypoints (N, K, 2) in image pixels and scores (N, K).
        """
        boxes = np.asarray(boxes, np.float32)
        boxes = boxes.reshape(-1, boxes.shape[-1] if boxes.size else 4)
        if boxes.shape[1] < 4:
            raise ValueError(f'boxes must be (N, 4) x1 y1 x2 y2 [score], got '
                             f'shape {boxes.shape}')
        k = self.num_keypoints
        if len(boxes) == 0:
            return np.zeros((0, k, 2), np.float32), np.zeros((0, k),
                                                             np.float32)
        x, centers, scales = self.crops(image, boxes[:, :4])
        hm = self.heatmaps(x)
        kpts, scores = decode_heatmaps(
            hm, self.input_size, bool(self.codec.get('unbiased', False)),
            int(self.codec.get('blur_kernel_size', 11)),
            bool(self.codec.get('clamp_to_heatmap', False)))
        size = np.asarray(self.input_size, np.float32)
        kpts = kpts / size * scales[:, None] + centers[:, None] \
            - 0.5 * scales[:, None]
        return kpts.astype(np.float32), scores.astype(np.float32)
