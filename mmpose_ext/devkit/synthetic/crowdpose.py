# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""The CrowdPose writer: COCO-style json files with CrowdPose's 14 keypoints,
``crowdIndex`` per image, and a detection file.

Layout (the paths of MMPose's CrowdPose configs; see
:mod:`mmpose_ext.devkit.synthetic` for every field)::

    OUT/annotations/mmpose_crowdpose_trainval.json   (the train split)
    OUT/annotations/mmpose_crowdpose_test.json       (the val split)
    OUT/annotations/det_for_crowd_test_0.1_0.5.json  (boxes on the val split)
    OUT/images/100001.jpg ...                        (image id, both splits)
"""
import os.path as osp
from typing import Dict, List, Tuple

import numpy as np

from .coco import _coco_annotation, _coco_detections
from .files import check_args, makedirs, write_jpeg, write_json
from .keypoints import (CROWDPOSE_FROM_SKELETON, CROWDPOSE_KEYPOINTS,
                        CROWDPOSE_SKELETON)
from .scene import render_scene, scene_rng

__all__ = ['CROWDPOSE_DET_FILE', 'crowd_index', 'make_crowdpose_dataset']

# file name of the person detections of MMPose's CrowdPose configs
CROWDPOSE_DET_FILE = 'det_for_crowd_test_0.1_0.5.json'
# CrowdPose's image ids start above 100000 (e.g. 100000.jpg, 103319.jpg)
_FIRST_IMAGE_ID = 100000
# keypoint names of the real json's ``categories`` where the meta's differ
_FILE_NAMES = {'top_head': 'head'}
# ``num_keypoints`` of the real file counts the labelled keypoints of the
# 12 limb joints, not head top and neck (MMPose's test_crowdpose.json)
_COUNTED = np.array([
    i for i, n in enumerate(CROWDPOSE_KEYPOINTS)
    if n not in ('top_head', 'neck')
])


def crowd_index(annotations: List[dict]) -> float:
    """CrowdPose's crowd index of one image (Li et al., CVPR 2019, eq. 1).

    ``mean_i N_b(i) / N_a(i)`` over the persons with labelled keypoints:
    ``N_a(i)`` labelled keypoints of person ``i``, ``N_b(i)`` labelled
    keypoints of the others inside ``i``'s box (borders included), rounded
    to 2 decimals as in the real files (it gives their values).

    Args:
        annotations (list[dict]): The image's annotations (``keypoints``
            as K x [x, y, v], ``bbox`` as xywh).

    Returns:
        float: 0 for an image with fewer than two labelled persons.
    """
    people = []
    for ann in annotations:
        kpts = np.array(ann['keypoints'], float).reshape(-1, 3)
        xy = kpts[kpts[:, 2] > 0, :2]
        if len(xy):
            people.append((xy, ann['bbox']))
    ratios = []
    for i, (xy, (x, y, w, h)) in enumerate(people):
        others = [o for j, (o, _) in enumerate(people) if j != i]
        if not others:
            ratios.append(0.0)
            continue
        o = np.concatenate(others)
        inside = ((o[:, 0] >= x) & (o[:, 0] <= x + w) & (o[:, 1] >= y) &
                  (o[:, 1] <= y + h))
        ratios.append(inside.sum() / len(xy))
    return round(float(np.mean(ratios)), 2) if ratios else 0.0


def make_crowdpose_dataset(out_dir: str,
                           num_train: int = 64,
                           num_val: int = 16,
                           seed: int = 0,
                           image_size: Tuple[int, int] = (320, 240),
                           max_people: int = 2) -> Dict[str, str]:
    """Write a CrowdPose data set (see :mod:`mmpose_ext.devkit.synthetic`
    for the layout and fields).

    Args: as :func:`mmpose_ext.devkit.synthetic.make_coco_dataset`.

    Returns:
        dict[str, str]: ``data_root``, ``train_ann``, ``val_ann``,
        ``img_dir``, ``bbox_file``.
    """
    width, height = check_args('crowdpose', out_dir, num_train, num_val, seed,
                               image_size, max_people)
    ann_dir = osp.join(out_dir, 'annotations')
    paths = {
        'data_root': str(out_dir),
        'train_ann': osp.join(ann_dir, 'mmpose_crowdpose_trainval.json'),
        'val_ann': osp.join(ann_dir, 'mmpose_crowdpose_test.json'),
        'img_dir': osp.join(out_dir, 'images'),
        'bbox_file': osp.join(ann_dir, CROWDPOSE_DET_FILE),
    }
    makedirs(ann_dir, paths['img_dir'])
    category = {
        'supercategory': 'person',
        'id': 1,
        'name': 'person',
        'keypoints': [_FILE_NAMES.get(n, n) for n in CROWDPOSE_KEYPOINTS],
        'skeleton': CROWDPOSE_SKELETON,
    }
    ann_id = 0
    detections = []
    for split, count, first in (('train', num_train, 1), ('val', num_val,
                                                          num_train + 1)):
        images, annotations = [], []
        for index in range(count):
            image_id = _FIRST_IMAGE_ID + first + index
            rng = scene_rng(seed, 'crowdpose', split, index)
            scene = render_scene(rng, (width, height), 'crowdpose', max_people)
            file_name = f'{image_id}.jpg'
            write_jpeg(osp.join(paths['img_dir'], file_name), scene.image)
            image_anns = []
            for p in range(scene.num_people):
                ann_id += 1
                coco = _coco_annotation(scene, p, ann_id, image_id,
                                        CROWDPOSE_FROM_SKELETON)
                flags = np.array(coco['keypoints'][2::3])
                image_anns.append({
                    'num_keypoints':
                    int((flags[_COUNTED] > 0).sum()),
                    'iscrowd':
                    0,
                    'keypoints':
                    coco['keypoints'],
                    'image_id':
                    image_id,
                    'bbox':
                    coco['bbox'],
                    'category_id':
                    1,
                    'id':
                    ann_id,
                })
            images.append({
                'file_name': file_name,
                'id': image_id,
                'height': height,
                'width': width,
                'crowdIndex': crowd_index(image_anns),
            })
            annotations += image_anns
            if split == 'val':
                detections += _coco_detections(rng, image_id, image_anns,
                                               width, height)
        write_json(
            paths[f'{split}_ann'], {
                'categories': [category],
                'images': images,
                'annotations': annotations,
            })
    write_json(paths['bbox_file'], detections)
    return paths
