# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Detector + top-down pose on images and videos, torch-free."""
import json
import os
import os.path as osp
from dataclasses import dataclass
from typing import List, Optional, Sequence, Union

import cv2
import numpy as np

from .detector import PersonDetector
from .draw import draw_poses
from .nms import filter_persons
from .pose import PoseEstimator
from .smoothing import TrackSmoother
from .tracking import PoseTracker, TrackingPipeline
from .video import FrameSource, Progress, VideoSourceError

__all__ = ['Poses', 'TopdownRuntime', 'coco_results', 'read_image']


def read_image(path: str) -> np.ndarray:
    """A BGR uint8 image; ``ValueError`` naming the file if unreadable."""
    if not osp.isfile(path):
        raise ValueError(f'image "{path}" does not exist')
    buf = np.fromfile(path, np.uint8)
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR) if buf.size else None
    if img is None:
        raise ValueError(f'cannot read image "{path}": the file is empty, '
                         'truncated or not an image format OpenCV can decode')
    return img


def coco_results(image_id: int,
                 keypoints: np.ndarray,
                 keypoint_scores: np.ndarray,
                 bbox_scores: np.ndarray,
                 track_ids: Optional[np.ndarray] = None,
                 kpt_score_thr: float = 0.2) -> List[dict]:
    """COCO keypoint results (``mmpose_ext.apis.keypoint_results``'s
    format and score), with ``track_id`` when given."""
    valid = keypoint_scores > kpt_score_thr
    mean = np.where(
        valid.any(1),
        (keypoint_scores * valid).sum(1) / np.maximum(valid.sum(1), 1), 0.)
    out = []
    for i in range(len(keypoints)):
        flat = np.concatenate([keypoints[i], keypoint_scores[i][:, None]],
                              1).reshape(-1)
        res = dict(
            image_id=int(image_id),
            category_id=1,
            keypoints=[round(float(v), 3) for v in flat],
            score=round(float(bbox_scores[i]) * float(mean[i]), 6))
        if track_ids is not None:
            res['track_id'] = int(track_ids[i])
        out.append(res)
    return out


@dataclass
class Poses:
    """The persons of one image: boxes (N, 4), bbox_scores (N,), keypoints
    (N, K, 2) and keypoint_scores (N, K) in image pixels, track_ids (N,)
    for videos."""
    bboxes: np.ndarray
    bbox_scores: np.ndarray
    keypoints: np.ndarray
    keypoint_scores: np.ndarray
    track_ids: Optional[np.ndarray] = None

    def __len__(self) -> int:
        return len(self.bboxes)

    def to_coco(self, image_id: int) -> List[dict]:
        return coco_results(image_id, self.keypoints, self.keypoint_scores,
                            self.bbox_scores, self.track_ids)


class TopdownRuntime:
    """Person detector + top-down pose model from exported files.

    Args:
        pose (str | PoseEstimator): The pose JSON (or model file beside it).
        detector (str | PersonDetector, optional): The detector JSON;
            without it, the given boxes or the whole image are the persons.
        backend (str): ``'auto'``, ``'onnxruntime'`` or ``'openvino'``.
        num_threads (int, optional): Engine threads per network.
        bbox_thr (float): Keep detections scoring above this. Defaults to
            0.3.
        nms_thr (float, optional): Person box NMS IoU (None: off). Defaults
            to 0.3.
        max_persons (int, optional): Keep the best N boxes.
        person_labels (int | Sequence[int]): Detector labels of persons.
        precision (str, optional): OpenVINO precision (``'f32'`` default,
            ``'bf16'``: faster where the CPU has it, keypoints move) of
            both networks.
        bf16_fallback (str): ``'error'`` (bf16 on a CPU without it
            raises) or ``'f32'`` (warn, run f32).

    Example:
        >>> rt = TopdownRuntime('sg_hrnet.json', 'rtmdet.json')
        >>> poses = rt(cv2.imread('photo.jpg'))
        >>> poses.keypoints.shape          # (N, K, 2)
    """

    def __init__(self,
                 pose: Union[str, PoseEstimator],
                 detector: Union[str, PersonDetector, None] = None,
                 backend: str = 'auto',
                 num_threads: Optional[int] = None,
                 bbox_thr: float = 0.3,
                 nms_thr: Optional[float] = 0.3,
                 max_persons: Optional[int] = None,
                 person_labels: Union[int, Sequence[int]] = 0,
                 precision: Optional[str] = None,
                 bf16_fallback: str = 'error'):
        self.pose = pose if isinstance(pose, PoseEstimator) else \
            PoseEstimator(pose, backend=backend, num_threads=num_threads,
                          precision=precision, bf16_fallback=bf16_fallback)
        if detector is None or isinstance(detector, PersonDetector):
            self.detector = detector
        else:
            self.detector = PersonDetector(
                detector,
                backend=backend,
                num_threads=num_threads,
                precision=precision,
                person_labels=person_labels,
                bf16_fallback=bf16_fallback)
        self.bbox_thr = bbox_thr
        self.nms_thr = nms_thr
        self.max_persons = max_persons

    @property
    def meta(self) -> dict:
        return self.pose.meta

    def detect(self, image: np.ndarray) -> np.ndarray:
        """Person boxes (N, 5) after the score, NMS and top-k filters; the
        whole image without a detector."""
        if self.detector is None:
            h, w = image.shape[:2]
            return np.array([[0, 0, w, h, 1]], np.float32)
        return filter_persons(
            self.detector.persons(image), self.bbox_thr, self.nms_thr,
            self.max_persons)

    def estimate(self, image: np.ndarray, boxes: np.ndarray):
        """(keypoints, scores) of ``boxes`` (N, 4+)."""
        return self.pose(image, boxes)

    def __call__(self,
                 image: Union[str, np.ndarray],
                 boxes: Optional[np.ndarray] = None) -> Poses:
        """Detect (unless ``boxes`` (N, 4) or (N, 5) are given) and
        estimate the poses of an image (path or BGR array)."""
        if isinstance(image, str):
            image = read_image(image)
        if boxes is None:
            boxes = self.detect(image)
        boxes = np.asarray(boxes, np.float32)
        if boxes.ndim == 1:
            boxes = boxes[None]
        if boxes.shape[-1] == 4:
            boxes = np.concatenate([boxes, np.ones((len(boxes), 1))], 1)
        kpts, scores = self.pose(image, boxes[:, :4])
        return Poses(boxes[:, :4].astype(np.float32),
                     boxes[:, 4].astype(np.float32), kpts, scores)

    def draw(self, image: np.ndarray, poses: Poses, **kwargs) -> np.ndarray:
        """:func:`~mmpose_ext_runtime.draw.draw_poses` in the dataset's
        colours."""
        return draw_poses(
            image,
            poses.bboxes,
            poses.keypoints,
            poses.keypoint_scores,
            self.meta,
            track_ids=poses.track_ids,
            **kwargs)

    def tracking(self,
                 det_interval: int = 1,
                 track_method: str = 'iou',
                 track_thr: float = 0.3,
                 smooth: bool = False,
                 min_cutoff: float = 0.05,
                 beta: float = 0.05) -> TrackingPipeline:
        """A :class:`TrackingPipeline` of this detector and pose model."""
        sigmas = self.meta.get('sigmas')
        tracker = PoseTracker(
            track_method,
            track_thr,
            sigmas=None if not sigmas else np.asarray(sigmas))
        smoother = TrackSmoother(
            min_cutoff=min_cutoff, beta=beta) if smooth else None
        return TrackingPipeline(lambda frame, index: self.detect(frame),
                                self.estimate, det_interval, tracker, smoother)

    def run_video(self,
                  source: Union[str, int],
                  out_dir: Optional[str] = None,
                  det_interval: int = 1,
                  smooth: bool = False,
                  track_method: str = 'iou',
                  timeout: float = 10.,
                  max_frames: Optional[int] = None,
                  show_progress: bool = True,
                  draw_kwargs: Optional[dict] = None) -> dict:
        """Track the persons of a video file, camera or stream.

        Writes ``<name>.mp4`` (drawn) and ``predictions.json`` (COCO results
        with ``track_id``, ``image_id`` = frame index) into ``out_dir`` when
        given.

        Returns:
            dict: ``frames``, ``bad_frames``, ``fps`` (processing),
            ``predictions`` (list), ``video`` (the file written or None),
            ``error``: why a live source stopped early (a stall), or None.

        Raises:
            VideoSourceError: the source cannot be opened.
        """
        src = FrameSource(source, timeout=timeout)
        pipeline = self.tracking(det_interval, track_method, smooth=smooth)
        writer, video_file = None, None
        if out_dir is not None:
            os.makedirs(out_dir, exist_ok=True)
            stem = f'camera{source}' if src.kind == 'camera' else \
                osp.splitext(osp.basename(str(source).rstrip('/')))[0]
            video_file = osp.join(out_dir, (stem or 'stream') + '.mp4')
        bar = Progress(src.frame_count) if show_progress else None
        predictions = []
        index = -1
        error = None
        try:
            for index, frame in enumerate(src):
                if max_frames is not None and index >= max_frames:
                    index -= 1
                    break
                fp = pipeline(frame, index)
                poses = Poses(fp.boxes[:, :4], fp.boxes[:, 4], fp.keypoints,
                              fp.keypoint_scores, fp.track_ids)
                predictions += poses.to_coco(index)
                if video_file is not None:
                    if writer is None:
                        writer = cv2.VideoWriter(
                            video_file, cv2.VideoWriter_fourcc(*'mp4v'),
                            src.fps, src.size)
                        if not writer.isOpened():
                            raise OSError(f'cannot write "{video_file}"')
                    writer.write(
                        self.draw(frame, poses, **(draw_kwargs or {})))
                if bar is not None:
                    bar.update(extra=f', {src.bad_frames} bad frames')
        except VideoSourceError as e:  # e.g. a stalled stream: keep results
            error = str(e)
        finally:
            src.close()
            if writer is not None:
                writer.release()
        fps = bar.fps if bar is not None else 0.
        if bar is not None:
            bar.close(extra=f', {src.bad_frames} bad frames')
        if out_dir is not None:
            with open(osp.join(out_dir, 'predictions.json'), 'w') as f:
                json.dump(predictions, f)
        return dict(
            frames=index + 1,
            bad_frames=src.bad_frames,
            fps=fps,
            predictions=predictions,
            video=video_file if writer is not None else None,
            error=error)
