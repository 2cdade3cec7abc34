# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""The result type of top-down inference."""
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

from .coco_io import keypoint_results

__all__ = ['TopdownResult']


@dataclass
class TopdownResult:
    """Top-down predictions of one image, in image pixels.

    Attributes:
        img_shape (tuple): ``(H, W)`` of the image.
        bboxes (np.ndarray): (N, 4) person boxes ``x1, y1, x2, y2``.
        bbox_scores (np.ndarray): (N, ) box scores (1 for whole-image or
            user boxes without a score).
        keypoints (np.ndarray): (N, K, 2) keypoint ``x, y``.
        keypoint_scores (np.ndarray): (N, K).
        data_sample (PoseDataSample, optional): MMPose's merged data sample
            (``merge_data_samples``), for its visualiser; None when N = 0.
        img_path (str, optional): The image file, when read from one.
    """
    img_shape: tuple
    bboxes: np.ndarray
    bbox_scores: np.ndarray
    keypoints: np.ndarray
    keypoint_scores: np.ndarray
    data_sample: Optional[object] = None
    img_path: Optional[str] = None
    extra: Dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.bboxes)

    @classmethod
    def empty(cls, img_shape, num_keypoints: int, img_path=None):
        return cls(
            img_shape=tuple(img_shape[:2]),
            bboxes=np.zeros((0, 4), np.float32),
            bbox_scores=np.zeros((0, ), np.float32),
            keypoints=np.zeros((0, num_keypoints, 2), np.float32),
            keypoint_scores=np.zeros((0, num_keypoints), np.float32),
            img_path=img_path)

    @property
    def instances(self) -> List[dict]:
        """One dict per person: ``bbox`` (4,), ``bbox_score``, ``keypoints``
        (K, 2), ``keypoint_scores`` (K, )."""
        return [
            dict(
                bbox=self.bboxes[i],
                bbox_score=float(self.bbox_scores[i]),
                keypoints=self.keypoints[i],
                keypoint_scores=self.keypoint_scores[i])
            for i in range(len(self))
        ]

    def to_coco(self,
                image_id: int,
                category_id: int = 1,
                kpt_score_thr: float = 0.2) -> List[dict]:
        """COCO keypoint results (see :func:`coco_io.keypoint_results`)."""
        return keypoint_results(image_id, self.keypoints, self.keypoint_scores,
                                self.bbox_scores, category_id, kpt_score_thr)
