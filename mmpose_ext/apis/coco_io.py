# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""COCO files the inference tools read and write.

* person detection files (``bbox_file`` of MMPose's COCO datasets): a json
  list of ``{image_id, category_id, bbox: [x, y, w, h], score}``, as
  ``COCO_val2017_detections_AP_H_56_person.json``; MMPose keeps
  ``category_id == 1`` (see ``BaseCocoStyleDataset._load_detection_results``);
* keypoint results (what ``COCO.loadRes`` / ``CocoMetric`` read): a json
  list of ``{image_id, category_id: 1, keypoints: [x, y, score] * K,
  score}``;
* image ids: from a COCO annotation file (file name -> id) or from numeric
  file names (``000000000139.jpg`` -> 139), as in COCO.
"""
import json
import os
import os.path as osp
from collections import defaultdict
from typing import Dict, List, Optional

import numpy as np
from xtcocotools.coco import COCO
from xtcocotools.cocoeval import COCOeval

__all__ = [
    'load_bbox_file', 'ImageIdResolver', 'keypoint_results',
    'detection_results', 'dump_json'
]


def load_bbox_file(bbox_file: str,
                   category_id: Optional[int] = 1) -> Dict[int, np.ndarray]:
    """Read a COCO-style person detection file.

    Args:
        bbox_file (str): Json list of ``{image_id, category_id, bbox (xywh),
            score}``.
        category_id (int, optional): Keep only this category (COCO person is
            1, as MMPose does). None keeps all. Defaults to 1.

    Returns:
        dict: ``image_id -> (N, 5)`` float32 array of ``x1, y1, x2, y2,
        score`` in image pixels, sorted by decreasing score.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: it is not valid json or not a list of detections; the
            message names the file and the first bad entry.
    """
    if not osp.isfile(bbox_file):
        raise FileNotFoundError(f'bbox file "{bbox_file}" does not exist')
    try:
        with open(bbox_file) as f:
            dets = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f'bbox file "{bbox_file}" is not valid json: {e}') \
            from None
    if not isinstance(dets, list):
        raise ValueError(
            f'bbox file "{bbox_file}" must hold a json list of detections '
            f'{{image_id, category_id, bbox, score}}, got '
            f'{type(dets).__name__}')
    per_image = defaultdict(list)
    for i, det in enumerate(dets):
        try:
            image_id = int(det['image_id'])
            x, y, w, h = (float(v) for v in det['bbox'])
            score = float(det.get('score', 1.0))
            cat = det.get('category_id', 1)
        except (KeyError, TypeError, ValueError):
            raise ValueError(
                f'bbox file "{bbox_file}": entry {i} ({det!r:.120}) is not '
                '{image_id, category_id, bbox: [x, y, w, h], score}') from None
        if category_id is not None and cat != category_id:
            continue
        per_image[image_id].append((x, y, x + w, y + h, score))
    out = {}
    for image_id, boxes in per_image.items():
        arr = np.asarray(boxes, dtype=np.float32).reshape(-1, 5)
        out[image_id] = arr[np.argsort(-arr[:, 4], kind='stable')]
    return out


class ImageIdResolver:
    """COCO image ids for input files.

    The id of a file is, in order: its ``id`` in ``ann_file`` (matched by
    ``file_name``, or by its base name), the number its name spells
    (``000000000139.jpg`` -> 139), or None.

    Args:
        ann_file (str, optional): A COCO annotation file.
    """

    def __init__(self, ann_file: Optional[str] = None):
        self.by_name: Dict[str, int] = {}
        self.by_basename: Dict[str, int] = {}
        if ann_file is not None:
            if not osp.isfile(ann_file):
                raise FileNotFoundError(
                    f'annotation file "{ann_file}" does not exist')
            with open(ann_file) as f:
                images = json.load(f).get('images', [])
            for img in images:
                self.by_name[img['file_name']] = int(img['id'])
                self.by_basename[osp.basename(img['file_name'])] = int(
                    img['id'])

    def __call__(self, path: str) -> Optional[int]:
        """The image id of ``path``, or None when it cannot be told."""
        if path in self.by_name:
            return self.by_name[path]
        name = osp.basename(path)
        if name in self.by_basename:
            return self.by_basename[name]
        stem = osp.splitext(name)[0]
        return int(stem) if stem.isdigit() else None


def keypoint_results(image_id: int,
                     keypoints: np.ndarray,
                     keypoint_scores: np.ndarray,
                     bbox_scores: np.ndarray,
                     category_id: int = 1,
                     kpt_score_thr: float = 0.2) -> List[dict]:
    """COCO keypoint results of one image.

    The instance score is CocoMetric's: the box score times the mean score
    of the keypoints above ``kpt_score_thr`` (0 when none is).

    Args:
        image_id (int): COCO image id.
        keypoints (np.ndarray): (N, K, 2) in image pixels.
        keypoint_scores (np.ndarray): (N, K).
        bbox_scores (np.ndarray): (N, ).
        category_id (int): Defaults to 1 (person).
        kpt_score_thr (float): Defaults to 0.2 (CocoMetric's).

    Returns:
        list[dict]: ``{image_id, category_id, keypoints: [x, y, s] * K,
        score}`` per person.
    """
    out = []
    for kpts, scores, box_score in zip(keypoints, keypoint_scores,
                                       bbox_scores):
        valid = scores > kpt_score_thr
        mean = float(scores[valid].mean()) if valid.any() else 0.
        flat = np.concatenate([kpts, scores[:, None]], axis=1).reshape(-1)
        out.append(
            dict(
                image_id=int(image_id),
                category_id=int(category_id),
                keypoints=[round(float(v), 3) for v in flat],
                score=round(float(box_score) * mean, 6)))
    return out


def detection_results(image_id: int,
                      bboxes: np.ndarray,
                      category_id: int = 1) -> List[dict]:
    """COCO detection results of one image (a ``bbox_file``'s entries).

    Args:
        image_id (int): COCO image id.
        bboxes (np.ndarray): (N, 5) ``x1, y1, x2, y2, score`` in pixels.
        category_id (int): Defaults to 1 (person).

    Returns:
        list[dict]: ``{image_id, category_id, bbox: [x, y, w, h], score}``.
    """
    out = []
    for x1, y1, x2, y2, score in np.asarray(bboxes, dtype=float):
        out.append(
            dict(
                image_id=int(image_id),
                category_id=int(category_id),
                bbox=[
                    round(x1, 2),
                    round(y1, 2),
                    round(x2 - x1, 2),
                    round(y2 - y1, 2)
                ],
                score=round(float(score), 5)))
    return out


def dump_json(obj, path: str) -> None:
    """Write ``obj`` as json, creating the parent folder."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with open(path, 'w') as f:
        json.dump(obj, f)


def evaluate_person_boxes(ann_file: str, dets: list) -> dict:
    """COCO bbox AP of person detections (category 1) against ``ann_file``.

    Args:
        ann_file (str): COCO annotation file with person annotations.
        dets (list): ``{image_id, category_id, bbox, score}`` entries.

    Returns:
        dict: ``AP``, ``AP50``, ``AP75``, ``APm``, ``APl``, ``AR100``.
    """
    coco = COCO(ann_file)
    names = ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'AR1', 'AR10', 'AR100',
             'ARs', 'ARm', 'ARl')
    if not dets:
        return {n: 0.0 for n in names}
    coco_dt = coco.loadRes(dets)
    ev = COCOeval(coco, coco_dt, 'bbox')
    ev.params.catIds = [1]
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return {n: float(v) for n, v in zip(names, ev.stats)}
