# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Person detection with an exported RTMDet network; its box decoding and
NMS in numpy.

The network (``tools/export_detector_onnx.py``) maps the preprocessed image
to the head's raw outputs of all levels, flattened and concatenated:
class logits (B, N, C) and box distances (B, N, 4) (left, top, right,
bottom, input pixels). What MMDet does after it (``BaseDenseHead.
predict_by_feat`` with RTMDet's ``MlvlPointGenerator`` and
``DistancePointBBoxCoder``) is here: per level, scores above ``score_thr``,
the ``nms_pre`` best; boxes = prior point -/+ distances, clipped to the
input; back to image pixels; class-aware NMS; the ``max_per_img`` best.
"""
from typing import Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from .backends import InferenceSession
from .nms import nms
from .spec import SpecError, load_spec, resolve_model_file

__all__ = ['PersonDetector']


class PersonDetector:
    """An exported RTMDet detector and its JSON.

    Args:
        spec_file (str): The JSON (or the model file beside it).
        model_file (str, optional): Default: the JSON's ``model``.
        backend (str): ``'auto'``, ``'onnxruntime'`` or ``'openvino'``.
        num_threads (int, optional): Engine threads.
        precision (str, optional): OpenVINO precision hint.
        bf16_fallback (str): ``'error'`` (bf16 on a CPU without it
            raises) or ``'f32'`` (warn, run f32).
        person_labels (int | Sequence[int]): Labels that are persons.
            Defaults to 0.
    """

    def __init__(self,
                 spec_file: str,
                 model_file: Optional[str] = None,
                 backend: str = 'auto',
                 num_threads: Optional[int] = None,
                 precision: Optional[str] = None,
                 person_labels: Union[int, Sequence[int]] = 0,
                 bf16_fallback: str = 'error'):
        spec = load_spec(spec_file, 'person_detection')
        where = spec['_path']
        if spec['architecture'] != 'RTMDet':
            raise SpecError(f'"{where}": architecture '
                            f'{spec["architecture"]!r} is not implemented '
                            '(RTMDet)')
        self.spec = spec
        pre, head, test = spec['preprocess'], spec['head'], spec['test']
        self.scale = tuple(int(v) for v in pre['scale'])  # (w, h)
        self.keep_ratio = bool(pre.get('keep_ratio', True))
        self.pad_divisor = pre.get('pad_size_divisor')
        self.pad_size = pre.get('pad_size')
        self.pad_value = np.broadcast_to(
            np.asarray(pre.get('pad_value', 0), np.uint8), (3, ))
        self.mean = np.asarray(pre['mean'], np.float32)
        self.std = np.asarray(pre['std'], np.float32)
        self.bgr_to_rgb = bool(pre.get('bgr_to_rgb', False))
        self.batch_divisor = int(pre.get('batch_pad_size_divisor', 1) or 1)
        self.batch_pad_value = float(pre.get('batch_pad_value', 0))
        self.strides = [int(s) for s in head['strides']]
        self.offset = float(head.get('offset', 0.))
        self.num_classes = int(head['num_classes'])
        self.classes = head.get('classes')
        self.score_thr = float(test.get('score_thr', 0.))
        self.nms_pre = int(test.get('nms_pre', -1))
        self.iou_threshold = float(test['iou_threshold'])
        self.max_per_img = int(test.get('max_per_img', 100))
        self.min_bbox_size = float(test.get('min_bbox_size', -1))
        self.person_labels = np.atleast_1d(np.asarray(person_labels, int))
        if (self.person_labels >= self.num_classes).any():
            raise ValueError(f'person label(s) {self.person_labels.tolist()} '
                             f'out of range: the detector has '
                             f'{self.num_classes} classes {self.classes}')
        self.session = InferenceSession(
            resolve_model_file(spec, model_file), backend, num_threads,
            precision, bf16_fallback)
        if len(self.session.output_names) != 2:
            raise ValueError(
                f'"{self.session.model_file}" has outputs '
                f'{self.session.output_names}; the runtime expects class '
                f'logits and box distances ("{where}" and the model file do '
                'not belong together: export them together)')

    # ---------------------------------------------------------- input
    def preprocess(
            self, image: np.ndarray) -> Tuple[np.ndarray, Tuple[float, float]]:
        """The network input (1, 3, H, W) and the (w, h) resize factors."""
        h, w = image.shape[:2]
        if self.keep_ratio:  # mmcv.imrescale
            long_edge, short_edge = max(self.scale), min(self.scale)
            s = min(long_edge / max(h, w), short_edge / min(h, w))
            size = (int(w * s + 0.5), int(h * s + 0.5))
        else:
            size = self.scale
        img = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
        factors = (size[0] / w, size[1] / h)
        ph, pw = img.shape[:2]
        if self.pad_size is not None:
            pw, ph = (int(v) for v in self.pad_size)
        elif self.pad_divisor:
            d = int(self.pad_divisor)
            ph, pw = -(-ph // d) * d, -(-pw // d) * d
        if (ph, pw) != img.shape[:2]:
            padded = np.empty((ph, pw, 3), np.uint8)
            padded[:] = self.pad_value
            padded[:img.shape[0], :img.shape[1]] = img
            img = padded
        x = img.astype(np.float32)
        if self.bgr_to_rgb:
            x = x[..., ::-1]
        x = ((x - self.mean) / self.std).transpose(2, 0, 1)
        d = self.batch_divisor
        bh, bw = -(-ph // d) * d, -(-pw // d) * d
        if (bh, bw) != (ph, pw):
            full = np.full((3, bh, bw), self.batch_pad_value, np.float32)
            full[:, :ph, :pw] = x
            x = full
        return np.ascontiguousarray(x[None], np.float32), factors

    def priors(self, input_hw: Sequence[int]) -> Tuple[np.ndarray, list]:
        """Prior points (N, 2) of every level (row-major, as
        ``MlvlPointGenerator``) and the number per level."""
        points, counts = [], []
        for s in self.strides:
            fh, fw = -(-int(input_hw[0]) // s), -(-int(input_hw[1]) // s)
            xs = (np.arange(fw, dtype=np.float32) + self.offset) * s
            ys = (np.arange(fh, dtype=np.float32) + self.offset) * s
            xx, yy = np.meshgrid(xs, ys)
            points.append(np.stack([xx.ravel(), yy.ravel()], -1))
            counts.append(fh * fw)
        return np.concatenate(points), counts

    # ---------------------------------------------------------- detect
    def __call__(self, image: np.ndarray) -> np.ndarray:
        """All detections of a BGR image after NMS (MMDet's output).

        Returns:
            np.ndarray: (M, 6) x1 y1 x2 y2 score label, image pixels, by
            decreasing score.
        """
        x, (fx, fy) = self.preprocess(image)
        logits, dist = self.session(x)
        logits, dist = logits[0], dist[0]
        points, counts = self.priors(x.shape[-2:])
        if sum(counts) != len(logits):
            raise ValueError(
                f'"{self.session.model_file}" gave {len(logits)} '
                f'predictions for a {x.shape[-2]}x{x.shape[-1]} input, the '
                f'strides {self.strides} give {sum(counts)}: the model and '
                f'"{self.spec["_path"]}" do not belong together')
        scores = 1. / (1. + np.exp(-logits.astype(np.float32)))
        keep_s, keep_l, keep_i = [], [], []
        start = 0
        for n in counts:  # per level: above score_thr, nms_pre best
            lvl = scores[start:start + n]
            idx, lab = np.nonzero(lvl > self.score_thr)
            val = lvl[idx, lab]
            order = np.argsort(-val, kind='stable')
            if self.nms_pre > 0:
                order = order[:self.nms_pre]
            keep_s.append(val[order])
            keep_l.append(lab[order])
            keep_i.append(idx[order] + start)
            start += n
        sc = np.concatenate(keep_s)
        labels = np.concatenate(keep_l)
        idx = np.concatenate(keep_i)
        pts, d = points[idx], dist[idx]
        h, w = x.shape[-2:]
        boxes = np.concatenate([pts - d[:, :2], pts + d[:, 2:]], axis=1)
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, w)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, h)
        boxes /= np.array([fx, fy, fx, fy], np.float32)
        if self.min_bbox_size >= 0:
            ok = ((boxes[:, 2] - boxes[:, 0] > self.min_bbox_size) &
                  (boxes[:, 3] - boxes[:, 1] > self.min_bbox_size))
            boxes, sc, labels = boxes[ok], sc[ok], labels[ok]
        if len(boxes):
            # class-aware NMS: classes moved apart (mmcv's batched_nms)
            shift = labels[:, None] * (boxes.max() + 1)
            keep = nms(
                boxes + shift,
                sc,
                self.iou_threshold,
                max_keep=self.max_per_img)
            boxes, sc, labels = boxes[keep], sc[keep], labels[keep]
        return np.concatenate(
            [boxes, sc[:, None], labels[:, None].astype(np.float32)],
            axis=1).astype(np.float32)

    def persons(self, image: np.ndarray) -> np.ndarray:
        """Person boxes (M, 5) x1 y1 x2 y2 score, clipped to the image,
        at least a pixel wide and high (as ``TopdownInferencer.detect``
        before its score filter)."""
        det = self(image)
        det = det[np.isin(det[:, 5].astype(int), self.person_labels), :5]
        h, w = image.shape[:2]
        det[:, 0:4:2] = det[:, 0:4:2].clip(0, w)
        det[:, 1:4:2] = det[:, 1:4:2].clip(0, h)
        return det[(det[:, 2] - det[:, 0] >= 1) & (det[:, 3] - det[:, 1] >= 1)]
