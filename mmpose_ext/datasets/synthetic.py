# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Synthetic human-pose data sets in the real COCO, MPII and LSP formats.

No real pose data can be downloaded on the machines this project is built
on, so the tests, the quick start and the learning benchmark use data sets
made here. They are written in exactly the layouts of the real downloads, so
MMPose's own ``CocoDataset`` / ``MpiiDataset`` / ``CocoMetric`` /
``MpiiPCKAccuracy`` and the plugin's LSP reader run unchanged on them; only
``data_root`` changes in a config.

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
(:data:`SKELETON_JOINTS`): MPII ``pelvis`` is the hip midpoint, ``thorax``
the shoulder midpoint, ``upper_neck`` the top of the neck (also LSP
``neck``), ``head_top`` lies on the head's long axis inside the drawn head.
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
"""
import colorsys
import io
import json
import os
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Tuple

import cv2
import numpy as np
from scipy.io import savemat

__all__ = [
    'FORMATS', 'SKELETON_JOINTS', 'BODY_PARTS', 'COCO_KEYPOINTS',
    'COCO_SKELETON', 'MPII_KEYPOINTS', 'LSP_KEYPOINTS', 'COCO_FROM_SKELETON',
    'MPII_FROM_SKELETON', 'LSP_FROM_SKELETON', 'SyntheticScene', 'scene_rng',
    'render_scene', 'generate_dataset', 'make_coco_dataset',
    'make_mpii_dataset', 'make_lsp_dataset'
]

FORMATS = ('coco', 'mpii', 'lsp', 'lspet')

SKELETON_JOINTS = ('pelvis', 'left_hip', 'right_hip', 'left_knee',
                   'right_knee', 'left_ankle', 'right_ankle', 'thorax',
                   'left_shoulder', 'right_shoulder', 'left_elbow',
                   'right_elbow', 'left_wrist', 'right_wrist', 'upper_neck',
                   'head_top', 'nose', 'left_eye', 'right_eye', 'left_ear',
                   'right_ear')
_J = {name: i for i, name in enumerate(SKELETON_JOINTS)}
_FACE = np.array([_J['nose'], _J['left_eye'], _J['right_eye']])

BODY_PARTS = ('torso', 'neck', 'head', 'left_upper_arm', 'left_forearm',
              'left_hand', 'right_upper_arm', 'right_forearm', 'right_hand',
              'left_thigh', 'left_shin', 'left_foot', 'right_thigh',
              'right_shin', 'right_foot')
_P = {name: i for i, name in enumerate(BODY_PARTS)}

# The drawn parts a joint lies on; it is visible unless something drawn after
# all of them covers its pixel.
_JOINT_PARTS = {
    'pelvis': ('torso', ),
    'thorax': ('torso', 'neck'),
    'upper_neck': ('neck', 'head'),
    'head_top': ('head', ),
    'nose': ('head', ),
    'left_eye': ('head', ),
    'right_eye': ('head', ),
    'left_ear': ('head', ),
    'right_ear': ('head', ),
}
for _side in ('left', 'right'):
    _JOINT_PARTS.update({
        f'{_side}_hip': ('torso', f'{_side}_thigh'),
        f'{_side}_knee': (f'{_side}_thigh', f'{_side}_shin'),
        f'{_side}_ankle': (f'{_side}_shin', f'{_side}_foot'),
        f'{_side}_shoulder': ('torso', f'{_side}_upper_arm'),
        f'{_side}_elbow': (f'{_side}_upper_arm', f'{_side}_forearm'),
        f'{_side}_wrist': (f'{_side}_forearm', f'{_side}_hand'),
    })
# (num_joints, num_parts) bool
_JOINT_ON_PART = np.zeros((len(SKELETON_JOINTS), len(BODY_PARTS)), bool)
for _name, _parts in _JOINT_PARTS.items():
    _JOINT_ON_PART[_J[_name], [_P[p] for p in _parts]] = True

COCO_KEYPOINTS = ('nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear',
                  'left_shoulder', 'right_shoulder', 'left_elbow',
                  'right_elbow', 'left_wrist', 'right_wrist', 'left_hip',
                  'right_hip', 'left_knee', 'right_knee', 'left_ankle',
                  'right_ankle')
# 1-based limb list of the real person_keypoints_*.json
COCO_SKELETON = [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12],
                 [7, 13], [6, 7], [6, 8], [7, 9], [8, 10], [9, 11], [2, 3],
                 [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7]]
MPII_KEYPOINTS = ('right_ankle', 'right_knee', 'right_hip', 'left_hip',
                  'left_knee', 'left_ankle', 'pelvis', 'thorax', 'upper_neck',
                  'head_top', 'right_wrist', 'right_elbow', 'right_shoulder',
                  'left_shoulder', 'left_elbow', 'left_wrist')
# ``dataset_joints`` of the official MPII gt_valid.mat
_MPII_SHORT_NAMES = ('rank', 'rkne', 'rhip', 'lhip', 'lkne', 'lank', 'pelv',
                     'thor', 'neck', 'head', 'rwri', 'relb', 'rsho', 'lsho',
                     'lelb', 'lwri')
LSP_KEYPOINTS = ('right_ankle', 'right_knee', 'right_hip', 'left_hip',
                 'left_knee', 'left_ankle', 'right_wrist', 'right_elbow',
                 'right_shoulder', 'left_shoulder', 'left_elbow', 'left_wrist',
                 'neck', 'head_top')

COCO_FROM_SKELETON = np.array([_J[n] for n in COCO_KEYPOINTS])
MPII_FROM_SKELETON = np.array([_J[n] for n in MPII_KEYPOINTS])
LSP_FROM_SKELETON = np.array(
    [_J['upper_neck' if n == 'neck' else n] for n in LSP_KEYPOINTS])

COCO_DET_FILE = 'COCO_val2017_detections_AP_H_56_person.json'
_FMT_CODE = {fmt: i for i, fmt in enumerate(FORMATS)}
_SPLIT_CODE = {'train': 0, 'val': 1}
_JPEG_QUALITY = 90
_MAX_PEOPLE = 100
_MIN_IMAGE_SIDE, _MAX_IMAGE_SIDE = 64, 4096
# MPII: scale * 200 px ~= 1.2 x the ankle-to-head-top extent (real file)
_MPII_SCALE_PER_HEIGHT = 1.2
# a COCO person needs this many labelled keypoints
_MIN_LABELLED = 5

# skin tones (BGR)
_SKIN_TONES = np.array([(196, 222, 250), (160, 196, 234), (128, 166, 214),
                        (96, 132, 182), (66, 96, 146), (48, 68, 104)],
                       np.float64)


@dataclass(frozen=True)
class _SceneStyle:
    """How people are placed in one format's images."""
    multi_person: bool  # False: exactly one centred person (LSP)
    height_range: Tuple[float, float]  # standing height / image height
    truncation_prob: float  # per person: may extend past the border
    occluder_prob: float  # per image: one opaque box over a person
    back_view_prob: float  # per person: seen from behind
    size_range: Tuple[float, float] = (1.0, 1.0)  # image side / image_size


_STYLES = {
    'coco': _SceneStyle(True, (0.35, 0.9), 0.25, 0.35, 0.25),
    'mpii': _SceneStyle(True, (0.4, 0.9), 0.15, 0.3, 0.25),
    'lsp': _SceneStyle(False, (0.7, 0.9), 0.0, 0.3, 0.25, (0.8, 1.25)),
}
_STYLES['lspet'] = _STYLES['lsp']


@dataclass
class SyntheticScene:
    """One rendered image with everything known about what was drawn.

    ``P`` people, ``J = len(SKELETON_JOINTS)`` skeleton joints.

    Attributes:
        image (np.ndarray): (H, W, 3) uint8 BGR image, as written to disk
            (before JPEG compression).
        background (np.ndarray): (H, W, 3) uint8 BGR clutter under the people.
        draw_ids (np.ndarray): (H, W) int32 id of the topmost drawn element at
            each pixel: 0 background, then body parts and occluders in
            drawing order.
        id_person (np.ndarray): (num_ids, ) person index of each draw id, -1
            for the background and occluders.
        id_part (np.ndarray): (num_ids, ) ``BODY_PARTS`` index of each draw
            id, -1 for the background and occluders.
        keypoints (np.ndarray): (P, J, 2) int64 joint pixel coordinates in
            ``SKELETON_JOINTS`` order (may lie outside the image).
        in_image (np.ndarray): (P, J) bool, inside the image.
        annotated (np.ndarray): (P, J) bool, False for the face points (nose,
            eyes) of people seen from behind, which are not drawn.
        visible (np.ndarray): (P, J) bool, in the image, annotated and not
            covered by anything drawn after the joint's own parts.
        head_boxes (np.ndarray): (P, 4) float64 axis-aligned box of the drawn
            head ellipse, x1, y1, x2, y2 (0-based pixels).
        heights (np.ndarray): (P, ) float64 standing height (head top to
            ankle of the unposed skeleton) in pixels.
        centers (np.ndarray): (P, 2) float64 torso centre (midpoint of pelvis
            and thorax) in pixels.
    """
    image: np.ndarray
    background: np.ndarray
    draw_ids: np.ndarray
    id_person: np.ndarray
    id_part: np.ndarray
    keypoints: np.ndarray
    in_image: np.ndarray
    annotated: np.ndarray
    visible: np.ndarray
    head_boxes: np.ndarray
    heights: np.ndarray
    centers: np.ndarray

    @property
    def num_people(self) -> int:
        return len(self.keypoints)

    def person_mask(self, person: int) -> np.ndarray:
        """(H, W) bool mask of the visible pixels of one person."""
        return self.id_person[self.draw_ids] == person


# ---------------------------------------------------------------------------
# Skeleton model
# ---------------------------------------------------------------------------


def _direction(angle_deg):
    """Unit vector(s) at ``angle_deg`` from straight down (+y), turning
    towards +x for positive angles. Returns shape (..., 2)."""
    a = np.deg2rad(angle_deg)
    return np.stack([np.sin(a), np.cos(a)], axis=-1)


def _uniform_mixture(rng, ranges, probs):
    """One sample from a mixture of uniform ranges [(lo, hi), ...]."""
    lo, hi = ranges[rng.choice(len(ranges), p=probs)]
    return rng.uniform(lo, hi)


@dataclass
class _Pose:
    """An unposed-scale skeleton: lengths in standing heights (height 1),
    y down, pelvis at the origin, person's left at +x in a front view."""
    joints: np.ndarray  # (J, 2)
    foot_ends: np.ndarray  # (2, 2) left, right toe points
    head_center: np.ndarray  # (2, )
    head_up: np.ndarray  # (2, ) unit vector from chin to head top
    head_axes: Tuple[float, float]  # semi-axes across / along head_up
    thickness: Dict[str, float]  # part -> line thickness (heights)
    hand_radius: float
    depth: Dict[str, float]  # part -> drawing depth (larger = in front)


def _sample_pose(rng) -> _Pose:
    """Draw a random plausible pose of the canonical skeleton."""
    jitter = rng.uniform(0.92, 1.08, size=9)
    thigh, shin = 0.245 * jitter[0], 0.235 * jitter[1]
    torso, neck, head = 0.30 * jitter[2], 0.05 * jitter[3], 0.17 * jitter[4]
    upper_arm, forearm = 0.165 * jitter[5], 0.145 * jitter[6]
    half_shoulders, half_hips = 0.11 * jitter[7], 0.075 * jitter[8]

    def foreshorten():
        # limbs pointing towards the camera look shorter
        return rng.uniform(0.55, 1.0) if rng.random() < 0.25 else \
            rng.uniform(0.92, 1.0)

    joints = np.zeros((len(SKELETON_JOINTS), 2))
    lean = float(np.clip(rng.normal(0, 8), -25, 25))
    hip_tilt = rng.normal(0, 4)
    neck_bend = rng.normal(0, 8)
    head_roll = rng.normal(0, 12)

    joints[_J['thorax']] = -torso * _direction(lean)
    for side, sign in (('left', 1), ('right', -1)):
        joints[_J[f'{side}_hip']] = sign * half_hips * _direction(hip_tilt +
                                                                  90)
        joints[_J[f'{side}_shoulder']] = (
            joints[_J['thorax']] +
            sign * half_shoulders * _direction(lean + 90))
    joints[_J['upper_neck']] = joints[
        _J['thorax']] - neck * _direction(lean + neck_bend)

    head_angle = lean + neck_bend + head_roll
    head_up = -_direction(head_angle)
    head_across = _direction(head_angle + 90)  # towards the person's left
    joints[_J['head_top']] = joints[_J['upper_neck']] + head * head_up
    head_center = joints[_J['upper_neck']] + 0.5 * head * head_up
    # upper neck and head top lie at 0.88 of the long semi-axis: inside
    semi_long = 0.5 * head / 0.88
    semi_across = 0.8 * semi_long
    joints[_J['nose']] = head_center - 0.15 * semi_long * head_up
    for side, sign in (('left', 1), ('right', -1)):
        joints[_J[f'{side}_eye']] = (
            head_center + 0.12 * semi_long * head_up +
            sign * 0.4 * semi_across * head_across)
        joints[_J[f'{side}_ear']] = (
            head_center + 0.05 * semi_long * head_up +
            sign * 0.97 * semi_across * head_across)

    foot_ends = np.zeros((2, 2))
    for i, (side, sign) in enumerate((('left', 1), ('right', -1))):
        abduction = _uniform_mixture(rng, [(-15, 80), (80, 170)], [0.7, 0.3])
        upper_angle = lean + sign * abduction
        flexion = _uniform_mixture(rng, [(-60, 60), (-150, 150)], [0.6, 0.4])
        elbow = joints[_J[f'{side}_shoulder']] + (
            upper_arm * foreshorten() * _direction(upper_angle))
        joints[_J[f'{side}_elbow']] = elbow
        joints[_J[f'{side}_wrist']] = elbow + forearm * foreshorten() * (
            _direction(upper_angle + sign * flexion))

        leg_spread = _uniform_mixture(rng, [(-12, 30), (-25, 100)], [0.8, 0.2])
        thigh_angle = hip_tilt + sign * leg_spread
        bend = _uniform_mixture(rng, [(-35, 35), (-110, 110)], [0.8, 0.2])
        knee = joints[_J[f'{side}_hip']] + thigh * foreshorten() * _direction(
            thigh_angle)
        joints[_J[f'{side}_knee']] = knee
        shin_angle = thigh_angle + sign * bend
        ankle = knee + shin * foreshorten() * _direction(shin_angle)
        joints[_J[f'{side}_ankle']] = ankle
        foot_ends[i] = ankle + 0.06 * _direction(shin_angle +
                                                 sign * rng.uniform(50, 100))
    joints[_J['pelvis']] = joints[[_J['left_hip'], _J['right_hip']]].mean(0)

    build = rng.uniform(0.85, 1.2)
    thickness = {
        'neck': 0.045,
        'upper_arm': 0.052,
        'forearm': 0.042,
        'thigh': 0.07,
        'shin': 0.055,
        'foot': 0.03,
        'torso_margin': 0.03,
    }
    thickness = {k: v * build for k, v in thickness.items()}

    depth = {'torso': 0.0, 'neck': 0.05, 'head': 0.1}
    for side in ('left', 'right'):
        # arms in front of the torso mostly; legs always behind (hips are
        # inside the torso polygon); tiny offsets give left/right an order
        arm = (0.5 if rng.random() < 0.65 else -0.5) + rng.uniform(0, 0.01)
        leg = -1.0 + rng.uniform(0, 0.01)
        for k, part in enumerate(('upper_arm', 'forearm', 'hand')):
            depth[f'{side}_{part}'] = arm + 0.02 * k
        for k, part in enumerate(('thigh', 'shin', 'foot')):
            depth[f'{side}_{part}'] = leg + 0.02 * k
    return _Pose(joints, foot_ends, head_center, head_up,
                 (semi_across, semi_long), thickness, 0.028 * build, depth)


@dataclass
class _Person:
    """A pose placed in an image (pixel units) with its look."""
    joints: np.ndarray  # (J, 2) int64
    foot_ends: np.ndarray  # (2, 2) int64
    head_center: np.ndarray  # (2, ) int64
    head_axes: Tuple[int, int]
    head_angle: float  # degrees, of the 'across' axis from +x (cv2.ellipse)
    head_up: np.ndarray  # (2, ) unit vector in the image
    hand_radius: int
    thickness: Dict[str, int]
    depth: Dict[str, float]
    back_view: bool
    height: float
    center: np.ndarray  # (2, ) float torso centre
    box: np.ndarray  # (4, ) float x1, y1, x2, y2 of everything drawn


def _place(pose: _Pose, height: float, rotation: float, back_view: bool,
           center: np.ndarray) -> _Person:
    """Scale, mirror (back view), rotate and move a pose into the image,
    with its torso centre at ``center``."""
    c, s = np.cos(np.deg2rad(rotation)), np.sin(np.deg2rad(rotation))
    # mirror x for a back view: the person's left appears on image left
    linear = height * np.array([[c, -s], [s, c]]) @ np.diag(
        [-1.0 if back_view else 1.0, 1.0])
    torso_center = pose.joints[[_J['pelvis'], _J['thorax']]].mean(0)

    def transform(pts):
        return (np.asarray(pts) - torso_center) @ linear.T + center

    joints = np.rint(transform(pose.joints)).astype(np.int64)
    foot_ends = np.rint(transform(pose.foot_ends)).astype(np.int64)
    head_center = np.rint(transform(pose.head_center)).astype(np.int64)
    head_up = pose.head_up @ linear.T
    head_up /= np.linalg.norm(head_up)
    semi_across, semi_long = (
        max(2, int(round(a * height))) for a in pose.head_axes)
    head_angle = float(np.degrees(np.arctan2(-head_up[0], head_up[1])))
    thickness = {
        k: max(2, int(round(v * height)))
        for k, v in pose.thickness.items()
    }
    hand_radius = max(2, int(round(pose.hand_radius * height)))

    pad = max(thickness.values()) / 2 + hand_radius
    pts = np.concatenate([joints, foot_ends])
    half_head = np.hypot(semi_long, semi_across)
    box = np.array([
        min(pts[:, 0].min() - pad, head_center[0] - half_head),
        min(pts[:, 1].min() - pad, head_center[1] - half_head),
        max(pts[:, 0].max() + pad, head_center[0] + half_head),
        max(pts[:, 1].max() + pad, head_center[1] + half_head),
    ])
    return _Person(joints, foot_ends, head_center, (semi_across, semi_long),
                   head_angle, head_up, hand_radius, thickness,
                   dict(pose.depth), back_view, height,
                   np.asarray(center, float), box)


# ---------------------------------------------------------------------------
# Colours and drawing
# ---------------------------------------------------------------------------


def _random_color(rng, sat=(0.25, 1.0), val=(0.3, 0.95)) -> np.ndarray:
    """A random BGR colour (float64, 0-255)."""
    r, g, b = colorsys.hsv_to_rgb(rng.random(), rng.uniform(*sat),
                                  rng.uniform(*val))
    return np.array([b, g, r]) * 255


def _bgr(color) -> Tuple[int, int, int]:
    """A cv2 colour: three ints in [0, 255]."""
    return tuple(min(255, max(0, int(round(float(v))))) for v in color)


def _shade(color, side: str) -> np.ndarray:
    """Left parts lighter, right parts darker (left/right cue)."""
    color = np.asarray(color, float)
    return color + 0.3 * (255 - color) if side == 'left' else 0.72 * color


def _person_palette(rng) -> Dict[str, np.ndarray]:
    skin = _SKIN_TONES[rng.integers(len(_SKIN_TONES))] * rng.uniform(
        0.9, 1.08, 3)
    shirt = _random_color(rng)
    trousers = _random_color(rng)
    return {
        'skin': np.clip(skin, 0, 255),
        'shirt': shirt,
        'sleeve': shirt if rng.random() < 0.5 else np.clip(skin, 0, 255),
        'trousers': trousers,
        'shin': trousers if rng.random() < 0.75 else np.clip(skin, 0, 255),
        'hair': _random_color(rng, sat=(0.1, 0.7), val=(0.05, 0.45)),
        'shoe': _random_color(rng, sat=(0.0, 0.6), val=(0.05, 0.35)),
    }


class _Canvas:
    """Draws into the colour image (anti-aliased) and the draw-id map
    (aliased, one id per element) with the same primitives."""

    def __init__(self, image: np.ndarray):
        self.image = image
        self.ids = np.zeros(image.shape[:2], np.int32)
        self.id_person: List[int] = [-1]
        self.id_part: List[int] = [-1]

    def new_id(self, person: int, part: int) -> int:
        self.id_person.append(person)
        self.id_part.append(part)
        return len(self.id_person) - 1

    def limb(self, p0, p1, thickness, color, stripe, draw_id):
        p0, p1 = tuple(map(int, p0)), tuple(map(int, p1))
        cv2.line(self.image, p0, p1, _bgr(0.45 * color), thickness + 2,
                 cv2.LINE_AA)
        cv2.line(self.image, p0, p1, _bgr(color), thickness, cv2.LINE_AA)
        if stripe is not None:
            cv2.line(self.image, p0, p1, stripe, max(1, thickness // 4),
                     cv2.LINE_AA)
        cv2.line(self.ids, p0, p1, draw_id, thickness + 2, cv2.LINE_8)

    def disk(self, center, radius, color, draw_id):
        center = tuple(map(int, center))
        cv2.circle(self.image, center, radius + 1, _bgr(0.45 * color), -1,
                   cv2.LINE_AA)
        cv2.circle(self.image, center, radius, _bgr(color), -1, cv2.LINE_AA)
        cv2.circle(self.ids, center, radius + 1, draw_id, -1, cv2.LINE_8)

    def polygon(self, points, color, draw_id):
        pts = np.asarray(points, np.int32).reshape(-1, 1, 2)
        cv2.fillPoly(self.image, [pts], _bgr(color), cv2.LINE_AA)
        cv2.polylines(self.image, [pts], True, _bgr(0.45 * color), 2,
                      cv2.LINE_AA)
        cv2.fillPoly(self.ids, [pts], draw_id, cv2.LINE_8)
        cv2.polylines(self.ids, [pts], True, draw_id, 2, cv2.LINE_8)


def _stripe_color(color) -> Tuple[int, int, int]:
    """A thin stripe that contrasts with the limb colour."""
    luma = float(np.dot(color, [0.114, 0.587, 0.299]))
    return (235, 235, 235) if luma < 140 else (25, 25, 25)


def _draw_torso(canvas, person, palette, draw_id):
    j = person.joints
    up = (j[_J['thorax']] - j[_J['pelvis']]).astype(float)
    up /= max(np.linalg.norm(up), 1e-6)
    across = (j[_J['left_shoulder']] - j[_J['right_shoulder']]).astype(float)
    across /= max(np.linalg.norm(across), 1e-6)
    # margin keeps shoulders, hips, thorax and pelvis inside the polygon
    m = person.thickness['torso_margin']
    corners = [
        j[_J['left_shoulder']] + m * (across + up),
        j[_J['right_shoulder']] + m * (-across + up),
        j[_J['right_hip']] + m * (-across - 0.5 * up),
        j[_J['left_hip']] + m * (across - 0.5 * up),
    ]
    canvas.polygon(np.rint(corners), palette['shirt'], draw_id)


def _draw_head(canvas, person, palette, draw_id, nose_color):
    center = tuple(map(int, person.head_center))
    across, along = person.head_axes
    angle = person.head_angle
    skin = palette['skin']
    # ears first so that only their outer halves show
    ear_axes = (max(1,
                    int(round(0.25 * across))), max(1,
                                                    int(round(0.3 * along))))
    for name in ('left_ear', 'right_ear'):
        ear = tuple(map(int, person.joints[_J[name]]))
        cv2.ellipse(canvas.image, ear, ear_axes, angle, 0, 360,
                    _bgr(0.8 * skin), -1, cv2.LINE_AA)
        cv2.ellipse(canvas.ids, ear, ear_axes, angle, 0, 360, draw_id, -1,
                    cv2.LINE_8)
    face = palette['hair'] if person.back_view else skin
    cv2.ellipse(canvas.image, center, (across + 1, along + 1), angle, 0, 360,
                _bgr(0.45 * face), -1, cv2.LINE_AA)
    cv2.ellipse(canvas.image, center, (across, along), angle, 0, 360,
                _bgr(face), -1, cv2.LINE_AA)
    cv2.ellipse(canvas.ids, center, (across + 1, along + 1), angle, 0, 360,
                draw_id, -1, cv2.LINE_8)
    if person.back_view:
        return
    # hair cap: the part of the head outline above 0.4 of the long axis
    outline = cv2.ellipse2Poly(center, (across, along), int(round(angle)), 0,
                               360, 10).astype(float)
    height_along = (outline - person.head_center) @ person.head_up
    cap = outline[height_along > 0.4 * along]
    if len(cap) >= 3:
        cv2.fillPoly(canvas.image, [np.rint(cap).astype(np.int32)],
                     _bgr(palette['hair']), cv2.LINE_AA)
    eye_radius = max(1, int(round(0.14 * across)))
    # left eye bluish, right eye brownish: one more left/right cue
    for name, color in (('left_eye', (120, 60, 30)), ('right_eye', (30, 50,
                                                                    90))):
        cv2.circle(canvas.image, tuple(map(int, person.joints[_J[name]])),
                   eye_radius, color, -1, cv2.LINE_AA)
    cv2.circle(canvas.image, tuple(map(int, person.joints[_J['nose']])),
               max(1, int(round(0.12 * across))), _bgr(nose_color), -1,
               cv2.LINE_AA)


def _draw_person(canvas: _Canvas, person: _Person, person_index: int, rng):
    """Draw all parts of one person back to front."""
    palette = _person_palette(rng)
    nose_color = 0.7 * palette['skin']
    j = person.joints
    t = person.thickness
    for part in sorted(person.depth, key=person.depth.get):
        draw_id = canvas.new_id(person_index, _P[part])
        if part == 'torso':
            _draw_torso(canvas, person, palette, draw_id)
        elif part == 'neck':
            canvas.limb(j[_J['thorax']], j[_J['upper_neck']], t['neck'],
                        palette['skin'], None, draw_id)
        elif part == 'head':
            _draw_head(canvas, person, palette, draw_id, nose_color)
        else:
            side, limb = part.split('_', 1)
            stripe_side = side == 'left'
            if limb == 'hand':
                canvas.disk(
                    j[_J[f'{side}_wrist']] + np.rint(
                        person.hand_radius * _unit(j[_J[f'{side}_wrist']] -
                                                   j[_J[f'{side}_elbow']])),
                    person.hand_radius, _shade(palette['skin'], side), draw_id)
                continue
            ends, color = {
                'upper_arm': (('shoulder', 'elbow'), palette['shirt']),
                'forearm': (('elbow', 'wrist'), palette['sleeve']),
                'thigh': (('hip', 'knee'), palette['trousers']),
                'shin': (('knee', 'ankle'), palette['shin']),
                'foot': (('ankle', None), palette['shoe']),
            }[limb]
            p0 = j[_J[f'{side}_{ends[0]}']]
            p1 = (
                person.foot_ends[0 if side == 'left' else 1]
                if ends[1] is None else j[_J[f'{side}_{ends[1]}']])
            color = _shade(color, side)
            stripe = (
                _stripe_color(color)
                if stripe_side and limb != 'foot' else None)
            canvas.limb(p0, p1, t[limb], color, stripe, draw_id)


def _unit(v) -> np.ndarray:
    v = np.asarray(v, float)
    n = np.linalg.norm(v)
    return v / n if n > 1e-6 else np.array([0.0, 1.0])


def _render_background(rng, width: int, height: int) -> np.ndarray:
    """Cluttered background: colour field, texture, shapes, limb-like sticks.

    Returns:
        np.ndarray: (height, width, 3) uint8 BGR.
    """
    coarse = rng.uniform(
        0, 255, (rng.integers(2, 7), rng.integers(2, 7), 3)).astype(np.float32)
    gray = coarse.mean(-1, keepdims=True)
    coarse = gray + (coarse - gray) * rng.uniform(0.3, 1.0)  # saturation
    field = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    # texture: blotches at a random scale plus fine grain
    cell = int(rng.integers(2, 9))
    blotch = rng.standard_normal((height // cell + 1, width // cell + 1, 1),
                                 dtype=np.float32)
    blotch = cv2.resize(
        blotch, (width, height), interpolation=cv2.INTER_LINEAR)[..., None]
    grain = rng.standard_normal((height, width, 1), dtype=np.float32)
    field += blotch * rng.uniform(5, 30) + grain * rng.uniform(2, 10)
    image = np.clip(field, 0, 255).astype(np.uint8)

    size = min(width, height)
    for _ in range(rng.integers(4, 13)):
        p0 = rng.integers(0, [width, height])
        p1 = rng.integers(0, [width, height])
        cv2.line(image, tuple(map(int, p0)), tuple(map(int, p1)),
                 _bgr(_random_color(rng)), int(rng.integers(1, 5)),
                 cv2.LINE_AA)
    for _ in range(rng.integers(2, 7)):
        p0 = rng.integers(0, [width, height])
        wh = rng.integers(size // 20 + 1, size // 3 + 2, 2)
        cv2.rectangle(image, tuple(map(int, p0)), tuple(map(int, p0 + wh)),
                      _bgr(_random_color(rng)),
                      -1 if rng.random() < 0.5 else int(rng.integers(1, 4)),
                      cv2.LINE_AA)
    for _ in range(rng.integers(2, 7)):
        center = rng.integers(0, [width, height])
        axes = rng.integers(size // 30 + 1, size // 5 + 2, 2)
        cv2.ellipse(image, tuple(map(int, center)), tuple(map(int, axes)),
                    float(rng.uniform(0,
                                      180)), 0, 360, _bgr(_random_color(rng)),
                    -1 if rng.random() < 0.5 else int(rng.integers(1, 4)),
                    cv2.LINE_AA)
    # distractors: outlined two-segment sticks as thick as limbs, some with
    # the left-limb stripe, so that limbs alone do not identify a person
    for _ in range(rng.integers(2, 6)):
        length = rng.uniform(0.08, 0.2) * size
        thickness = max(2, int(rng.uniform(0.02, 0.04) * size))
        start = rng.uniform(0, [width, height])
        angle = rng.uniform(0, 360)
        joint = start + length * _direction(angle)
        end = joint + length * _direction(angle + rng.uniform(-120, 120))
        color = _random_color(rng)
        stripe = _stripe_color(color) if rng.random() < 0.4 else None
        for p0, p1 in ((start, joint), (joint, end)):
            p0, p1 = tuple(map(int, np.rint(p0))), tuple(map(int, np.rint(p1)))
            cv2.line(image, p0, p1, _bgr(0.45 * color), thickness + 2,
                     cv2.LINE_AA)
            cv2.line(image, p0, p1, _bgr(color), thickness, cv2.LINE_AA)
            if stripe is not None:
                cv2.line(image, p0, p1, stripe, max(1, thickness // 4),
                         cv2.LINE_AA)
    return image


# ---------------------------------------------------------------------------
# Scenes
# ---------------------------------------------------------------------------


def scene_rng(seed: int, fmt: str, split: str,
              index: int) -> np.random.Generator:
    """The random stream of one image: ``split`` in {'train', 'val'},
    ``index`` 0-based within the split (for LSP: within the whole file)."""
    return np.random.default_rng(
        np.random.SeedSequence(
            [seed, _FMT_CODE[fmt], _SPLIT_CODE[split], index]))


def _box_overlap(a: np.ndarray, b: np.ndarray) -> Tuple[float, float]:
    """IoU and intersection over the smaller box of two xyxy boxes."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[2] - b[0]) * (b[3] - b[1])
    return (inter / (area_a + area_b - inter),
            inter / max(min(area_a, area_b), 1e-6))


def _in_image(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """(..., 2) integer points -> (...) bool inside the image."""
    return ((points[..., 0] >= 0) & (points[..., 0] < width) &
            (points[..., 1] >= 0) & (points[..., 1] < height))


def _labelled(person: _Person, width: int, height: int) -> np.ndarray:
    """(J, ) bool: joints a COCO annotator would label (in the image and,
    for face points, seen from the front)."""
    labelled = _in_image(person.joints, width, height)
    if person.back_view:
        labelled[_FACE] = False
    return labelled


def _sample_people(rng, style: _SceneStyle, width: int, height: int,
                   max_people: int) -> List[_Person]:
    """Place people without heavy overlap, each with enough joints inside."""
    if not style.multi_person:
        return [_sample_centred_person(rng, style, width, height)]
    people: List[_Person] = []
    num_people = int(rng.integers(1, max_people + 1))
    for _ in range(num_people):
        pose = _sample_pose(rng)
        back_view = bool(rng.random() < style.back_view_prob)
        truncated = bool(rng.random() < style.truncation_prob)
        for _attempt in range(30):
            scale = rng.uniform(*style.height_range) * height
            if len(people) > 0:
                # several people: smaller on average so they fit side by side
                scale *= rng.uniform(0.6, 1.0)
            rotation = (
                rng.normal(0, 15) if rng.random() < 0.85 else rng.uniform(
                    -180, 180))
            person = _place(pose, scale, rotation, back_view, np.zeros(2))
            lo, hi = person.box[:2], person.box[2:]
            extent = hi - lo
            slack = 0.35 * extent if truncated else np.full(2, -2.0)
            low = -lo - slack
            high = np.array([width - 1, height - 1]) - hi + slack
            if np.any(high < low):
                continue
            person = _place(pose, scale, rotation, back_view,
                            rng.uniform(low, high))
            if _labelled(person, width, height)[COCO_FROM_SKELETON].sum() < \
                    _MIN_LABELLED:
                continue
            overlaps = [_box_overlap(person.box, o.box) for o in people]
            if any(iou > 0.2 or ios > 0.4 for iou, ios in overlaps):
                continue
            people.append(person)
            break
    if not people:  # nothing fitted: fall back to one centred person
        people.append(_sample_centred_person(rng, style, width, height))
    return people


def _sample_centred_person(rng, style: _SceneStyle, width: int,
                           height: int) -> _Person:
    """One person centred in the image, fully inside (LSP)."""
    pose = _sample_pose(rng)
    back_view = bool(rng.random() < style.back_view_prob)
    rotation = rng.normal(0, 15) if rng.random() < 0.85 else rng.uniform(
        -180, 180)
    scale = rng.uniform(*style.height_range) * min(width, height)
    person = _place(pose, scale, rotation, back_view, np.zeros(2))
    extent = person.box[2:] - person.box[:2]
    # shrink until the whole body fits with a small margin
    fit = min(1.0, *((np.array([width, height]) - 6) / extent))
    person = _place(pose, scale * fit, rotation, back_view, np.zeros(2))
    box_center = (person.box[:2] + person.box[2:]) / 2
    center = (np.array([width, height]) - 1) / 2 - box_center
    return _place(pose, scale * fit, rotation, back_view, center)


def _visibility(canvas: _Canvas, people: List[_Person], width: int,
                height: int, part_ids: np.ndarray) -> np.ndarray:
    """(P, J) bool: not covered by anything drawn after the joint's parts.

    ``part_ids`` is (P, num_parts), the draw id of each person's parts.
    """
    visible = np.zeros((len(people), len(SKELETON_JOINTS)), bool)
    for p, person in enumerate(people):
        labelled = _labelled(person, width, height)
        xy = np.clip(person.joints, 0, [width - 1, height - 1])
        top_id = canvas.ids[xy[:, 1], xy[:, 0]]
        last_own_id = np.where(_JOINT_ON_PART, part_ids[p][None], 0).max(1)
        visible[p] = labelled & (top_id <= last_own_id)
    return visible


def _draw_occluder(rng, canvas: _Canvas, person: _Person, width: int,
                   height: int) -> None:
    """An opaque textured box over part of one person."""
    joint = person.joints[rng.integers(len(SKELETON_JOINTS))]
    size = np.maximum(rng.uniform(0.15, 0.4, 2) * person.height, 8).astype(int)
    corner = np.rint(joint - size * rng.uniform(0.2, 0.8, 2)).astype(int)
    x0, y0 = np.clip(corner, 0, [width, height])
    x1, y1 = np.clip(corner + size, 0, [width, height])
    if x1 <= x0 or y1 <= y0:
        return
    color = _random_color(rng).astype(np.float32)
    if rng.random() < 0.5:
        texture = rng.standard_normal(
            (y1 - y0, x1 - x0, 1), dtype=np.float32) * 20
    else:  # stripes
        period = int(rng.integers(4, 12))
        texture = (((np.arange(x1 - x0)[None, :, None] +
                     np.arange(y1 - y0)[:, None, None]) // period) % 2 *
                   40.0).astype(np.float32)
    canvas.image[y0:y1, x0:x1] = np.clip(color + texture, 0,
                                         255).astype(np.uint8)
    canvas.ids[y0:y1, x0:x1] = canvas.new_id(-1, -1)


def render_scene(rng: np.random.Generator,
                 image_size: Tuple[int, int],
                 fmt: str = 'coco',
                 max_people: int = 2) -> SyntheticScene:
    """Draw one image of a format's style and report what was drawn.

    Args:
        rng (np.random.Generator): The image's random stream (see
            :func:`scene_rng`).
        image_size (tuple[int, int]): (width, height) in pixels; for 'lsp'
            and 'lspet' each side is scaled by a random factor in
            [0.8, 1.25] (read the result from ``image.shape``).
        fmt (str): 'coco' or 'mpii' (1..max_people people, truncation),
            'lsp' or 'lspet' (one centred person, fully inside).
        max_people (int): Most people in one image (multi-person formats).

    Returns:
        SyntheticScene: image, background, draw-id map, keypoints and their
        visibility.
    """
    style = _STYLES[fmt]
    width, height = image_size
    if style.size_range != (1.0, 1.0):
        width, height = (
            int(v) for v in np.rint(
                np.array([width, height]) * rng.uniform(*style.size_range, 2)))
    background = _render_background(rng, width, height)
    people = _sample_people(rng, style, width, height, max_people)
    canvas = _Canvas(background.copy())
    part_ids = np.zeros((len(people), len(BODY_PARTS)), np.int64)
    for p, person in enumerate(people):
        first = len(canvas.id_person)
        _draw_person(canvas, person, p, rng)
        ids = np.arange(first, len(canvas.id_person))
        part_ids[p, np.array(canvas.id_part)[ids]] = ids
    visible = _visibility(canvas, people, width, height, part_ids)

    if rng.random() < style.occluder_prob:
        # an occluder that hides nearly all of someone is re-drawn elsewhere,
        # then given up: people must stay detectable
        saved = canvas.image.copy(), canvas.ids.copy(), len(canvas.id_person)
        for _ in range(3):
            _draw_occluder(rng, canvas, people[rng.integers(len(people))],
                           width, height)
            occluded = _visibility(canvas, people, width, height, part_ids)
            if occluded.sum(1).min() >= 3:
                visible = occluded
                break
            canvas.image[:], canvas.ids[:] = saved[0], saved[1]
            del canvas.id_person[saved[2]:], canvas.id_part[saved[2]:]

    annotated = np.ones((len(people), len(SKELETON_JOINTS)), bool)
    head_boxes = np.zeros((len(people), 4))
    for p, person in enumerate(people):
        if person.back_view:
            annotated[p, _FACE] = False
        across, along = person.head_axes
        up, side = person.head_up, np.array(
            [-person.head_up[1], person.head_up[0]])
        half = np.sqrt((across * side)**2 + (along * up)**2)
        head_boxes[p] = np.concatenate(
            [person.head_center - half, person.head_center + half])

    keypoints = np.stack([p.joints for p in people])
    return SyntheticScene(
        image=canvas.image,
        background=background,
        draw_ids=canvas.ids,
        id_person=np.array(canvas.id_person),
        id_part=np.array(canvas.id_part),
        keypoints=keypoints,
        in_image=_in_image(keypoints, width, height),
        annotated=annotated,
        visible=visible,
        head_boxes=head_boxes,
        heights=np.array([p.height for p in people]),
        centers=np.stack([p.center for p in people]))


# ---------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------


def _check_args(fmt, out_dir, num_train, num_val, seed, image_size,
                max_people) -> Tuple[int, int]:
    """Validate the public arguments; returns (width, height)."""

    def is_int(v):
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

    if fmt not in FORMATS:
        raise ValueError(f'fmt must be one of {", ".join(FORMATS)}, '
                         f'got {fmt!r}')
    for name, value in (('num_train', num_train), ('num_val', num_val)):
        if not is_int(value) or value < 1:
            raise ValueError(
                f'{name} must be a positive integer, got {value!r}')
    if not is_int(seed) or seed < 0:
        raise ValueError(f'seed must be a non-negative integer, got {seed!r}')
    if (not isinstance(image_size, (tuple, list)) or len(image_size) != 2
            or not all(is_int(v) for v in image_size)
            or not all(_MIN_IMAGE_SIDE <= v <= _MAX_IMAGE_SIDE
                       for v in image_size)):
        raise ValueError(
            f'image_size must be (width, height), integers in '
            f'[{_MIN_IMAGE_SIDE}, {_MAX_IMAGE_SIDE}], got {image_size!r}')
    if not is_int(max_people) or not 1 <= max_people <= _MAX_PEOPLE:
        raise ValueError(f'max_people must be an integer in '
                         f'[1, {_MAX_PEOPLE}], got {max_people!r}')
    if not isinstance(out_dir, (str, os.PathLike)) or not str(out_dir):
        raise ValueError(f'out_dir must be a directory path, got {out_dir!r}')
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise ValueError(f'out_dir {str(out_dir)!r} cannot be created: '
                         f'{e.strerror or e}') from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise ValueError(f'out_dir {str(out_dir)!r} is not writable')
    return int(image_size[0]), int(image_size[1])


def _makedirs(*paths: str) -> None:
    for path in paths:
        os.makedirs(path, exist_ok=True)


def _write_jpeg(path: str, image: np.ndarray) -> None:
    ok, data = cv2.imencode('.jpg', image,
                            [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY])
    if not ok:
        raise OSError(f'JPEG encoding failed for {path}')
    with open(path, 'wb') as f:
        f.write(data.tobytes())


def _write_json(path: str, obj) -> None:
    with open(path, 'w') as f:
        # dumps uses the C encoder, dump the pure-Python one
        f.write(json.dumps(obj, separators=(',', ':')))


def _write_mat(path: str, arrays: Dict[str, np.ndarray]) -> None:
    """savemat with a fixed header: scipy stamps the creation time into the
    116-byte MAT-5 header text, which would break byte-identical output."""
    buffer = io.BytesIO()
    savemat(buffer, arrays, do_compression=False, oned_as='column')
    data = bytearray(buffer.getvalue())
    header = b'MATLAB 5.0 MAT-file, written by mmpose_ext synthetic data'
    data[:116] = header.ljust(116, b' ')
    with open(path, 'wb') as f:
        f.write(bytes(data))


def _coco_annotation(scene: SyntheticScene, p: int, ann_id: int,
                     image_id: int) -> dict:
    """One COCO keypoint annotation of person ``p``."""
    height, width = scene.draw_ids.shape
    labelled = scene.in_image[p] & scene.annotated[p]
    flags = np.where(labelled, np.where(scene.visible[p], 2, 1), 0)
    keypoints = np.concatenate([scene.keypoints[p], flags[:, None]],
                               axis=1)[COCO_FROM_SKELETON]
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
    scores, some low-score duplicates, a few low-score false positives."""

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
    """Write a COCO-keypoints data set (see the module docstring).

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
    width, height = _check_args('coco', out_dir, num_train, num_val, seed,
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
    _makedirs(
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
            _write_jpeg(
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
        _write_json(
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
    _write_json(paths['bbox_file'], detections)
    return paths


def make_mpii_dataset(out_dir: str,
                      num_train: int = 64,
                      num_val: int = 16,
                      seed: int = 0,
                      image_size: Tuple[int, int] = (320, 240),
                      max_people: int = 2) -> Dict[str, str]:
    """Write an MPII data set in MMPose's layout (see the module docstring).

    Args: as :func:`make_coco_dataset`.

    Returns:
        dict[str, str]: ``data_root``, ``train_ann``, ``val_ann``,
        ``headbox_file``, ``img_dir``.
    """
    width, height = _check_args('mpii', out_dir, num_train, num_val, seed,
                                image_size, max_people)
    paths = {
        'data_root': str(out_dir),
        'train_ann': osp.join(out_dir, 'annotations', 'mpii_train.json'),
        'val_ann': osp.join(out_dir, 'annotations', 'mpii_val.json'),
        'headbox_file': osp.join(out_dir, 'annotations', 'mpii_gt_val.mat'),
        'img_dir': osp.join(out_dir, 'images'),
    }
    _makedirs(osp.dirname(paths['train_ann']), paths['img_dir'])
    val_joints, val_missing, val_heads = [], [], []
    for split, count, first_number in (('train', num_train, 1),
                                       ('val', num_val, num_train + 1)):
        entries = []
        for index in range(count):
            scene = render_scene(
                scene_rng(seed, 'mpii', split, index), (width, height), 'mpii',
                max_people)
            image_name = f'{first_number + index:09d}.jpg'
            _write_jpeg(osp.join(paths['img_dir'], image_name), scene.image)
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
        _write_json(paths[f'{split}_ann'], entries)
    dataset_joints = np.empty((1, len(_MPII_SHORT_NAMES)), dtype=object)
    dataset_joints[0] = list(_MPII_SHORT_NAMES)
    _write_mat(
        paths['headbox_file'], {
            'dataset_joints': dataset_joints,
            'jnt_missing': np.stack(val_missing, -1).astype(np.float64),
            'pos_gt_src': np.stack(val_joints, -1),
            'headboxes_src': np.stack(val_heads, -1),
        })
    return paths


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

    Args: as :func:`make_coco_dataset`, plus
        extended (bool): Write the LSPET layout (``joints`` 14 x 3 x N,
            1 = visible, 5-digit image names) instead of LSP (3 x 14 x N,
            0 = visible, 4-digit names).

    Returns:
        dict[str, str]: ``data_root``, ``joints_mat``, ``img_dir``.
    """
    fmt = 'lspet' if extended else 'lsp'
    width, height = _check_args(fmt, out_dir, num_train, num_val, seed,
                                image_size, max_people)
    paths = {
        'data_root': str(out_dir),
        'joints_mat': osp.join(out_dir, 'joints.mat'),
        'img_dir': osp.join(out_dir, 'images'),
    }
    _makedirs(paths['img_dir'])
    digits = 5 if extended else 4
    total = num_train + num_val
    joints = np.zeros((total, len(LSP_KEYPOINTS), 3))  # (N, 14, [x, y, vis])
    for index in range(total):
        rng = scene_rng(seed, fmt, 'train' if index < num_train else 'val',
                        index)
        scene = render_scene(rng, (width, height), fmt, 1)
        _write_jpeg(
            osp.join(paths['img_dir'], f'im{index + 1:0{digits}d}.jpg'),
            scene.image)
        joints[index, :, :2] = scene.keypoints[0][LSP_FROM_SKELETON]
        joints[index, :, 2] = scene.visible[0][LSP_FROM_SKELETON]
    if extended:
        mat = joints.transpose(1, 2, 0)  # (14, 3, N), 1 = visible
    else:
        joints[:, :, 2] = 1 - joints[:, :, 2]  # LSP stores 1 = occluded
        mat = joints.transpose(2, 1, 0)  # (3, 14, N)
    _write_mat(paths['joints_mat'], {'joints': np.ascontiguousarray(mat)})
    return paths


def generate_dataset(fmt: str,
                     out_dir: str,
                     num_train: int = 64,
                     num_val: int = 16,
                     seed: int = 0,
                     image_size: Tuple[int, int] = (320, 240),
                     max_people: int = 2) -> Dict[str, str]:
    """Write a synthetic data set of one format under ``out_dir``.

    Args:
        fmt (str): 'coco', 'mpii', 'lsp' or 'lspet'.
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
        :func:`make_mpii_dataset` and :func:`make_lsp_dataset`.

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
    return make_lsp_dataset(out_dir, extended=fmt == 'lspet', **kwargs)
