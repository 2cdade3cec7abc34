# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Scenes: people placed in a cluttered image, and what of them is visible.

:func:`render_scene` draws one image of a format's style from the image's own
random stream (:func:`scene_rng`) and returns a :class:`SyntheticScene`:
the image, its background, the draw-id map and every person's joints with
their visibility. The writers (:mod:`.coco`, :mod:`.mpii`, :mod:`.lsp`) turn
scenes into files; the tests re-render scenes to check the files.

Visibility is read from what was drawn: a joint is *visible* when it lies in
the image, is annotated, and nothing drawn after the body parts it belongs to
(:data:`.skeleton.JOINT_ON_PART`) covers its pixel in the draw-id map;
otherwise it is occluded (self-occlusion, another person, the occluder box).
"""
from dataclasses import dataclass
from typing import List, Tuple

import numpy as np

from .drawing import Canvas, draw_person, random_color, render_background
from .keypoints import COCO_FROM_SKELETON
from .skeleton import (BODY_PARTS, FACE_JOINTS, JOINT_ON_PART, SKELETON_JOINTS,
                       Person, place, sample_pose)

__all__ = ['FORMATS', 'SyntheticScene', 'scene_rng', 'render_scene']

# the formats; their position is part of every image's seed (scene_rng)
# (new formats are appended: the codes of the others stay)
FORMATS = ('coco', 'mpii', 'lsp', 'lspet', 'crowdpose')

_FMT_CODE = {fmt: i for i, fmt in enumerate(FORMATS)}
_SPLIT_CODE = {'train': 0, 'val': 1}

# a COCO person needs this many labelled keypoints
_MIN_LABELLED = 5


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
_STYLES['crowdpose'] = _STYLES['coco']


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
        """``P``, the number of people drawn."""
        return len(self.keypoints)

    def person_mask(self, person: int) -> np.ndarray:
        """(H, W) bool mask of the visible pixels of one person."""
        return self.id_person[self.draw_ids] == person


def scene_rng(seed: int, fmt: str, split: str,
              index: int) -> np.random.Generator:
    """The random stream of one image.

    Args:
        seed (int): The data set's non-negative seed.
        fmt (str): One of :data:`FORMATS`.
        split (str): 'train' or 'val'.
        index (int): 0-based within the split (for LSP: within the whole
            file, val continuing after train).

    Returns:
        np.random.Generator: Seeded by ``SeedSequence([seed, fmt, split,
        index])`` (codes of ``fmt`` and ``split``), so an image does not
        depend on the other images or on the split sizes.
    """
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


def _labelled(person: Person, width: int, height: int) -> np.ndarray:
    """(J, ) bool: joints a COCO annotator would label (in the image and,
    for face points, seen from the front)."""
    labelled = _in_image(person.joints, width, height)
    if person.back_view:
        labelled[FACE_JOINTS] = False
    return labelled


def _sample_people(rng, style: _SceneStyle, width: int, height: int,
                   max_people: int) -> List[Person]:
    """Place people without heavy overlap, each with enough joints inside.

    Multi-person styles draw 1..``max_people`` people (each tried 30 times,
    dropped if it does not fit; at least one centred person); others one
    centred person.
    """
    if not style.multi_person:
        return [_sample_centred_person(rng, style, width, height)]
    people: List[Person] = []
    num_people = int(rng.integers(1, max_people + 1))
    for _ in range(num_people):
        pose = sample_pose(rng)
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
            person = place(pose, scale, rotation, back_view, np.zeros(2))
            lo, hi = person.box[:2], person.box[2:]
            extent = hi - lo
            slack = 0.35 * extent if truncated else np.full(2, -2.0)
            low = -lo - slack
            high = np.array([width - 1, height - 1]) - hi + slack
            if np.any(high < low):
                continue
            person = place(pose, scale, rotation, back_view,
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
                           height: int) -> Person:
    """One person centred in the image, fully inside (LSP)."""
    pose = sample_pose(rng)
    back_view = bool(rng.random() < style.back_view_prob)
    rotation = rng.normal(0, 15) if rng.random() < 0.85 else rng.uniform(
        -180, 180)
    scale = rng.uniform(*style.height_range) * min(width, height)
    person = place(pose, scale, rotation, back_view, np.zeros(2))
    extent = person.box[2:] - person.box[:2]
    # shrink until the whole body fits with a small margin
    fit = min(1.0, *((np.array([width, height]) - 6) / extent))
    person = place(pose, scale * fit, rotation, back_view, np.zeros(2))
    box_center = (person.box[:2] + person.box[2:]) / 2
    center = (np.array([width, height]) - 1) / 2 - box_center
    return place(pose, scale * fit, rotation, back_view, center)


def _visibility(canvas: Canvas, people: List[Person], width: int, height: int,
                part_ids: np.ndarray) -> np.ndarray:
    """Which joints are visible in what has been drawn so far.

    Args:
        canvas (Canvas): The canvas with its draw-id map.
        people (list[Person]): The ``P`` people drawn.
        width (int): Image width.
        height (int): Image height.
        part_ids (np.ndarray): (P, len(BODY_PARTS)) the draw id of each
            person's parts.

    Returns:
        np.ndarray: (P, J) bool, labelled (see :func:`_labelled`) and not
        covered by anything drawn after the joint's own parts.
    """
    visible = np.zeros((len(people), len(SKELETON_JOINTS)), bool)
    for p, person in enumerate(people):
        labelled = _labelled(person, width, height)
        xy = np.clip(person.joints, 0, [width - 1, height - 1])
        top_id = canvas.ids[xy[:, 1], xy[:, 0]]
        last_own_id = np.where(JOINT_ON_PART, part_ids[p][None], 0).max(1)
        visible[p] = labelled & (top_id <= last_own_id)
    return visible


def _draw_occluder(rng, canvas: Canvas, person: Person, width: int,
                   height: int) -> None:
    """An opaque textured box over part of one person."""
    joint = person.joints[rng.integers(len(SKELETON_JOINTS))]
    size = np.maximum(rng.uniform(0.15, 0.4, 2) * person.height, 8).astype(int)
    corner = np.rint(joint - size * rng.uniform(0.2, 0.8, 2)).astype(int)
    x0, y0 = np.clip(corner, 0, [width, height])
    x1, y1 = np.clip(corner + size, 0, [width, height])
    if x1 <= x0 or y1 <= y0:
        return
    color = random_color(rng).astype(np.float32)
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
        fmt (str): 'coco', 'mpii' or 'crowdpose' (1..max_people people,
            truncation; CrowdPose images are drawn as COCO's), 'lsp' or
            'lspet' (one centred person, fully inside).
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
    background = render_background(rng, width, height)
    people = _sample_people(rng, style, width, height, max_people)
    canvas = Canvas(background.copy())
    part_ids = np.zeros((len(people), len(BODY_PARTS)), np.int64)
    for p, person in enumerate(people):
        first = len(canvas.id_person)
        draw_person(canvas, person, p, rng)
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
            annotated[p, FACE_JOINTS] = False
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
