# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Drawing of boxes, skeletons, keypoints and track ids with OpenCV, in the
colours of the dataset meta (RGB there, BGR here)."""
from typing import Optional

import cv2
import numpy as np

__all__ = ['draw_poses']


def _colors(meta: dict, key: str, n: int, default) -> np.ndarray:
    colors = meta.get(key)
    if colors is None or len(colors) != n:
        return np.tile(np.asarray(default, np.int64), (n, 1))
    return np.asarray(colors, np.int64)[:, ::-1]  # RGB -> BGR


def draw_poses(image: np.ndarray,
               boxes: np.ndarray,
               keypoints: np.ndarray,
               scores: np.ndarray,
               meta: dict,
               kpt_thr: float = 0.3,
               radius: int = 3,
               thickness: int = 1,
               draw_bbox: bool = True,
               track_ids: Optional[np.ndarray] = None) -> np.ndarray:
    """Draw the persons on a copy of a BGR image.

    Args:
        image (np.ndarray): BGR uint8 (H, W, 3).
        boxes (np.ndarray): (N, 4+) x1 y1 x2 y2 [score].
        keypoints (np.ndarray): (N, K, 2), image pixels.
        scores (np.ndarray): (N, K); keypoints and limbs below ``kpt_thr``
            are not drawn.
        meta (dict): ``skeleton_links``, ``keypoint_colors``,
            ``skeleton_link_colors`` (RGB).
        track_ids (np.ndarray, optional): (N,) ids written above the boxes.

    Returns:
        np.ndarray: the drawing.
    """
    out = image.copy()
    k = keypoints.shape[1] if keypoints.ndim == 3 else 0
    links = np.asarray(meta.get('skeleton_links') or [], np.int64)
    links = links.reshape(-1, 2)
    kpt_colors = _colors(meta, 'keypoint_colors', k, (0, 255, 0))
    link_colors = _colors(meta, 'skeleton_link_colors', len(links),
                          (255, 128, 0))
    pts = np.round(keypoints).astype(np.int64)
    for i in range(len(boxes)):
        x1, y1, x2, y2 = np.round(boxes[i, :4]).astype(int).tolist()
        if draw_bbox:
            cv2.rectangle(out, (x1, y1), (x2, y2), (0, 255, 0), thickness)
        if track_ids is not None:
            cv2.putText(out, f'id {int(track_ids[i])}', (x1, max(y1 - 4, 10)),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 255, 255), 1,
                        cv2.LINE_AA)
        ok = scores[i] > kpt_thr
        for j, (a, b) in enumerate(links.tolist()):
            if ok[a] and ok[b]:
                cv2.line(out, tuple(pts[i, a].tolist()),
                         tuple(pts[i, b].tolist()),
                         tuple(link_colors[j].tolist()), thickness,
                         cv2.LINE_AA)
        for j in np.flatnonzero(ok):
            cv2.circle(out, tuple(pts[i, j].tolist()), radius,
                       tuple(kpt_colors[j].tolist()), -1, cv2.LINE_AA)
    return out
