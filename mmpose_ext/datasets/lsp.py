# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""LSP and LSP-extended (LSPET) top-down datasets read from ``joints.mat``.

The two releases store their joints differently, and their third rows mean
different things:

============  ===========  ==================================  ============
release       ``joints``   third row / column                  image names
============  ===========  ==================================  ============
LSP (2,000)   3 x 14 x N   1 = **occluded**, 0 = visible        im0001.jpg
LSPET (10k)   14 x 3 x N   1 = **visible**, 0 = occluded        im00001.jpg
============  ===========  ==================================  ============

(The LSP README calls the row "visibility", but the released file is
inverted; Convolutional Pose Machines' ``training/genJSON.m`` flips it for
LSP only: ``oriTrTe.joints(3,:,:) = 1 - oriTrTe.joints(3,:,:)``.)
Both are converted to one convention: every joint with finite coordinates is
*labelled*: ``keypoints_visible`` = 1 (MMPose's meaning: the joint is used
in the loss and the metric; LSP annotates occluded joints too and the
standard PCK evaluates all 14 joints), and the occlusion flag is kept
separately as ``keypoints_occluded`` (1 = occluded) for analysis.
``occluded_as_invisible=True`` sets ``keypoints_visible`` = 0 for occluded
joints instead (they are then ignored by the loss and by the metric).

**Occluded LSPET joints and the person box.** LSPET's occluded joints (flag
0) are often rough guesses and can lie off the person or outside the image.
The reference LSP tooling, Convolutional Pose Machines
(shihenw/convolutional-pose-machines-release, ``training/genJSON.m``,
branch ``'LEEDS'``), treats them in two ways:

* the person centre ``objpos`` of an LSPET image is the midpoint of the
  min / max of the joints whose flag is 1 only (``invisible =
  (joint_self(:,3) == 0)``; "lspet is not tightly cropped"), and its scale
  (``insertMPILikeScale``) uses visible limbs and the extent of visible
  joints only. So occluded joints do **not** define the box here either:
  ``bbox_joints='auto'`` (the default) means ``'visible'`` for LSPET (the
  tight box of the visible joints; all labelled joints if none is visible)
  and ``'labelled'`` for LSP (whose occluded joints are annotated where the
  joint is; CPM centres LSP on the image centre, the images being tight
  crops). ``bbox_joints='labelled'`` restores the box of all joints.
* occluded joints still count in the **loss**: CPM's data layer draws a
  target Gaussian for every joint whose flag is 0 or 1 and only skips joints
  outside the image (``cpm_data_transformer.cpp``, ``ReadMetaData``: "2
  means cropped, 0 means occluded by still on image"; ``generateLabelMap``:
  ``isVisible <= 1``; as in CMU-Perceptual-Computing-Lab/caffe_train), and
  bearpaw/pytorch-pose's ``pose/datasets/lsp.py`` (reading CPM's json)
  draws every joint with a positive x, the visibility test commented out.
  So they stay labelled by default (``occluded_as_invisible=False``); an
  off-image joint gets no target from MMPose's heatmap codecs anyway once
  the crop no longer contains it.

Coordinates are used as stored (no MATLAB 1-based shift; set
``coordinate_offset=1`` to subtract one, as CPM's C++ reader does). LSP has
no person boxes: the box is the tight box of the joints chosen by
``bbox_joints`` times ``bbox_padding`` (the pipeline's
``GetBBoxCenterScale`` pads it again). LSP's standard split is the first
1000 images for training and the last 1000 for testing: ``split`` selects
``'train'`` (all but the last ``num_test``), ``'test'`` / ``'val'`` (the last
``num_test``) or ``'all'``.

``tools/lsp2coco.py`` converts the same files to a COCO-style json (loadable
with MMPose's ``CocoDataset`` and this dataset's meta) if preferred.
"""
import json
import os.path as osp
from typing import Optional, Tuple

import numpy as np
from mmengine.fileio import exists, get_local_path
from mmpose.datasets.datasets.base import BaseCocoStyleDataset
from mmpose.datasets.datasets.utils import parse_pose_metainfo
from mmpose.registry import DATASETS
from PIL import Image
from scipy.io import loadmat

from ..utils.config_files import config_file

VARIANTS = ('auto', 'lsp', 'lspet')
SPLITS = ('train', 'val', 'test', 'all')
BBOX_JOINTS = ('auto', 'visible', 'labelled')
IMG_NAME_TMPL = dict(lsp='im{:04d}.jpg', lspet='im{:05d}.jpg')


def load_lsp_joints(
        path: str,
        variant: str = 'auto'
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Read an LSP / LSPET ``joints.mat``.

    Args:
        path (str): The ``.mat`` file (key ``joints``).
        variant (str): ``'lsp'`` (3 x 14 x N), ``'lspet'`` (14 x 3 x N) or
            ``'auto'`` (from the array shape).

    Returns:
        tuple: ``(coords, labelled, occluded, variant)``: coords (N, 14, 2)
        float32, labelled (N, 14) bool (finite coordinates), occluded
        (N, 14) bool in the common convention (1 = occluded), and the
        variant found.

    Raises:
        ValueError: naming the file, for a missing ``joints`` key, a wrong
            array shape, or a shape that contradicts ``variant``.
    """
    if variant not in VARIANTS:
        raise ValueError(f'variant must be one of {VARIANTS}, got {variant!r}')
    with get_local_path(path) as local_path:
        mat = loadmat(local_path)
    if 'joints' not in mat:
        keys = sorted(k for k in mat if not k.startswith('__'))
        raise ValueError(f'{path}: no "joints" array (keys: {keys})')
    joints = np.asarray(mat['joints'], dtype=np.float64)
    shape = joints.shape
    found = None
    if joints.ndim == 3 and shape[:2] == (3, 14):
        found = 'lsp'
    elif joints.ndim == 3 and shape[:2] == (14, 3):
        found = 'lspet'
    if found is None or (variant != 'auto' and variant != found):
        expected = {
            'auto': '3x14xN (LSP) or 14x3xN (LSP-extended)',
            'lsp': '3x14xN (LSP)',
            'lspet': '14x3xN (LSP-extended)'
        }[variant]
        raise ValueError(f'{path}: "joints" has shape {shape}, expected '
                         f'{expected}')
    if found == 'lsp':
        joints = joints.transpose(2, 1, 0)  # (N, 14, 3)
        occluded = joints[..., 2] > 0.5  # LSP: 1 = occluded
    else:
        joints = joints.transpose(2, 0, 1)  # (N, 14, 3)
        occluded = joints[..., 2] < 0.5  # LSPET: 1 = visible
    coords = joints[..., :2].astype(np.float32)
    labelled = np.isfinite(coords).all(-1)
    coords[~labelled] = 0
    return coords, labelled, occluded & labelled, found


def lsp_bbox_joints(labelled: np.ndarray,
                    occluded: np.ndarray,
                    variant: str,
                    bbox_joints: str = 'auto') -> np.ndarray:
    """Which joints define each person's box (see the module docstring).

    Args:
        labelled (np.ndarray): (N, 14) bool, joints with coordinates.
        occluded (np.ndarray): (N, 14) bool, occluded joints.
        variant (str): ``'lsp'`` or ``'lspet'``.
        bbox_joints (str): ``'visible'`` (labelled and not occluded; all
            labelled joints of a person without a visible one),
            ``'labelled'``, or ``'auto'``: ``'visible'`` for LSPET,
            ``'labelled'`` for LSP. Defaults to ``'auto'``.

    Returns:
        np.ndarray: (N, 14) bool.
    """
    if bbox_joints not in BBOX_JOINTS:
        raise ValueError(f'bbox_joints must be one of {BBOX_JOINTS}, got '
                         f'{bbox_joints!r}')
    if bbox_joints == 'auto':
        bbox_joints = 'visible' if variant == 'lspet' else 'labelled'
    if bbox_joints == 'labelled':
        return labelled.copy()
    visible = labelled & ~occluded
    return np.where(visible.any(1, keepdims=True), visible, labelled)


def lsp_joint_boxes(coords: np.ndarray, use: np.ndarray) -> np.ndarray:
    """Tight boxes of the chosen joints.

    Args:
        coords (np.ndarray): (N, 14, 2) joint coordinates.
        use (np.ndarray): (N, 14) bool, the joints to enclose.

    Returns:
        np.ndarray: (N, 4) float32 boxes x1, y1, x2, y2 (zeros for a person
        without any chosen joint).
    """
    sel = use[..., None]
    lo = np.where(sel, coords, np.inf).min(1)
    hi = np.where(sel, coords, -np.inf).max(1)
    boxes = np.concatenate([lo, hi], 1).astype(np.float32)
    boxes[~use.any(1)] = 0
    return boxes


@DATASETS.register_module()
class LspDataset(BaseCocoStyleDataset):
    """Leeds Sports Pose (LSP) and LSP-extended for top-down pose estimation.

    See the module docstring for the file conventions.

    Args:
        ann_file (str): The ``joints.mat`` file, relative to ``data_root``.
            Defaults to ``'joints.mat'``.
        variant (str): ``'auto'`` (by array shape), ``'lsp'`` or
            ``'lspet'``. Defaults to ``'auto'``.
        split (str): ``'train'``, ``'val'``/``'test'`` or ``'all'``.
            Defaults to ``'all'``.
        num_test (int, optional): Size of the test split (the LAST
            ``num_test`` images). Defaults to N // 2 for LSP (1000 of 2000)
            and 0 for LSPET (a training set).
        occluded_as_invisible (bool): Give occluded joints
            ``keypoints_visible = 0``. Defaults to False.
        bbox_joints (str): Joints that define the person box: ``'auto'``
            (``'visible'`` for LSPET, ``'labelled'`` for LSP, following
            CPM's ``genJSON.m``), ``'visible'`` or ``'labelled'``.
            Defaults to ``'auto'``.
        bbox_padding (float): Factor applied to the tight joint box.
            Defaults to 1.0.
        coordinate_offset (float): Subtracted from the stored coordinates.
            Defaults to 0.
        img_name_tmpl (str, optional): Image name template (1-based index);
            defaults to ``'im{:04d}.jpg'`` (LSP) / ``'im{:05d}.jpg'`` (LSPET).
        check_images (bool): Raise if an image of a listed joints column is
            missing (local files only). Defaults to True.
        **kwargs: ``BaseCocoStyleDataset`` arguments (``data_root``,
            ``data_prefix=dict(img='images/')``, ``pipeline``,
            ``test_mode``, ``metainfo``, ...). ``bbox_file`` is not
            supported.

    Each instance carries ``keypoints`` (1, 14, 2), ``keypoints_visible``
    (1, 14), ``keypoints_occluded`` (1, 14), ``bbox`` (1, 4) xyxy,
    ``bbox_score`` (1,), ``num_keypoints`` and ``img_path``.
    """

    # the one LSP meta file, which configs read too
    METAINFO: dict = dict(from_file=config_file('_base_/datasets/lsp.py'))

    def __init__(self,
                 ann_file: str = 'joints.mat',
                 variant: str = 'auto',
                 split: str = 'all',
                 num_test: Optional[int] = None,
                 occluded_as_invisible: bool = False,
                 bbox_joints: str = 'auto',
                 bbox_padding: float = 1.0,
                 coordinate_offset: float = 0.0,
                 img_name_tmpl: Optional[str] = None,
                 check_images: bool = True,
                 **kwargs):
        if variant not in VARIANTS:
            raise ValueError(
                f'variant must be one of {VARIANTS}, got {variant!r}')
        if split not in SPLITS:
            raise ValueError(f'split must be one of {SPLITS}, got {split!r}')
        if num_test is not None and (not isinstance(num_test, int)
                                     or num_test < 0):
            raise ValueError(f'num_test must be an int >= 0, got {num_test!r}')
        if bbox_joints not in BBOX_JOINTS:
            raise ValueError(f'bbox_joints must be one of {BBOX_JOINTS}, '
                             f'got {bbox_joints!r}')
        if not bbox_padding > 0:
            raise ValueError(f'bbox_padding must be > 0, got {bbox_padding}')
        if kwargs.get('bbox_file'):
            raise ValueError('LspDataset does not support bbox_file')
        kwargs.setdefault('data_prefix', dict(img='images/'))
        self.variant = variant
        self.split = split
        self.num_test = num_test
        self.occluded_as_invisible = occluded_as_invisible
        self.bbox_joints = bbox_joints
        self.bbox_padding = float(bbox_padding)
        self.coordinate_offset = float(coordinate_offset)
        self.img_name_tmpl = img_name_tmpl
        self.check_images = check_images
        super().__init__(ann_file=ann_file, **kwargs)

    def _split_range(self, num: int, variant: str) -> range:
        num_test = self.num_test
        if num_test is None:
            num_test = num // 2 if variant == 'lsp' else 0
        if num_test > num:
            raise ValueError(f'{self.ann_file}: num_test={num_test} > '
                             f'{num} images')
        if self.split == 'train':
            return range(0, num - num_test)
        if self.split in ('val', 'test'):
            return range(num - num_test, num)
        return range(num)

    def _load_annotations(self):
        """Read ``joints.mat`` -> (instance_list, image_list)."""
        if not exists(self.ann_file):
            raise FileNotFoundError(
                f'LSP annotation file {self.ann_file} does not exist')
        coords, labelled, occluded, variant = load_lsp_joints(
            self.ann_file, self.variant)
        coords = coords - self.coordinate_offset
        boxes = lsp_joint_boxes(
            coords,
            lsp_bbox_joints(labelled, occluded, variant, self.bbox_joints))
        tmpl = self.img_name_tmpl or IMG_NAME_TMPL[variant]
        img_dir = self.data_prefix.get('img', '') or ''

        instance_list, image_list = [], []
        for index in self._split_range(len(coords), variant):
            img_name = tmpl.format(index + 1)
            img_path = osp.join(img_dir, img_name)
            if self.check_images and not osp.isfile(img_path) \
                    and '://' not in img_path:
                raise FileNotFoundError(
                    f'{self.ann_file}: joints column {index} (1-based image '
                    f'{index + 1}) has no image file {img_path}')
            vis = labelled[index].copy()
            if self.occluded_as_invisible:
                vis &= ~occluded[index]
            kpts = coords[index]
            x1, y1, x2, y2 = boxes[index]
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            w = max(x2 - x1, 1.) * self.bbox_padding
            h = max(y2 - y1, 1.) * self.bbox_padding
            bbox = np.array([[cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]],
                            dtype=np.float32)
            img_id = index + 1
            instance_list.append({
                'id':
                img_id,
                'img_id':
                img_id,
                'img_path':
                img_path,
                'bbox':
                bbox,
                'bbox_score':
                np.ones(1, dtype=np.float32),
                'keypoints':
                kpts[None].astype(np.float32),
                'keypoints_visible':
                vis[None].astype(np.float32),
                'keypoints_occluded':
                occluded[index][None].astype(np.float32),
                'num_keypoints':
                int(vis.sum()),
                'area':
                np.array([w * h], dtype=np.float32),
                'iscrowd':
                0,
                'category_id':
                1,
                'lsp_variant':
                variant,
            })
            image_list.append({'img_id': img_id, 'img_path': img_path})
        return instance_list, image_list


def lsp_to_coco(data_root: str,
                out_file: str,
                variant: str = 'auto',
                split: str = 'all',
                num_test: Optional[int] = None,
                img_dir: str = 'images',
                bbox_joints: str = 'auto') -> dict:
    """Write LSP / LSP-extended ``joints.mat`` as a COCO-style keypoint json
    (``tools/lsp2coco.py``) and return it.

    The joints are read as :class:`LspDataset` reads them: COCO ``v`` = 2
    for a visible joint, 1 for an occluded (still annotated) joint, 0 for a
    joint without finite coordinates (stored as 0, 0); ``bbox`` is the tight
    box (xywh) of the joints ``bbox_joints`` selects, ``area`` its area.

    Args:
        data_root (str): Folder with ``joints.mat`` and ``img_dir``.
        out_file (str): The json to write.
        variant (str): ``'auto'``, ``'lsp'`` or ``'lspet'``.
        split (str): ``'train'``, ``'test'`` or ``'all'``.
        num_test (int, optional): Test split size (default N/2 for LSP, 0
            for LSPET).
        img_dir (str): Image folder below ``data_root``.
        bbox_joints (str): ``'auto'``, ``'visible'`` or ``'labelled'``.

    Returns:
        dict: The COCO json (images, annotations, categories).
    """
    mat = osp.join(data_root, 'joints.mat')
    coords, labelled, occluded, variant = load_lsp_joints(mat, variant)
    boxes = lsp_joint_boxes(
        coords, lsp_bbox_joints(labelled, occluded, variant, bbox_joints))
    n = len(coords)
    if num_test is None:
        num_test = n // 2 if variant == 'lsp' else 0
    if not 0 <= num_test <= n:
        raise ValueError(f'{mat}: num_test={num_test} out of [0, {n}]')
    indices = {
        'train': range(0, n - num_test),
        'test': range(n - num_test, n),
        'all': range(n)
    }[split]
    meta = parse_pose_metainfo(LspDataset.METAINFO)
    names = [meta['keypoint_id2name'][i] for i in range(14)]
    skeleton = [[a + 1, b + 1] for a, b in meta['skeleton_links']]
    images, annotations = [], []
    for index in indices:
        file_name = IMG_NAME_TMPL[variant].format(index + 1)
        path = osp.join(data_root, img_dir, file_name)
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'{mat}: joints column {index} (1-based image {index + 1}) '
                f'has no image file {path}')
        with Image.open(path) as im:
            width, height = im.size
        lab = labelled[index]
        v = np.where(lab, np.where(occluded[index], 1, 2), 0)
        xy = np.where(lab[:, None], coords[index], 0)
        kpts = np.concatenate([xy, v[:, None]], -1)
        x1, y1, x2, y2 = (float(t) for t in boxes[index])
        w, h = max(x2 - x1, 1.), max(y2 - y1, 1.)
        image_id = index + 1
        images.append(
            dict(id=image_id, file_name=file_name, width=width, height=height))
        annotations.append(
            dict(
                id=image_id,
                image_id=image_id,
                category_id=1,
                iscrowd=0,
                keypoints=[round(float(t), 3) for t in kpts.reshape(-1)],
                num_keypoints=int(lab.sum()),
                bbox=[float(x1), float(y1), w, h],
                area=w * h))
    coco = dict(
        info=dict(description=f'{variant.upper()} {split} split, converted '
                  'by mmpose_ext tools/lsp2coco.py'),
        licenses=[],
        images=images,
        annotations=annotations,
        categories=[
            dict(
                id=1,
                name='person',
                supercategory='person',
                keypoints=names,
                skeleton=skeleton)
        ])
    with open(out_file, 'w') as f:
        json.dump(coco, f)
    return coco
