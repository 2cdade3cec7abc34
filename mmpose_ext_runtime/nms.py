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
        offset: float = 0.,
        max_keep: Optional[int] = None) -> np.ndarray:
    """Greedy NMS: the best box suppresses those overlapping it by more than
    ``iou_threshold`` (mmcv's ``nms`` with ``offset=0``, MMPose's
    ``evaluation.functional.nms`` with ``offset=1``).

    Boxes are visited best first and each is compared with the boxes kept
    so far only, so ``max_keep`` ends the work early.

    Args:
        boxes (np.ndarray): (N, 4+) x1 y1 x2 y2.
        scores (np.ndarray): (N,).
        iou_threshold (float): Suppress above this IoU.
        offset (float): 0, or 1 to count pixels inclusively.
        max_keep (int, optional): Stop after keeping this many (the best
            ones: greedy NMS keeps in score order).

    Returns:
        np.ndarray: indices kept, by decreasing score.
    """
    boxes = np.asarray(boxes, np.float32)[:, :4]
    order = np.argsort(-np.asarray(scores), kind='stable')
    limit = len(order) if max_keep is None else min(max_keep, len(order))
    area = np.prod(boxes[:, 2:] - boxes[:, :2] + offset, axis=1)
    kept = np.empty((limit, 4), np.float32)
    kept_area = np.empty(limit, np.float32)
    keep = []
    for i in order:  # greedy: each decision depends on the boxes kept
        if len(keep) == limit:
            break
        n = len(keep)
        if n:
            lt = np.maximum(kept[:n, :2], boxes[i, :2])
            rb = np.minimum(kept[:n, 2:], boxes[i, 2:])
            wh = np.maximum(rb - lt + offset, 0)
            inter = wh[:, 0] * wh[:, 1]
            iou = inter / np.maximum(kept_area[:n] + area[i] - inter,
                                     np.finfo(np.float32).tiny)
            if (iou > iou_threshold).any():
                continue
        kept[n] = boxes[i]
        kept_area[n] = area[i]
        keep.append(i)
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
