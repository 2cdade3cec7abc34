# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Box IoU and greedy NMS in numpy."""
from typing import Optional

import numpy as np

__all__ = ['box_iou', 'nms', 'filter_persons']


def box_iou(a: np.ndarray, b: np.ndarray, offset: float = 0.) -> np.ndarray:
    """IoU matrix (N, M) of boxes ``a`` (N, 4+) and ``b`` (M, 4+), x1 y1
    x2 y2; ``offset=1`` counts pixels inclusively (MMPose's NMS)."""
    a = np.asarray(a, np.float32)[:, None, :4]
    b = np.asarray(b, np.float32)[None, :, :4]
    lt = np.maximum(a[..., :2], b[..., :2])
    rb = np.minimum(a[..., 2:], b[..., 2:])
    inter = np.prod(np.maximum(rb - lt + offset, 0), axis=-1)
    area_a = np.prod(a[..., 2:] - a[..., :2] + offset, axis=-1)
    area_b = np.prod(b[..., 2:] - b[..., :2] + offset, axis=-1)
    union = area_a + area_b - inter
    return inter / np.maximum(union, np.finfo(np.float32).tiny)


def nms(boxes: np.ndarray,
        scores: np.ndarray,
        iou_threshold: float,
        offset: float = 0.) -> np.ndarray:
    """Greedy NMS: the best box suppresses those overlapping it by more than
    ``iou_threshold`` (mmcv's ``nms`` with ``offset=0``, MMPose's
    ``evaluation.functional.nms`` with ``offset=1``).

    Returns:
        np.ndarray: indices kept, by decreasing score.
    """
    boxes = np.asarray(boxes, np.float32)
    order = np.argsort(-np.asarray(scores), kind='stable')
    keep = []
    while len(order):  # greedy: each step depends on the boxes kept
        i = order[0]
        keep.append(i)
        iou = box_iou(boxes[i:i + 1], boxes[order[1:]], offset)[0]
        order = order[1:][iou <= iou_threshold]
    return np.asarray(keep, np.int64)


def filter_persons(boxes: np.ndarray,
                   bbox_thr: float = 0.3,
                   nms_thr: Optional[float] = 0.3,
                   max_persons: Optional[int] = None) -> np.ndarray:
    """Score threshold, NMS and top-k of person boxes (N, 5), as
    ``mmpose_ext.apis.filter_detections`` (MMPose's demo)."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 5)
    boxes = boxes[boxes[:, 4] > bbox_thr]
    if len(boxes) and nms_thr is not None:
        boxes = boxes[np.sort(nms(boxes, boxes[:, 4], nms_thr, offset=1.))]
    boxes = boxes[np.argsort(-boxes[:, 4], kind='stable')]
    if max_persons is not None:
        boxes = boxes[:max_persons]
    return boxes
