# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""The LSP / LSP-extended writer: one ``joints.mat`` and the images.

Layout (see :mod:`mmpose_ext.devkit.synthetic` for the flag conventions)::

    OUT/joints.mat
    OUT/images/im0001.jpg ...    (lsp: 4 digits; lspet: im00001.jpg, 5 digits)
"""
import os.path as osp
from typing import Dict, Tuple

import numpy as np

from .files import check_args, makedirs, write_jpeg, write_mat
from .keypoints import LSP_FROM_SKELETON, LSP_KEYPOINTS
from .scene import render_scene, scene_rng

__all__ = ['make_lsp_dataset']


def make_lsp_dataset(out_dir: str,
                     num_train: int = 64,
                     num_val: int = 16,
                     seed: int = 0,
                     image_size: Tuple[int, int] = (320, 240),
                     max_people: int = 2,
                     extended: bool = False) -> Dict[str, str]:
    """Write an LSP (or, with ``extended``, LSP-extended) data set.

    Images vary in size: each side is ``image_size`` times a factor in
    [0.8, 1.25]. The val split is the LAST ``num_val`` images.

    Args: as :func:`mmpose_ext.devkit.synthetic.make_coco_dataset`, plus
        extended (bool): Write the LSPET layout (``joints`` 14 x 3 x N,
            1 = visible, 5-digit image names) instead of LSP (3 x 14 x N,
            0 = visible, 4-digit names).

    Returns:
        dict[str, str]: ``data_root``, ``joints_mat``, ``img_dir``.
    """
    fmt = 'lspet' if extended else 'lsp'
    width, height = check_args(fmt, out_dir, num_train, num_val, seed,
                               image_size, max_people)
    paths = {
        'data_root': str(out_dir),
        'joints_mat': osp.join(out_dir, 'joints.mat'),
        'img_dir': osp.join(out_dir, 'images'),
    }
    makedirs(paths['img_dir'])
    digits = 5 if extended else 4
    total = num_train + num_val
    joints = np.zeros((total, len(LSP_KEYPOINTS), 3))  # (N, 14, [x, y, vis])
    for index in range(total):
        rng = scene_rng(seed, fmt, 'train' if index < num_train else 'val',
                        index)
        scene = render_scene(rng, (width, height), fmt, 1)
        write_jpeg(
            osp.join(paths['img_dir'], f'im{index + 1:0{digits}d}.jpg'),
            scene.image)
        joints[index, :, :2] = scene.keypoints[0][LSP_FROM_SKELETON]
        joints[index, :, 2] = scene.visible[0][LSP_FROM_SKELETON]
    if extended:
        mat = joints.transpose(1, 2, 0)  # (14, 3, N), 1 = visible
    else:
        joints[:, :, 2] = 1 - joints[:, :, 2]  # LSP stores 1 = occluded
        mat = joints.transpose(2, 1, 0)  # (3, 14, N)
    write_mat(paths['joints_mat'], {'joints': np.ascontiguousarray(mat)})
    return paths
