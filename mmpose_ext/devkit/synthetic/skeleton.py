# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""The articulated 2-D skeleton every synthetic person is drawn from.

A pose is sampled in "standing heights" (head top to ankle = 1, y down,
pelvis at the origin, the person's left at +x in a front view) by
:func:`sample_pose`, then scaled, mirrored (back view), rotated and moved
into an image by :func:`place`, which rounds the joints to integer pixels.

Tables:

* :data:`SKELETON_JOINTS`: the 21 joints; the keypoints of every format are
  a selection of them (see :mod:`.keypoints`).
* :data:`BODY_PARTS`: the 15 drawn parts (torso, neck, head, and per side
  upper arm, forearm, hand, thigh, shin, foot).
* :data:`JOINT_ON_PART`: which parts each joint lies on, from which
  visibility is read off the draw-order id map (see :mod:`.scene`).
"""
from dataclasses import dataclass
from typing import Dict, Tuple

import numpy as np

__all__ = [
    'SKELETON_JOINTS', 'JOINT_ID', 'FACE_JOINTS', 'BODY_PARTS', 'PART_ID',
    'JOINT_ON_PART', 'direction', 'Pose', 'sample_pose', 'Person', 'place'
]

SKELETON_JOINTS = ('pelvis', 'left_hip', 'right_hip', 'left_knee',
                   'right_knee', 'left_ankle', 'right_ankle', 'thorax',
                   'left_shoulder', 'right_shoulder', 'left_elbow',
                   'right_elbow', 'left_wrist', 'right_wrist', 'upper_neck',
                   'head_top', 'nose', 'left_eye', 'right_eye', 'left_ear',
                   'right_ear')
# joint name -> index in SKELETON_JOINTS
JOINT_ID = {name: i for i, name in enumerate(SKELETON_JOINTS)}
# the face points that are not drawn (nor annotated) in a back view
FACE_JOINTS = np.array(
    [JOINT_ID['nose'], JOINT_ID['left_eye'], JOINT_ID['right_eye']])

BODY_PARTS = ('torso', 'neck', 'head', 'left_upper_arm', 'left_forearm',
              'left_hand', 'right_upper_arm', 'right_forearm', 'right_hand',
              'left_thigh', 'left_shin', 'left_foot', 'right_thigh',
              'right_shin', 'right_foot')
# part name -> index in BODY_PARTS
PART_ID = {name: i for i, name in enumerate(BODY_PARTS)}

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
JOINT_ON_PART = np.zeros((len(SKELETON_JOINTS), len(BODY_PARTS)), bool)
for _name, _parts in _JOINT_PARTS.items():
    JOINT_ON_PART[JOINT_ID[_name], [PART_ID[p] for p in _parts]] = True


def direction(angle_deg):
    """Unit vector(s) at an angle from straight down.

    Args:
        angle_deg (float | np.ndarray): Angle(s) in degrees from +y (down),
            turning towards +x for positive angles; any shape ``S``.

    Returns:
        np.ndarray: (*S, 2) float64 unit vectors (x, y).
    """
    a = np.deg2rad(angle_deg)
    return np.stack([np.sin(a), np.cos(a)], axis=-1)


def _uniform_mixture(rng, ranges, probs):
    """One sample from a mixture of uniform ranges [(lo, hi), ...]."""
    lo, hi = ranges[rng.choice(len(ranges), p=probs)]
    return rng.uniform(lo, hi)


@dataclass
class Pose:
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


def sample_pose(rng: np.random.Generator) -> Pose:
    """Draw a random plausible pose of the canonical skeleton.

    Limb lengths are proportions of the standing height with per-person
    jitter and random foreshortening; joint angles come from plausible
    ranges; arms are in front of or behind the torso by a random depth order.

    Args:
        rng (np.random.Generator): The image's random stream (consumed).

    Returns:
        Pose: Joints ``(len(SKELETON_JOINTS), 2)`` in standing heights.
    """
    jitter = rng.uniform(0.92, 1.08, size=9)
    thigh, shin = 0.245 * jitter[0], 0.235 * jitter[1]
    torso, neck, head = 0.30 * jitter[2], 0.05 * jitter[3], 0.17 * jitter[4]
    upper_arm, forearm = 0.165 * jitter[5], 0.145 * jitter[6]
    half_shoulders, half_hips = 0.11 * jitter[7], 0.075 * jitter[8]

    def foreshorten():
        # limbs pointing towards the camera look shorter
        return rng.uniform(0.55, 1.0) if rng.random() < 0.25 else \
            rng.uniform(0.92, 1.0)

    J = JOINT_ID
    joints = np.zeros((len(SKELETON_JOINTS), 2))
    lean = float(np.clip(rng.normal(0, 8), -25, 25))
    hip_tilt = rng.normal(0, 4)
    neck_bend = rng.normal(0, 8)
    head_roll = rng.normal(0, 12)

    joints[J['thorax']] = -torso * direction(lean)
    for side, sign in (('left', 1), ('right', -1)):
        joints[J[f'{side}_hip']] = sign * half_hips * direction(hip_tilt + 90)
        joints[J[f'{side}_shoulder']] = (
            joints[J['thorax']] + sign * half_shoulders * direction(lean + 90))
    joints[J['upper_neck']] = joints[J['thorax']] - neck * direction(lean +
                                                                     neck_bend)

    head_angle = lean + neck_bend + head_roll
    head_up = -direction(head_angle)
    head_across = direction(head_angle + 90)  # towards the person's left
    joints[J['head_top']] = joints[J['upper_neck']] + head * head_up
    head_center = joints[J['upper_neck']] + 0.5 * head * head_up
    # upper neck and head top lie at 0.88 of the long semi-axis: inside
    semi_long = 0.5 * head / 0.88
    semi_across = 0.8 * semi_long
    joints[J['nose']] = head_center - 0.15 * semi_long * head_up
    for side, sign in (('left', 1), ('right', -1)):
        joints[J[f'{side}_eye']] = (
            head_center + 0.12 * semi_long * head_up +
            sign * 0.4 * semi_across * head_across)
        joints[J[f'{side}_ear']] = (
            head_center + 0.05 * semi_long * head_up +
            sign * 0.97 * semi_across * head_across)

    foot_ends = np.zeros((2, 2))
    for i, (side, sign) in enumerate((('left', 1), ('right', -1))):
        abduction = _uniform_mixture(rng, [(-15, 80), (80, 170)], [0.7, 0.3])
        upper_angle = lean + sign * abduction
        flexion = _uniform_mixture(rng, [(-60, 60), (-150, 150)], [0.6, 0.4])
        elbow = joints[J[f'{side}_shoulder']] + (
            upper_arm * foreshorten() * direction(upper_angle))
        joints[J[f'{side}_elbow']] = elbow
        joints[J[f'{side}_wrist']] = elbow + forearm * foreshorten() * (
            direction(upper_angle + sign * flexion))

        leg_spread = _uniform_mixture(rng, [(-12, 30), (-25, 100)], [0.8, 0.2])
        thigh_angle = hip_tilt + sign * leg_spread
        bend = _uniform_mixture(rng, [(-35, 35), (-110, 110)], [0.8, 0.2])
        knee = joints[
            J[f'{side}_hip']] + thigh * foreshorten() * direction(thigh_angle)
        joints[J[f'{side}_knee']] = knee
        shin_angle = thigh_angle + sign * bend
        ankle = knee + shin * foreshorten() * direction(shin_angle)
        joints[J[f'{side}_ankle']] = ankle
        foot_ends[i] = ankle + 0.06 * direction(shin_angle +
                                                sign * rng.uniform(50, 100))
    joints[J['pelvis']] = joints[[J['left_hip'], J['right_hip']]].mean(0)

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
    return Pose(joints, foot_ends, head_center, head_up,
                (semi_across, semi_long), thickness, 0.028 * build, depth)


@dataclass
class Person:
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


def place(pose: Pose, height: float, rotation: float, back_view: bool,
          center: np.ndarray) -> Person:
    """Scale, mirror (back view), rotate and move a pose into the image.

    Args:
        pose (Pose): The pose in standing heights.
        height (float): Standing height in pixels.
        rotation (float): Global rotation in degrees.
        back_view (bool): Mirror x, so the person's left appears on the
            image's left (seen from behind).
        center (np.ndarray): (2, ) pixel position of the torso centre
            (midpoint of pelvis and thorax).

    Returns:
        Person: Integer pixel joints ``(J, 2)``, drawing sizes and the box of
        everything that will be drawn.
    """
    c, s = np.cos(np.deg2rad(rotation)), np.sin(np.deg2rad(rotation))
    # mirror x for a back view: the person's left appears on image left
    linear = height * np.array([[c, -s], [s, c]]) @ np.diag(
        [-1.0 if back_view else 1.0, 1.0])
    torso_center = pose.joints[[JOINT_ID['pelvis'],
                                JOINT_ID['thorax']]].mean(0)

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
    return Person(joints, foot_ends, head_center, (semi_across, semi_long),
                  head_angle, head_up, hand_radius,
                  thickness, dict(pose.depth), back_view, height,
                  np.asarray(center, float), box)
