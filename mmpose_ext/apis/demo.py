# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""The top-down demo's parts: drawing, boxes from a detection file, and the
image and video loops of ``tools/topdown_demo.py``."""
import os
import os.path as osp
import sys
import time
import warnings
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from mmengine.utils import ProgressBar
from mmpose.registry import VISUALIZERS

from mmpose_ext_runtime import (FrameSource, PoseTracker, Progress,
                                TrackingPipeline, TrackSmoother,
                                VideoSourceError, coco_results)
from .boxes import filter_detections
from .coco_io import load_bbox_file
from .media import read_image

__all__ = [
    'Visualiser', 'BoxSource', 'run_images', 'run_video', 'draw_track_ids'
]


class Visualiser:
    """MMPose's ``PoseLocalVisualizer`` from the pose config, one image at a
    time (BGR in, BGR out).

    Args:
        pose_model (nn.Module): The pose model (its config and meta).
        radius (int): Keypoint radius in pixels. Defaults to 3.
        thickness (int): Limb line width in pixels. Defaults to 1.
        kpt_thr (float): Keypoints below this score are not drawn.
            Defaults to 0.3.
        draw_bbox (bool): Draw the person boxes. Defaults to True.
    """

    def __init__(self,
                 pose_model,
                 radius: int = 3,
                 thickness: int = 1,
                 kpt_thr: float = 0.3,
                 draw_bbox: bool = True):
        cfg = pose_model.cfg.visualizer.copy()
        cfg.update(
            name=f'topdown_demo_{os.getpid()}_{time.time_ns()}',
            radius=radius,
            line_width=thickness,
            vis_backends=None,
            save_dir=None)
        self.vis = VISUALIZERS.build(cfg)
        self.vis.set_dataset_meta(pose_model.dataset_meta)
        self.kpt_thr = kpt_thr
        self.draw_bbox = draw_bbox

    def __call__(self, image_bgr: np.ndarray, result) -> np.ndarray:
        if len(result) == 0:
            return image_bgr.copy()
        self.vis.add_datasample(
            'result',
            image_bgr[..., ::-1].copy(),
            data_sample=result.data_sample,
            draw_gt=False,
            draw_heatmap=False,
            draw_bbox=self.draw_bbox,
            show=False,
            kpt_thr=self.kpt_thr)
        return np.ascontiguousarray(self.vis.get_image()[..., ::-1])


class BoxSource:
    """Person boxes of one image from a COCO-style detection file (None
    without one: the detector or the whole image decides).

    Args:
        bbox_file (str, optional): The detection file.
        bbox_thr (float): Score threshold. Defaults to 0.3.
        nms_thr (float, optional): NMS IoU threshold; None skips NMS.
        max_persons (int, optional): Keep at most this many boxes.
    """

    def __init__(self,
                 bbox_file: Optional[str] = None,
                 bbox_thr: float = 0.3,
                 nms_thr: Optional[float] = 0.3,
                 max_persons: Optional[int] = None):
        self.bbox_file = bbox_file
        self.boxes = load_bbox_file(bbox_file) if bbox_file else None
        self.bbox_thr = bbox_thr
        self.nms_thr = nms_thr
        self.max_persons = max_persons

    def __call__(self, image_id, img_shape, name) -> Optional[np.ndarray]:
        """(N, 5) boxes of ``image_id`` inside the image, filtered; boxes
        that are empty or outside the image are skipped with a warning."""
        if self.boxes is None:
            return None
        if image_id is None:
            raise ValueError(
                f'{name}: its image id is unknown (file name not numeric), so '
                'its boxes cannot be looked up in the detection file; pass '
                'the annotation file (--ann-file)')
        boxes = self.boxes.get(image_id, np.zeros((0, 5), np.float32))
        h, w = img_shape[:2]
        inside = ((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
                  & (boxes[:, 2] > 0) & (boxes[:, 3] > 0) & (boxes[:, 0] < w) &
                  (boxes[:, 1] < h))
        for box in boxes[~inside]:
            warnings.warn(
                f'{name}: skipping box [{", ".join(f"{v:g}" for v in box[:4])}'
                f'] (x1, y1, x2, y2) of image id {image_id} from '
                f'{self.bbox_file}: it is empty or outside the image of '
                f'width {w} and height {h}')
        return filter_detections(boxes[inside], self.bbox_thr, self.nms_thr,
                                 self.max_persons)


def _progress(total):
    return ProgressBar(total, file=sys.stdout)


def run_images(paths: Sequence[str],
               out_dir: str,
               inferencer: Callable,
               visualiser: Callable,
               boxes: Callable,
               resolve_id: Callable,
               predictions: List,
               image_ids: Dict,
               failures: List[Tuple[str, str]],
               show_progress: bool = False) -> None:
    """Predict, draw and write every image of ``paths`` into ``out_dir``
    (same file names), appending the COCO results to ``predictions`` and
    the ids to ``image_ids``; an image that cannot be read or written is
    appended to ``failures`` (path, reason) and the run goes on."""
    bar = _progress(len(paths)) if show_progress else None
    for index, path in enumerate(paths):
        try:
            image = read_image(path)
            image_id = resolve_id(path)
            bboxes = boxes(image_id, image.shape, path)
            result = inferencer(image, bboxes)
            if image_id is None:
                image_id = index
            out = osp.join(out_dir, osp.basename(path))
            if not cv2.imwrite(out, visualiser(image, result)):
                raise OSError(f'cannot write "{out}"')
            predictions += result.to_coco(image_id)
            image_ids[path] = image_id
        except (ValueError, OSError) as e:
            failures.append((path, str(e)))
        if bar is not None:
            bar.update()
    if bar is not None:
        sys.stdout.write('\n')


def run_video(source: Union[str, int],
              out_dir: str,
              inferencer: Callable,
              visualiser: Callable,
              boxes: Callable,
              predictions: List,
              image_ids: Dict,
              det_interval: int = 1,
              smooth: bool = False,
              track_method: str = 'iou',
              timeout: float = 10.,
              max_frames: Optional[int] = None) -> dict:
    """Track the persons of a video file, camera or stream, draw every
    frame into ``out_dir/<name>.mp4`` (``camera<i>.mp4`` for a camera).

    The detector (or the box file, or the whole frame) gives the boxes
    every ``det_interval`` frames; between them each track's box follows
    its keypoints, and ids come from box IoU / keypoint similarity
    (:class:`mmpose_ext_runtime.TrackingPipeline`, shared with the
    torch-free runtime); ``smooth`` applies the One-Euro filter per track.
    Frames are numbered from 0; ``predictions`` get COCO results with
    ``track_id``. A frame that cannot be decoded is skipped and counted.

    Returns:
        dict: ``video`` (the file written), ``frames``, ``bad_frames``,
        ``fps`` (end to end), ``error`` (why a camera / stream stopped
        early, or None).

    Raises:
        VideoSourceError: the source cannot be opened (an ``OSError``).
    """
    src = FrameSource(source, timeout=timeout)
    name = f'camera{source}' if src.kind == 'camera' else osp.splitext(
        osp.basename(str(source).rstrip('/')))[0] or 'stream'
    out = osp.join(out_dir, name + '.mp4')
    path = str(source)

    def detect(frame, index):
        bboxes = boxes(index, frame.shape, path)
        if bboxes is not None:
            return bboxes
        if inferencer.detector is not None:
            return inferencer.detect(frame)
        h, w = frame.shape[:2]
        return np.array([[0, 0, w, h, 1]], np.float32)

    def estimate(frame, bboxes):
        result = inferencer(frame, bboxes)
        return result.keypoints, result.keypoint_scores, result

    sigmas = inferencer.dataset_meta.get('sigmas')
    pipeline = TrackingPipeline(
        detect, estimate, det_interval,
        PoseTracker(
            track_method,
            sigmas=None if sigmas is None else np.asarray(sigmas)),
        TrackSmoother() if smooth else None)
    writer = None
    bar = Progress(src.frame_count)
    frames, error = 0, None
    try:
        for frame_id, frame in enumerate(src):
            if max_frames is not None and frame_id >= max_frames:
                break
            poses = pipeline(frame, frame_id)
            result = poses.extra
            if smooth and result.data_sample is not None:
                result.data_sample.pred_instances.keypoints = \
                    poses.keypoints.copy()
            vis = draw_track_ids(
                visualiser(frame, result), poses.boxes, poses.track_ids)
            if writer is None:
                writer = cv2.VideoWriter(out, cv2.VideoWriter_fourcc(*'mp4v'),
                                         src.fps, (vis.shape[1], vis.shape[0]))
                if not writer.isOpened():
                    raise OSError(f'cannot write video "{out}" (mp4v)')
            writer.write(vis)
            predictions += coco_results(frame_id, poses.keypoints,
                                        poses.keypoint_scores,
                                        poses.boxes[:, 4], poses.track_ids)
            image_ids[f'{path}#{frame_id}'] = frame_id
            frames += 1
            bar.update(extra=f', {src.bad_frames} bad frames')
    except VideoSourceError as e:  # a stalled stream: keep what was done
        error = str(e)
    finally:
        src.close()
        if writer is not None:
            writer.release()
    bar.close(extra=f', {src.bad_frames} bad frames')
    return dict(
        video=out if writer is not None else None,
        frames=frames,
        bad_frames=src.bad_frames,
        fps=bar.fps,
        error=error)


def draw_track_ids(image: np.ndarray, boxes: np.ndarray,
                   track_ids: np.ndarray) -> np.ndarray:
    """Write each person's track id above its box (in place)."""
    for box, tid in zip(boxes, track_ids):
        x1, y1 = int(round(float(box[0]))), int(round(float(box[1])))
        cv2.putText(image, f'id {int(tid)}', (x1, max(y1 - 4, 10)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 255, 255), 1,
                    cv2.LINE_AA)
    return image
