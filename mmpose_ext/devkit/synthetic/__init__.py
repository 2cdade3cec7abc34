# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Synthetic human-pose data sets in the real COCO, MPII, LSP and CrowdPose
formats.

No real pose data can be downloaded on the machines this project is built
on, so the tests, the quick start and the learning benchmark use data sets
made here. They are written in exactly the layouts of the real downloads, so
MMPose's own ``CocoDataset`` / ``MpiiDataset`` / ``CrowdPoseDataset`` /
``CocoMetric`` / ``MpiiPCKAccuracy`` and the plugin's LSP reader run
unchanged on them; only ``data_root`` changes in a config. Part of the dev
kit: the plugin never imports it. Make a data set with
:func:`generate_dataset` or ``tools/make_synthetic_dataset.py``.

Modules
-------
* :mod:`.skeleton`: the articulated skeleton, its joint and part tables,
  pose sampling and placing a person in an image;
* :mod:`.keypoints`: each format's keypoints as skeleton joints, read from
  the dataset meta files (``configs/_base_/datasets/{coco,mpii,lsp}.py``,
  MMPose's ``crowdpose.py``);
* :mod:`.drawing`: colours, the canvas with its draw-order id map, people
  and backgrounds;
* :mod:`.scene`: :class:`SyntheticScene`, :func:`scene_rng` and
  :func:`render_scene` (people in a scene, occluders, visibility);
* :mod:`.files`, :mod:`.coco`, :mod:`.mpii`, :mod:`.lsp`,
  :mod:`.crowdpose`: argument checks, byte-stable writers and the formats'
  files.

Drawing
-------
Every person comes from one articulated 2-D skeleton model: a torso
quadrilateral, a neck, an elliptical head with hair, eyes, nose and ears
(the COCO face points), and thick round-capped limbs with hands and feet,
outlined and drawn back to front by a random depth order (arms in front of or
behind the torso). Limb lengths are proportions of the standing height (head
top to ankle) with per-person jitter and random foreshortening; joint angles
are drawn from plausible ranges, then a random global rotation, scale and
position are applied. About one person in four is seen from behind (mirrored
skeleton, no face drawn). Left and right stay learnable in every view: the
person's LEFT limbs are a lighter shade of the garment colour and carry a thin
light or dark stripe along their axis; RIGHT limbs are a darker shade without
stripe. Backgrounds are cluttered (smooth colour field, noise texture, random
lines, rectangles, ellipses and limb-like outlined sticks in clothing
colours). People can be truncated by the image border and partly hidden by an
opaque textured box ("occluder") or by another person.

Keypoints of all formats are functions of the same skeleton joints
(:data:`SKELETON_JOINTS`); their names and order are those of the dataset
meta files MMPose reads the same files with (:mod:`.keypoints`). MPII
``pelvis`` is the hip midpoint, ``thorax`` the shoulder midpoint,
``upper_neck`` the top of the neck (also LSP and CrowdPose ``neck``),
``head_top`` (CrowdPose ``top_head``) lies on the head's long axis inside the
drawn head.
Joint positions are integer pixel coordinates (pixel centres are integers,
the COCO / OpenCV convention) and the drawing uses exactly those integers.

Visibility is read from what was drawn, not guessed: every drawn element
(body part, occluder) writes its draw order into an id map. A keypoint is
*visible* when it lies in the image and nothing drawn after the body parts it
belongs to (e.g. forearm and hand for a wrist) covers its pixel; otherwise it
is *occluded* (self-occlusion, another person, the occluder box).

Formats
-------
All splits are deterministic in ``seed``: image ``index`` of split ``split``
is drawn from its own random stream ``SeedSequence([seed, fmt, split,
index])`` (see :func:`scene_rng`), so annotation files are byte-identical for
equal arguments, and an image does not change when other counts change.
``render_scene(scene_rng(seed, fmt, split, index), image_size, fmt,
max_people)`` re-draws a written image and returns what was drawn (person
masks, joints, visibility), which is how the tests check the files.

``coco`` (1..max_people people per image, fixed image size)::

    OUT/annotations/person_keypoints_{train,val}2017.json
    OUT/{train,val}2017/000000000001.jpg ...   (12-digit image id)
    OUT/person_detection_results/COCO_val2017_detections_AP_H_56_person.json

  The json has ``info``, ``licenses``, ``categories`` (person, the 17 COCO
  keypoint names and the 1-based COCO skeleton), ``images`` (id, file_name,
  width, height, ...) and ``annotations`` with ``keypoints`` (17 x [x, y, v],
  integers; v = 2 visible, v = 1 labelled but occluded, v = 0 not labelled:
  outside the image, or a face point of a person seen from behind, with x = y
  = 0 as in COCO), ``num_keypoints`` (#v > 0, always >= 5), ``bbox`` (xywh,
  the tight box of the visible silhouette and the labelled keypoints),
  ``segmentation`` (polygons of the visible silhouette), ``area`` (visible
  silhouette pixels), ``iscrowd`` = 0, ``category_id`` = 1. Image ids are
  1..num_train for train and continue for val; annotation ids are unique
  across both. The detection file is a list of ``{image_id, category_id: 1,
  bbox: xywh, score}`` over the val images: each person found by a jittered
  box with a high score (0.7-1.0, about 1 in 30 missed), occasional
  low-score duplicates and a few low-score (< 0.35) false positives, sorted
  by image and decreasing score.

``mpii`` (1..max_people people per image, fixed image size)::

    OUT/annotations/mpii_{train,val}.json
    OUT/annotations/mpii_gt_val.mat
    OUT/images/000000001.jpg ...   (9-digit number; val continues after train)

  The json is MMPose's MPII list, one entry per person: ``{joints_vis[16],
  joints[16][2], image, scale, center[2]}`` in MPII joint order, 1-based
  MATLAB coordinates. As in the real file, ``joints_vis`` = 1 means
  *annotated* (inside the image, visible or occluded) and 0 a missing joint
  (outside the image) whose coordinates are ``[-1, -1]``. ``center`` (1-based)
  is the torso centre (midpoint of pelvis and thorax); ``scale`` =
  1.2 * standing height / 200, which matches the real file, where scale * 200
  is about 1.2 times the ankle-to-head-top extent (about 6 times the
  upper-neck-to-head-top length). ``mpii_gt_val.mat`` has the keys of the
  official ``gt_valid.mat`` for the val entries, in json order:
  ``headboxes_src`` (2, 2, N) ``[[x1, y1], [x2, y2]]`` per person (1-based,
  the axis-aligned box of the drawn head ellipse), ``pos_gt_src`` (16, 2, N)
  (1-based joints, missing = -1), ``jnt_missing`` (16, N) (1 = missing) and
  ``dataset_joints`` (1, 16) cell of the official short names.

``lsp`` and ``lspet`` (exactly one person per image, centred and entirely
inside, images of varying size around ``image_size``; ``max_people`` is
checked but unused)::

    OUT/joints.mat
    OUT/images/im0001.jpg ...    (lsp: 4 digits; lspet: im00001.jpg, 5 digits)

  Image ``i`` (1-based) is column ``i`` of ``joints``. The first
  ``num_train`` images are the train split and the LAST ``num_val`` the
  val/test split, as LSP's train = first 1000 / test = last 1000.
  Joints are in LSP order (:data:`LSP_KEYPOINTS`; LSP ``neck`` is the
  skeleton's upper neck), 0-based pixel coordinates (used as they are, no
  MATLAB shift), float64, and every joint is annotated (also occluded ones).

  * ``lsp``: ``joints`` is 3 x 14 x N with rows ``x``, ``y`` and the flag of
    the original LSP file: **0 = visible, 1 = occluded**. The LSP README calls
    this row "a binary value indicating the visibility of each joint", but the
    released file stores it inverted, which is why public LSP readers flip it
    (Convolutional Pose Machines' ``genLSP.m``: ``joints(3,:,:) = 1 -
    joints(3,:,:)`` for LSP and not for LSPET; other loaders use
    ``np.logical_not`` on the LSP row only).
  * ``lspet``: ``joints`` is 14 x 3 x N with columns ``x``, ``y``,
    **1 = visible, 0 = occluded** (as in the LSP-extended file).

``crowdpose`` (COCO's scenes: 1..max_people people per image, fixed image
size; the paths of MMPose's CrowdPose configs)::

    OUT/annotations/mmpose_crowdpose_{trainval,test}.json   (train, val)
    OUT/annotations/det_for_crowd_test_0.1_0.5.json
    OUT/images/100001.jpg ...   (image id = 100000 + n; val continues)

  As MMPose's real ``test_crowdpose.json``: ``categories`` (person, the 14
  CrowdPose keypoint names of the real file, ``head`` for the meta's
  ``top_head``, and the meta's 1-based limbs), ``images`` (``file_name``,
  ``id``, ``width``, ``height``, ``crowdIndex``) and ``annotations`` with
  ``keypoints`` (14 x [x, y, v], flags and ``bbox`` as COCO's),
  ``num_keypoints`` (labelled keypoints of the 12 limb joints: the real
  file does not count head top and neck; ``iou_type='keypoints_crowd'``
  evaluation ignores a person with 0), ``iscrowd`` = 0, ``category_id`` =
  1, ``image_id``, ``id``; no ``segmentation``, no ``area`` (CrowdPose is
  evaluated with ``use_area=False``). ``crowdIndex`` is CrowdPose's crowd
  index, :func:`~.crowdpose.crowd_index` (it reproduces the real file's
  values). The detection file is as COCO's, on the val images.
"""
from typing import Dict, Tuple

from .coco import COCO_DET_FILE, make_coco_dataset
from .crowdpose import CROWDPOSE_DET_FILE, crowd_index, make_crowdpose_dataset
from .keypoints import (COCO_FROM_SKELETON, COCO_KEYPOINTS, COCO_SKELETON,
                        CROWDPOSE_FROM_SKELETON, CROWDPOSE_KEYPOINTS,
                        LSP_FROM_SKELETON, LSP_KEYPOINTS, MPII_FROM_SKELETON,
                        MPII_KEYPOINTS)
from .lsp import make_lsp_dataset
from .mpii import make_mpii_dataset
from .scene import FORMATS, SyntheticScene, render_scene, scene_rng
from .skeleton import BODY_PARTS, SKELETON_JOINTS

__all__ = [
    'FORMATS', 'SKELETON_JOINTS', 'BODY_PARTS', 'COCO_KEYPOINTS',
    'COCO_SKELETON', 'MPII_KEYPOINTS', 'LSP_KEYPOINTS', 'COCO_FROM_SKELETON',
    'MPII_FROM_SKELETON', 'LSP_FROM_SKELETON', 'COCO_DET_FILE',
    'SyntheticScene', 'scene_rng', 'render_scene', 'generate_dataset',
    'make_coco_dataset', 'make_mpii_dataset', 'make_lsp_dataset',
    'CROWDPOSE_KEYPOINTS', 'CROWDPOSE_FROM_SKELETON', 'CROWDPOSE_DET_FILE',
    'crowd_index', 'make_crowdpose_dataset'
]


def generate_dataset(fmt: str,
                     out_dir: str,
                     num_train: int = 64,
                     num_val: int = 16,
                     seed: int = 0,
                     image_size: Tuple[int, int] = (320, 240),
                     max_people: int = 2) -> Dict[str, str]:
    """Write a synthetic data set of one format under ``out_dir``.

    Args:
        fmt (str): 'coco', 'mpii', 'lsp', 'lspet' or 'crowdpose'.
        out_dir (str): Data root to create (its parents are created too).
        num_train (int): Train images (positive).
        num_val (int): Val images (positive).
        seed (int): Non-negative seed; equal arguments give byte-identical
            annotation files and images.
        image_size (tuple[int, int]): (width, height); LSP varies it per
            image by 0.8-1.25.
        max_people (int): Most people per image (1-100; LSP has one).

    Returns:
        dict[str, str]: The written paths, see :func:`make_coco_dataset`,
        :func:`make_mpii_dataset`, :func:`make_lsp_dataset` and
        :func:`make_crowdpose_dataset`.

    Raises:
        ValueError: An argument is invalid; the one-line message names it.
    """
    if fmt not in FORMATS:
        raise ValueError(f'fmt must be one of {", ".join(FORMATS)}, '
                         f'got {fmt!r}')
    kwargs = dict(
        num_train=num_train,
        num_val=num_val,
        seed=seed,
        image_size=image_size,
        max_people=max_people)
    if fmt == 'coco':
        return make_coco_dataset(out_dir, **kwargs)
    if fmt == 'mpii':
        return make_mpii_dataset(out_dir, **kwargs)
    if fmt == 'crowdpose':
        return make_crowdpose_dataset(out_dir, **kwargs)
    return make_lsp_dataset(out_dir, extended=fmt == 'lspet', **kwargs)
