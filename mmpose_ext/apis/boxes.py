# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Person boxes of top-down inference: user boxes checked, detections
filtered as MMPose's demo filters them."""
from typing import Optional, Sequence, Union

import numpy as np
from mmpose.evaluation.functional import nms

__all__ = ['check_bboxes', 'filter_detections']


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
    bboxes = np.asarray(bboxes, dtype=np.float32).reshape(-1, 5)
    bboxes = bboxes[bboxes[:, 4] > bbox_thr]
    if len(bboxes) and nms_thr is not None:
        bboxes = bboxes[np.asarray(nms(bboxes, nms_thr), dtype=np.int64)]
    bboxes = bboxes[np.argsort(-bboxes[:, 4], kind='stable')]
    if max_persons is not None:
        bboxes = bboxes[:max_persons]
    return bboxes
