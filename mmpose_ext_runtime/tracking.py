# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Person tracking across video frames.

:class:`PoseTracker` gives track ids as MMPose's demo (``_track_by_iou`` /
``_track_by_oks``) does: a person takes the id of the previous frame's
person it overlaps most (box IoU, or keypoint similarity OKS) above a
threshold, else a new id; matching is greedy over all pairs, best first,
and a track missed for up to ``max_age`` frames can still be matched.

:class:`TrackingPipeline` runs the detector every ``det_interval`` frames
only, as rtmlib's ``PoseTracker`` does: between detections each track's box
is the box of its last keypoints (enlarged 1.25x) when the pose is sure,
else its last box moved with its keypoints, so the pose network follows the
person and the track keeps its id without matching.
"""
import itertools
from typing import Callable, NamedTuple, Optional, Tuple

import numpy as np

from .nms import box_iou
from .smoothing import TrackSmoother

__all__ = [
    'PoseTracker', 'TrackingPipeline', 'FramePoses', 'boxes_from_keypoints',
    'oks_matrix'
]

COCO_SIGMAS = np.array([
    .26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87,
    .87, .89, .89
]) / 10.0


def oks_matrix(kpts_a: np.ndarray,
               kpts_b: np.ndarray,
               areas_b: np.ndarray,
               sigmas: np.ndarray,
               scores_a: Optional[np.ndarray] = None,
               scores_b: Optional[np.ndarray] = None,
               vis_thr: float = 0.) -> np.ndarray:
    """Object keypoint similarity (N, M) of poses ``kpts_a`` (N, K, 2)
    against ``kpts_b`` (M, K, 2) of areas ``areas_b`` (M,), over keypoints
    scoring above ``vis_thr`` in both (MMPose's ``oks_iou``, the area
    taken from ``b``)."""
    var = (2 * np.asarray(sigmas, np.float64))**2
    d2 = ((kpts_a[:, None] - kpts_b[None])**2).sum(-1)  # (N, M, K)
    e = d2 / var / (np.asarray(areas_b, np.float64)[None, :, None] +
                    np.spacing(1)) / 2
    valid = np.ones(d2.shape, bool)
    if scores_a is not None and scores_b is not None:
        valid = (scores_a[:, None] > vis_thr) & (scores_b[None] > vis_thr)
    n = valid.sum(-1)
    return np.where(n > 0, (np.exp(-e) * valid).sum(-1) / np.maximum(n, 1), 0.)


def boxes_from_keypoints(
        keypoints: np.ndarray,
        scores: np.ndarray,
        fallback: np.ndarray,
        img_shape: Tuple[int, int],
        kpt_thr: float = 0.3,
        expansion: float = 1.25,
        min_keypoints: Optional[int] = None,
        prev_keypoints: Optional[np.ndarray] = None,
        prev_scores: Optional[np.ndarray] = None) -> np.ndarray:
    """The boxes (N, 4) of the tracks in the next frame.

    Where at least ``min_keypoints`` (default: half) of a person's
    keypoints score above ``kpt_thr`` and their extent, enlarged
    ``expansion`` times about its centre (rtmlib's ``pose_to_bbox``), is
    0.5 to 2 times as wide and high as the last box: that box. Elsewhere
    (an unsure pose, whose extent could shrink the box): the
    ``fallback`` box (N, 4), shifted by the mean motion of the keypoints
    confident in this and the previous frame (``prev_keypoints``,
    ``prev_scores``, (N, K, 2) and (N, K); NaN rows: unknown). Clipped to
    the image.
    """
    n, k = scores.shape[:2]
    need = max(2, k // 2) if min_keypoints is None else min_keypoints
    ok = scores > kpt_thr
    big = np.float32(1e9)
    x = keypoints[..., 0]
    y = keypoints[..., 1]
    x1 = np.where(ok, x, big).min(1)
    y1 = np.where(ok, y, big).min(1)
    x2 = np.where(ok, x, -big).max(1)
    y2 = np.where(ok, y, -big).max(1)
    c = np.stack([(x1 + x2) / 2, (y1 + y2) / 2], -1)
    half = np.stack([(x2 - x1), (y2 - y1)], -1) * expansion / 2
    from_kpts = np.concatenate([c - half, c + half], -1)
    boxes = np.asarray(fallback, np.float32)[:, :4].copy()
    if prev_keypoints is not None and prev_scores is not None:
        both = ok & (prev_scores > kpt_thr)  # NaN scores compare False
        moved = np.where(both[..., None], keypoints - prev_keypoints, 0)
        shift = moved.sum(1) / np.maximum(both.sum(1), 1)[:, None]
        boxes += np.tile(shift, 2)
    # sure: enough confident keypoints, and a box of about the last one's
    # size (a pose collapsed onto part of the person would shrink it)
    size = from_kpts[:, 2:] - from_kpts[:, :2]
    last = boxes[:, 2:] - boxes[:, :2]
    ratio = size / np.maximum(last, 1)
    sure = (ok.sum(1) >= need) & (size >= 1).all(1) & ((ratio >= 0.5) &
                                                       (ratio <= 2)).all(1)
    boxes = np.where(sure[:, None], from_kpts, boxes)
    h, w = img_shape[:2]
    boxes[:, 0::2] = boxes[:, 0::2].clip(0, w)
    boxes[:, 1::2] = boxes[:, 1::2].clip(0, h)
    return boxes.astype(np.float32)


class PoseTracker:
    """Track ids for the persons of consecutive frames.

    Args:
        method (str): ``'iou'`` (box IoU) or ``'oks'`` (keypoint
            similarity). Defaults to ``'iou'``.
        thr (float): Smallest similarity that continues a track. Defaults
            to 0.3 (MMPose's demo).
        max_age (int): Frames a track may be missed and still be matched.
            Defaults to 10.
        sigmas (np.ndarray, optional): OKS sigmas per keypoint (COCO's for
            17 keypoints; 0.05 otherwise).
        kpt_thr (float): OKS counts keypoints above this score.
    """

    def __init__(self,
                 method: str = 'iou',
                 thr: float = 0.3,
                 max_age: int = 10,
                 sigmas: Optional[np.ndarray] = None,
                 kpt_thr: float = 0.3):
        if method not in ('iou', 'oks'):
            raise ValueError(f"tracking method must be 'iou' or 'oks', got "
                             f'{method!r}')
        self.method = method
        self.thr = float(thr)
        self.max_age = int(max_age)
        self.sigmas = sigmas
        self.kpt_thr = kpt_thr
        self._ids = itertools.count()
        self.tracks: dict = {}  # id -> (box, keypoints, scores, last frame)

    def _similarity(self, boxes, kpts, scores, prev) -> np.ndarray:
        pb = np.stack([p[0] for p in prev])
        if self.method == 'iou' or kpts is None:
            return box_iou(boxes, pb)
        k = kpts.shape[1]
        sigmas = self.sigmas if self.sigmas is not None else (
            COCO_SIGMAS if k == 17 else np.full(k, 0.05))
        areas = (pb[:, 2] - pb[:, 0]) * (pb[:, 3] - pb[:, 1])
        return oks_matrix(kpts, np.stack([p[1] for p in prev]), areas, sigmas,
                          scores, np.stack([p[2] for p in prev]), self.kpt_thr)

    def update(self,
               boxes: np.ndarray,
               frame: int,
               keypoints: Optional[np.ndarray] = None,
               scores: Optional[np.ndarray] = None,
               ids: Optional[np.ndarray] = None) -> np.ndarray:
        """Ids (N,) of the persons ``boxes`` (N, 4+) of ``frame``.

        ``ids`` assigns them directly (boxes that came from known tracks);
        otherwise they are matched to the live tracks.
        """
        boxes = np.asarray(boxes, np.float32)
        boxes = boxes.reshape(-1, boxes.shape[-1] if boxes.size else 4)
        n = len(boxes)
        if ids is None:
            ids = np.full(n, -1, np.int64)
            live = [(tid, t) for tid, t in self.tracks.items()]
            if n and live:
                sim = self._similarity(boxes[:, :4], keypoints, scores,
                                       [t for _, t in live])
                used_a, used_b = set(), set()
                for flat in np.argsort(-sim, axis=None, kind='stable'):
                    i, j = divmod(int(flat), len(live))
                    if sim[i, j] <= self.thr:
                        break
                    if i in used_a or j in used_b:
                        continue
                    ids[i] = live[j][0]
                    used_a.add(i)
                    used_b.add(j)
            for i in np.flatnonzero(ids < 0):
                ids[i] = next(self._ids)
        ids = np.asarray(ids, np.int64)
        for i, tid in enumerate(ids.tolist()):
            self.tracks[tid] = (boxes[i, :4],
                                None if keypoints is None else keypoints[i],
                                None if scores is None else scores[i], frame)
        self.tracks = {
            tid: t
            for tid, t in self.tracks.items() if frame - t[3] <= self.max_age
        }
        return ids


class FramePoses(NamedTuple):
    """The persons of one frame.

    boxes (N, 5) x1 y1 x2 y2 score; keypoints (N, K, 2) (smoothed when the
    pipeline smooths) and ``raw_keypoints`` (not smoothed); keypoint_scores
    (N, K); track_ids (N,); detected: the detector ran on this frame;
    extra: what the pose callable returned beyond keypoints and scores.
    """
    boxes: np.ndarray
    keypoints: np.ndarray
    keypoint_scores: np.ndarray
    track_ids: np.ndarray
    detected: bool
    raw_keypoints: np.ndarray
    extra: object = None


class TrackingPipeline:
    """Detector every ``det_interval`` frames, pose every frame, ids, and
    optional One-Euro smoothing.

    Args:
        detect (Callable): ``detect(frame, index) -> (N, 5)`` person boxes,
            already filtered (score, NMS).
        estimate (Callable): ``estimate(frame, boxes (N, 5)) ->
            (keypoints (N, K, 2), scores (N, K)[, extra])``.
        det_interval (int): Run the detector on every n-th frame (1: every
            frame). Defaults to 1.
        tracker (PoseTracker, optional): Default: ``PoseTracker()``.
        smoother (TrackSmoother, optional): One-Euro smoothing per track;
            None: no smoothing.
        kpt_thr (float): Keypoints above this score make the box of a track
            between detections. Defaults to 0.3.
    """

    def __init__(self,
                 detect: Callable,
                 estimate: Callable,
                 det_interval: int = 1,
                 tracker: Optional[PoseTracker] = None,
                 smoother: Optional[TrackSmoother] = None,
                 kpt_thr: float = 0.3):
        if int(det_interval) < 1:
            raise ValueError(f'det_interval must be >= 1, got {det_interval}')
        self.detect = detect
        self.estimate = estimate
        self.det_interval = int(det_interval)
        self.tracker = tracker or PoseTracker()
        self.smoother = smoother
        self.kpt_thr = kpt_thr
        self._last: Optional[FramePoses] = None
        self._before: Optional[FramePoses] = None
        self._since_det = 0

    def __call__(self, frame: np.ndarray, index: int) -> FramePoses:
        """The persons of ``frame`` (number ``index`` in the video)."""
        last = self._last
        detect = (
            last is None or len(last.boxes) == 0
            or self._since_det + 1 >= self.det_interval)
        ids = None
        if detect:
            boxes = np.asarray(self.detect(frame, index),
                               np.float32).reshape(-1, 5)
            self._since_det = 0
        else:
            self._since_det += 1
            prev_k, prev_s = self._previous_of(last.track_ids)
            xyxy = boxes_from_keypoints(
                last.raw_keypoints,
                last.keypoint_scores,
                last.boxes[:, :4],
                frame.shape,
                self.kpt_thr,
                prev_keypoints=prev_k,
                prev_scores=prev_s)
            boxes = np.concatenate([xyxy, last.boxes[:, 4:5]], 1)
            ids = last.track_ids
        out = self.estimate(frame, boxes)
        kpts, scores = out[0], out[1]
        extra = out[2] if len(out) > 2 else None
        ids = self.tracker.update(boxes, index, kpts, scores, ids)
        smoothed = kpts
        if self.smoother is not None and len(boxes):
            smoothed = self.smoother(kpts, ids, index)
        self._before = last
        self._last = FramePoses(boxes, smoothed, scores, ids, detect, kpts,
                                extra)
        return self._last

    def _previous_of(self, ids: np.ndarray):
        """Raw keypoints and scores of ``ids`` in the frame before the
        last (NaN where a track was not there)."""
        last, before = self._last, self._before
        kpts = np.full(last.raw_keypoints.shape, np.nan, np.float32)
        scores = np.full(last.keypoint_scores.shape, np.nan, np.float32)
        if before is not None and len(before.track_ids):
            where = {t: i for i, t in enumerate(before.track_ids.tolist())}
            for i, t in enumerate(ids.tolist()):
                if t in where:
                    kpts[i] = before.raw_keypoints[where[t]]
                    scores[i] = before.keypoint_scores[where[t]]
        return kpts, scores
