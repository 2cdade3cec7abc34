# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""The keypoints of each format, as selections of the skeleton joints.

The names and their order are not kept here: they are read from the one place
each lives, the dataset meta files that MMPose's readers use for the same
files:

* COCO: MMPose's ``configs/_base_/datasets/coco.py``, also the source of
  the 1-based limb list written into the json's ``categories``;
* MPII: MMPose's ``configs/_base_/datasets/mpii.py``;
* LSP / LSPET: the plugin's ``configs/_base_/datasets/lsp.py``;
* CrowdPose: MMPose's ``configs/_base_/datasets/crowdpose.py``.

All are found by absolute path (MMPose's in its installed package, the
plugin's with :func:`mmpose_ext.utils.config_files.config_file`), so the
result does not depend on the working directory. MMPose's files are read
directly rather than through the plugin's ``configs/_base_/datasets/`` copies
that inherit them unchanged: resolving an ``mmpose::`` base makes mmengine
import ``pkg_resources``, whose deprecation warning would land on the stderr
of every tool that imports the generator. Keypoints are ordered by their
meta ``id`` (0, 1, ...), which is the order of the files.

``*_FROM_SKELETON`` index :data:`.skeleton.SKELETON_JOINTS`: e.g.
``keypoints[COCO_FROM_SKELETON]`` turns ``(J, ...)`` skeleton joints into
``(17, ...)`` COCO keypoints. LSP ``neck`` and CrowdPose ``neck`` are the
skeleton's upper neck, CrowdPose ``top_head`` its head top.
"""
import os.path as osp
from typing import Dict, Tuple

import mmpose
import numpy as np
from mmpose.datasets.datasets.utils import parse_pose_metainfo

from mmpose_ext.utils.config_files import config_file
from .skeleton import JOINT_ID

__all__ = [
    'COCO_KEYPOINTS', 'COCO_SKELETON', 'MPII_KEYPOINTS', 'LSP_KEYPOINTS',
    'COCO_FROM_SKELETON', 'MPII_FROM_SKELETON', 'LSP_FROM_SKELETON',
    'CROWDPOSE_KEYPOINTS', 'CROWDPOSE_SKELETON', 'CROWDPOSE_FROM_SKELETON'
]


def _mmpose_dataset_meta_file(name: str) -> str:
    """Absolute path of MMPose's ``configs/_base_/datasets/{name}.py``: in
    the installed package (``mmpose/.mim/configs``) or, for a source
    checkout, in ``configs/`` beside the package."""
    package = osp.dirname(mmpose.__file__)
    relpath = osp.join('configs', '_base_', 'datasets', f'{name}.py')
    candidates = [
        osp.join(package, '.mim', relpath),
        osp.join(osp.dirname(package), relpath)
    ]
    for path in candidates:
        if osp.isfile(path):
            return path
    raise FileNotFoundError(
        f'MMPose dataset meta {name}.py not found in {candidates}; '
        'reinstall mmpose from PyPI')


def _load_meta(path: str) -> Tuple[dict, str]:
    """Parsed dataset meta of a ``from_file`` config, and its path."""
    return parse_pose_metainfo(dict(from_file=path)), path


def _keypoint_names(meta: dict, path: str, num_keypoints: int,
                    aliases: Dict[str, str]) -> Tuple[str, ...]:
    """Keypoint names of a meta file in id order, checked against the
    skeleton.

    Args:
        meta (dict): Output of ``parse_pose_metainfo``.
        path (str): The meta file, for error messages.
        num_keypoints (int): How many keypoints the format's files have.
        aliases (dict[str, str]): Format name -> skeleton joint name where
            they differ (LSP ``neck`` -> ``upper_neck``).

    Returns:
        tuple[str]: ``num_keypoints`` names, keypoint id 0 first.

    Raises:
        RuntimeError: The ids are not 0..num_keypoints-1, a name repeats, or
            a name is no skeleton joint: the generator's keypoint order would
            no longer be the files' order.
    """
    id2name = meta['keypoint_id2name']
    if sorted(id2name) != list(range(num_keypoints)):
        raise RuntimeError(
            f'{path}: keypoint ids {sorted(id2name)} are not 0..'
            f'{num_keypoints - 1}; the synthetic {meta["dataset_name"]} '
            f'files need exactly {num_keypoints} keypoints in id order')
    names = tuple(id2name[i] for i in range(num_keypoints))
    unknown = [n for n in names if aliases.get(n, n) not in JOINT_ID]
    if unknown or len(set(names)) != len(names):
        raise RuntimeError(
            f'{path}: keypoints {names} must be distinct skeleton joints '
            f'(unknown: {unknown}); the synthetic generator cannot draw them')
    return names


def _from_skeleton(names: Tuple[str, ...], aliases: Dict[str,
                                                         str]) -> np.ndarray:
    """(K, ) int64 index of each keypoint in ``SKELETON_JOINTS``."""
    return np.array([JOINT_ID[aliases.get(n, n)] for n in names])


_LSP_ALIASES = {'neck': 'upper_neck'}
_CROWDPOSE_ALIASES = {'top_head': 'head_top', 'neck': 'upper_neck'}

_coco_meta, _coco_path = _load_meta(_mmpose_dataset_meta_file('coco'))
COCO_KEYPOINTS = _keypoint_names(_coco_meta, _coco_path, 17, {})
# 1-based limb list of the real person_keypoints_*.json
COCO_SKELETON = [[a + 1, b + 1] for a, b in _coco_meta['skeleton_links']]
MPII_KEYPOINTS = _keypoint_names(
    *_load_meta(_mmpose_dataset_meta_file('mpii')), 16, {})
LSP_KEYPOINTS = _keypoint_names(
    *_load_meta(config_file('_base_/datasets/lsp.py')), 14, _LSP_ALIASES)

COCO_FROM_SKELETON = _from_skeleton(COCO_KEYPOINTS, {})
MPII_FROM_SKELETON = _from_skeleton(MPII_KEYPOINTS, {})
LSP_FROM_SKELETON = _from_skeleton(LSP_KEYPOINTS, _LSP_ALIASES)

_crowdpose_meta, _crowdpose_path = _load_meta(
    _mmpose_dataset_meta_file('crowdpose'))
CROWDPOSE_KEYPOINTS = _keypoint_names(_crowdpose_meta, _crowdpose_path, 14,
                                      _CROWDPOSE_ALIASES)
# 1-based limb list of the meta, written into the json's ``categories``
CROWDPOSE_SKELETON = [[a + 1, b + 1]
                      for a, b in _crowdpose_meta['skeleton_links']]
CROWDPOSE_FROM_SKELETON = _from_skeleton(CROWDPOSE_KEYPOINTS,
                                         _CROWDPOSE_ALIASES)
