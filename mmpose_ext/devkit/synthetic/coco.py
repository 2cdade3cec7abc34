# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""The COCO-keypoints writer: annotation json files and a detection file.

Layout (see :mod:`mmpose_ext.devkit.synthetic` for every field)::

    OUT/annotations/person_keypoints_{train,val}2017.json
    OUT/{train,val}2017/000000000001.jpg ...   (12-digit image id)
    OUT/person_detection_results/COCO_val2017_detections_AP_H_56_person.json
"""
import os.path as osp
from typing import Dict, List, Tuple

import cv2
import numpy as np

from .files import check_args, makedirs, write_jpeg, write_json
from .keypoints import COCO_FROM_SKELETON, COCO_KEYPOINTS, COCO_SKELETON
from .scene import SyntheticScene, render_scene, scene_rng

__all__ = ['COCO_DET_FILE', 'make_coco_dataset']

# file name of MMPose's COCO person detections (``bbox_file`` of configs)
COCO_DET_FILE = 'COCO_val2017_detections_AP_H_56_person.json'


def _coco_annotation(scene: SyntheticScene,
                     p: int,
                     ann_id: int,
                     image_id: int,
                     from_skeleton: np.ndarray = COCO_FROM_SKELETON) -> dict:
    """One COCO keypoint annotation of person ``p`` of ``scene``.

    Keypoints are 17 x [x, y, v] ints (v = 2 visible, 1 occluded, 0 not
    labelled with x = y = 0); ``bbox`` (xywh) is the tight box of the visible
    silhouette and the labelled keypoints, ``segmentation`` the polygons of
    the visible silhouette. ``from_skeleton`` selects another format's
    keypoints (COCO-style formats, e.g. CrowdPose's 14).
    """
    height, width = scene.draw_ids.shape
    labelled = scene.in_image[p] & scene.annotated[p]
    flags = np.where(labelled, np.where(scene.visible[p], 2, 1), 0)
    keypoints = np.concatenate([scene.keypoints[p], flags[:, None]],
                               axis=1)[from_skeleton]
    keypoints[keypoints[:, 2] == 0, :2] = 0

    mask = scene.person_mask(p)
    contours, _ = cv2.findContours(
        mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    # 1-pixel polygon simplification, about the precision of COCO's polygons
    contours = [cv2.approxPolyDP(c, 1.0, True) for c in contours]
    segmentation = [
        c.reshape(-1).astype(float).tolist() for c in contours if len(c) >= 3
    ]
    ys, xs = np.nonzero(mask)
    labelled_xy = keypoints[keypoints[:, 2] > 0, :2]
    xs = np.concatenate([xs, labelled_xy[:, 0]])
    ys = np.concatenate([ys, labelled_xy[:, 1]])
    x0, y0 = int(xs.min()), int(ys.min())
    w, h = int(xs.max()) - x0 + 1, int(ys.max()) - y0 + 1
    if not segmentation:
        segmentation = [[x0, y0, x0 + w, y0, x0 + w, y0 + h, x0, y0 + h]]
    return {
        'segmentation': segmentation,
        'num_keypoints': int((keypoints[:, 2] > 0).sum()),
        'area': float(max(int(mask.sum()), 1)),
        'iscrowd': 0,
        'keypoints': [int(v) for v in keypoints.reshape(-1)],
        'image_id': image_id,
        'bbox': [float(x0), float(y0),
                 float(w), float(h)],
        'category_id': 1,
        'id': ann_id,
    }


def _coco_detections(rng, image_id: int, anns: List[dict], width: int,
                     height: int) -> List[dict]:
    """Detector-like person boxes for one image: jittered GT boxes with high
    scores, some low-score duplicates, a few low-score false positives.

    Args:
        rng (np.random.Generator): The image's random stream, after drawing.
        image_id (int): The image's COCO id.
        anns (list[dict]): Its annotations (their ``bbox``).
        width (int): Image width (boxes are clipped to the image).
        height (int): Image height.

    Returns:
        list[dict]: ``{bbox: xywh, category_id: 1, image_id, score}`` by
        decreasing score.
    """

    def clip_box(x, y, w, h):
        x0, y0 = np.clip([x, y], 0, [width - 1, height - 1])
        x1, y1 = np.clip([x + w, y + h], 0, [width - 1, height - 1])
        return [
            float(round(x0, 2)),
            float(round(y0, 2)),
            float(round(max(x1 - x0, 1.0), 2)),
            float(round(max(y1 - y0, 1.0), 2))
        ]

    dets = []
    for ann in anns:
        if rng.random() < 1 / 30:  # missed
            continue
        x, y, w, h = ann['bbox']
        for k in range(1 + int(rng.random() < 0.25)):
            spread = 0.05 if k == 0 else 0.15
            scale = 1 + rng.normal(0, spread, 2)
            cx = x + w / 2 + rng.normal(0, spread) * w
            cy = y + h / 2 + rng.normal(0, spread) * h
            nw, nh = w * scale[0], h * scale[1]
            score = rng.uniform(0.7, 1.0) if k == 0 else rng.uniform(0.05, 0.4)
            dets.append((score, clip_box(cx - nw / 2, cy - nh / 2, nw, nh)))
    for _ in range(int(rng.integers(0, 4))):
        h = rng.uniform(0.1, 0.5) * height
        w = h * rng.uniform(0.3, 0.8)
        dets.append((rng.uniform(0.01, 0.35),
                     clip_box(
                         rng.uniform(0, width - w), rng.uniform(0, height - h),
                         w, h)))
    dets.sort(key=lambda d: -d[0])
    return [{
        'bbox': box,
        'category_id': 1,
        'image_id': image_id,
        'score': float(round(score, 6))
    } for score, box in dets]


def make_coco_dataset(out_dir: str,
                      num_train: int = 64,
                      num_val: int = 16,
                      seed: int = 0,
                      image_size: Tuple[int, int] = (320, 240),
                      max_people: int = 2) -> Dict[str, str]:
    """Write a COCO-keypoints data set (see :mod:`mmpose_ext.devkit.synthetic`
    for the layout and fields).

    Args:
        out_dir (str): Data root to create, e.g. ``data/synthetic_coco``.
        num_train (int): Train images (positive).
        num_val (int): Val images (positive).
        seed (int): Non-negative seed; equal arguments give identical files.
        image_size (tuple[int, int]): (width, height) of every image.
        max_people (int): Most people per image (1-100).

    Returns:
        dict[str, str]: ``data_root``, ``train_ann``, ``val_ann``,
        ``train_img_dir``, ``val_img_dir``, ``bbox_file``.
    """
    width, height = check_args('coco', out_dir, num_train, num_val, seed,
                               image_size, max_people)
    paths = {
        'data_root':
        str(out_dir),
        'train_ann':
        osp.join(out_dir, 'annotations', 'person_keypoints_train2017.json'),
        'val_ann':
        osp.join(out_dir, 'annotations', 'person_keypoints_val2017.json'),
        'train_img_dir':
        osp.join(out_dir, 'train2017'),
        'val_img_dir':
        osp.join(out_dir, 'val2017'),
        'bbox_file':
        osp.join(out_dir, 'person_detection_results', COCO_DET_FILE),
    }
    makedirs(
        osp.dirname(paths['train_ann']), paths['train_img_dir'],
        paths['val_img_dir'], osp.dirname(paths['bbox_file']))
    category = {
        'supercategory': 'person',
        'id': 1,
        'name': 'person',
        'keypoints': list(COCO_KEYPOINTS),
        'skeleton': COCO_SKELETON,
    }
    ann_id = 0
    detections = []
    for split, count, first_id in (('train', num_train, 1), ('val', num_val,
                                                             num_train + 1)):
        images, annotations = [], []
        for index in range(count):
            image_id = first_id + index
            rng = scene_rng(seed, 'coco', split, index)
            scene = render_scene(rng, (width, height), 'coco', max_people)
            file_name = f'{image_id:012d}.jpg'
            write_jpeg(
                osp.join(paths[f'{split}_img_dir'], file_name), scene.image)
            images.append({
                'license': 1,
                'file_name': file_name,
                'coco_url': '',
                'height': height,
                'width': width,
                'date_captured': '2024-01-01 00:00:00',
                'flickr_url': '',
                'id': image_id,
            })
            image_anns = []
            for p in range(scene.num_people):
                ann_id += 1
                image_anns.append(_coco_annotation(scene, p, ann_id, image_id))
            annotations += image_anns
            if split == 'val':
                detections += _coco_detections(rng, image_id, image_anns,
                                               width, height)
        write_json(
            paths[f'{split}_ann'], {
                'info': {
                    'description': 'mmpose_ext synthetic COCO keypoints',
                    'version': '1.0',
                    'year': 2024,
                    'contributor': 'mmpose_ext',
                    'date_created': '2024/01/01',
                    'url': '',
                },
                'licenses': [{
                    'url':
                    'https://creativecommons.org/publicdomain/zero/1.0/',
                    'id': 1,
                    'name': 'CC0 1.0 (synthetic images)',
                }],
                'categories': [category],
                'images':
                images,
                'annotations':
                annotations,
            })
    write_json(paths['bbox_file'], detections)
    return paths
