# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""A copy of a generated COCO data set with broken samples, for the
fault-tolerance tests."""
import json
import math
import os
import os.path as osp
import shutil
from typing import Dict


def corrupt_coco_dataset(src_root: str, dst_root: str) -> Dict:
    """Copy a generated COCO data set and break its training split.

    Three images are broken (garbage bytes, a zero-byte file, a deleted
    file) and eight annotations of the other images get one defect each
    (NaN bbox, negative and zero size, a bbox outside the image, 16
    keypoints instead of 17, two stray keypoint values, a NaN and an Inf
    keypoint): :class:`~mmpose_ext.datasets.SkipBadSamples` must skip them.
    Three more get a change that leaves them valid, as MMPose trains on
    them (all keypoints invisible with ``num_keypoints`` unchanged, a
    visible keypoint just outside the image at x=-1, a bbox partly outside
    the image), and one becomes an unlabelled person (``num_keypoints=0``,
    all zeros), which MMPose drops and is not an error. Needs at least 3
    training images and 13 annotations outside the first three.

    Returns:
        dict: ``image_faults`` {file name: kind}, ``image_fault_ann_ids``
        (annotations of the broken images), ``ann_faults`` {annotation id:
        expected kind} (the defects), ``valid_edge_cases`` {annotation id:
        change} (valid: kept by default; ``'all_keypoints_invisible'``,
        ``'keypoint_outside_image'``, ``'bbox_partly_outside'``),
        ``unlabelled_ann_ids``, ``good_ann_ids`` (untouched annotations of
        the good images) and ``num_annotations``.
    """
    shutil.copytree(src_root, dst_root)
    ann_path = osp.join(dst_root, 'annotations',
                        'person_keypoints_train2017.json')
    with open(ann_path) as f:
        coco = json.load(f)
    images = sorted(coco['images'], key=lambda im: im['id'])
    sizes = {im['id']: (im['width'], im['height']) for im in images}
    anns = sorted(coco['annotations'], key=lambda a: a['id'])

    image_faults = {}
    for img, kind in zip(images[:3], ('garbage', 'zero_bytes', 'missing')):
        path = osp.join(dst_root, 'train2017', img['file_name'])
        if kind == 'missing':
            os.remove(path)
        else:
            with open(path, 'wb') as f:
                f.write(b'' if kind == 'zero_bytes' else os.urandom(2000))
        image_faults[img['file_name']] = kind
    broken = {img['id'] for img in images[:3]}
    image_fault_ann_ids = [a['id'] for a in anns if a['image_id'] in broken]
    rest = [a for a in anns if a['image_id'] not in broken]
    nan = math.nan

    # defects
    def nan_bbox(a):
        a['bbox'][2] = nan

    def negative(a):
        a['bbox'][2] = -abs(a['bbox'][2])

    def zero_area(a):
        a['bbox'][3] = 0.0

    def bbox_outside(a):
        a['bbox'][0] = sizes[a['image_id']][0] + 10.0

    def count16(a):
        a['keypoints'] = a['keypoints'][:48]

    def count_stray(a):
        a['keypoints'] = a['keypoints'] + [1, 1]

    def nan_keypoint(a):
        a['keypoints'][3] = nan
        a['keypoints'][5] = 2

    def inf_keypoint(a):
        a['keypoints'][4] = math.inf
        a['keypoints'][5] = 2

    # valid (MMPose trains on them)
    def invisible(a):
        a['keypoints'][2::3] = [0] * (len(a['keypoints']) // 3)

    def outside(a):
        a['keypoints'][0:3] = [-1.0, a['keypoints'][1], 2]

    def partly_outside(a):
        a['bbox'][2] += a['bbox'][0] + 20.0
        a['bbox'][0] = -20.0

    def unlabelled(a):
        a['keypoints'] = [0] * len(a['keypoints'])
        a['num_keypoints'] = 0

    faults = [(nan_bbox, 'bbox_nonfinite'), (negative, 'bbox_negative'),
              (zero_area, 'bbox_zero_area'),
              (bbox_outside, 'bbox_outside_image'),
              (count16, 'keypoint_count'), (count_stray, 'keypoint_count'),
              (nan_keypoint, 'keypoints_nonfinite'),
              (inf_keypoint, 'keypoints_nonfinite')]
    valid = [(invisible, 'all_keypoints_invisible'),
             (outside, 'keypoint_outside_image'),
             (partly_outside, 'bbox_partly_outside')]
    if len(rest) < len(faults) + len(valid) + 2:
        raise ValueError(
            f'corrupt_coco_dataset needs {len(faults) + len(valid) + 2} '
            f'annotations outside the first 3 images of {ann_path}, got '
            f'{len(rest)}')
    ann_faults, valid_edge_cases = {}, {}
    for a, (change, kind) in zip(rest, faults):
        change(a)
        ann_faults[a['id']] = kind
    for a, (change, kind) in zip(rest[len(faults):], valid):
        change(a)
        valid_edge_cases[a['id']] = kind
    unlabelled_ann = rest[len(faults) + len(valid)]
    unlabelled(unlabelled_ann)
    with open(ann_path, 'w') as f:
        json.dump(coco, f)  # NaN/Inf are written as NaN/Infinity tokens
    done = set(ann_faults) | set(valid_edge_cases) | {unlabelled_ann['id']}
    return dict(
        image_faults=image_faults,
        image_fault_ann_ids=image_fault_ann_ids,
        ann_faults=ann_faults,
        valid_edge_cases=valid_edge_cases,
        unlabelled_ann_ids=[unlabelled_ann['id']],
        good_ann_ids=[a['id'] for a in rest if a['id'] not in done],
        num_annotations=len(anns))
