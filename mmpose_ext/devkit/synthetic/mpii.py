# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""The MPII writer: MMPose's json lists and the official-style head boxes.

Layout (see :mod:`mmpose_ext.devkit.synthetic` for every field)::

    OUT/annotations/mpii_{train,val}.json
    OUT/annotations/mpii_gt_val.mat
    OUT/images/000000001.jpg ...   (9-digit number; val continues after train)
"""
import os.path as osp
from typing import Dict, Tuple

import numpy as np

from .files import check_args, makedirs, write_jpeg, write_json, write_mat
from .keypoints import MPII_FROM_SKELETON, MPII_KEYPOINTS
from .scene import render_scene, scene_rng

__all__ = ['make_mpii_dataset']

# ``dataset_joints`` of the official MPII gt_valid.mat
_MPII_SHORT_NAMES = ('rank', 'rkne', 'rhip', 'lhip', 'lkne', 'lank', 'pelv',
                     'thor', 'neck', 'head', 'rwri', 'relb', 'rsho', 'lsho',
                     'lelb', 'lwri')

# MPII: scale * 200 px ~= 1.2 x the ankle-to-head-top extent (real file)
_MPII_SCALE_PER_HEIGHT = 1.2


def _short_name(name: str) -> str:
    """The official short name of an MPII joint name of MMPose's meta:
    side letter + 3 letters of the joint, else 4 letters ('upper_' dropped),
    e.g. 'right_ankle' -> 'rank', 'upper_neck' -> 'neck'."""
    name = name.replace('upper_', '')
    for side in ('left_', 'right_'):
        if name.startswith(side):
            return side[0] + name[len(side):][:3]
    return name[:4]


# the meta's keypoint order is the order of the official file's joints
if tuple(map(_short_name, MPII_KEYPOINTS)) != _MPII_SHORT_NAMES:
    raise RuntimeError(
        f'MPII keypoints of the dataset meta {MPII_KEYPOINTS} are not in the '
        f'order of the official gt_valid.mat joints {_MPII_SHORT_NAMES}')


def make_mpii_dataset(out_dir: str,
                      num_train: int = 64,
                      num_val: int = 16,
                      seed: int = 0,
                      image_size: Tuple[int, int] = (320, 240),
                      max_people: int = 2) -> Dict[str, str]:
    """Write an MPII data set in MMPose's layout (see
    :mod:`mmpose_ext.devkit.synthetic` for the layout and fields).

    Args: as :func:`mmpose_ext.devkit.synthetic.make_coco_dataset`.

    Returns:
        dict[str, str]: ``data_root``, ``train_ann``, ``val_ann``,
        ``headbox_file``, ``img_dir``.
    """
    width, height = check_args('mpii', out_dir, num_train, num_val, seed,
                               image_size, max_people)
    paths = {
        'data_root': str(out_dir),
        'train_ann': osp.join(out_dir, 'annotations', 'mpii_train.json'),
        'val_ann': osp.join(out_dir, 'annotations', 'mpii_val.json'),
        'headbox_file': osp.join(out_dir, 'annotations', 'mpii_gt_val.mat'),
        'img_dir': osp.join(out_dir, 'images'),
    }
    makedirs(osp.dirname(paths['train_ann']), paths['img_dir'])
    val_joints, val_missing, val_heads = [], [], []
    for split, count, first_number in (('train', num_train, 1),
                                       ('val', num_val, num_train + 1)):
        entries = []
        for index in range(count):
            scene = render_scene(
                scene_rng(seed, 'mpii', split, index), (width, height), 'mpii',
                max_people)
            image_name = f'{first_number + index:09d}.jpg'
            write_jpeg(osp.join(paths['img_dir'], image_name), scene.image)
            for p in range(scene.num_people):
                present = scene.in_image[p][MPII_FROM_SKELETON]
                # MATLAB 1-based; missing joints are [-1, -1]
                joints = np.where(present[:, None],
                                  scene.keypoints[p][MPII_FROM_SKELETON] + 1.0,
                                  -1.0)
                entries.append({
                    'joints_vis': [int(v) for v in present],
                    'joints':
                    joints.tolist(),
                    'image':
                    image_name,
                    'scale':
                    round(
                        float(_MPII_SCALE_PER_HEIGHT * scene.heights[p] / 200),
                        6),
                    'center':
                    np.round(scene.centers[p] + 1, 2).tolist(),
                })
                if split == 'val':
                    val_joints.append(joints)
                    val_missing.append(~present)
                    val_heads.append(scene.head_boxes[p].reshape(2, 2) + 1)
        write_json(paths[f'{split}_ann'], entries)
    dataset_joints = np.empty((1, len(_MPII_SHORT_NAMES)), dtype=object)
    dataset_joints[0] = list(_MPII_SHORT_NAMES)
    write_mat(
        paths['headbox_file'], {
            'dataset_joints': dataset_joints,
            'jnt_missing': np.stack(val_missing, -1).astype(np.float64),
            'pos_gt_src': np.stack(val_joints, -1),
            'headboxes_src': np.stack(val_heads, -1),
        })
    return paths
