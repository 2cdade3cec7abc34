# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Drawing people and backgrounds: colours, the canvas and its id map.

A :class:`Canvas` draws every primitive twice with OpenCV: anti-aliased in
colour into the image, and aliased into an int32 *draw-id map* where each
drawn element (one body part of one person, or an occluder) writes its own
id, in drawing order. The id map is what visibility is read from (see
:mod:`.scene`).

:func:`draw_person` draws a placed :class:`.skeleton.Person` back to front by
its random depth order: a torso quadrilateral, a neck, an elliptical head
with hair, eyes, nose and ears, and thick outlined round-capped limbs with
hands and feet. Left/right cue: LEFT limbs are a lighter shade of the
garment colour with a thin contrasting stripe, RIGHT limbs a darker shade
without stripe; the left eye is bluish, the right one brownish.

:func:`render_background` draws the clutter under the people.
"""
import colorsys
from typing import Dict, List, Tuple

import cv2
import numpy as np

from .skeleton import JOINT_ID, PART_ID, Person, direction

__all__ = ['random_color', 'Canvas', 'draw_person', 'render_background']

# skin tones (BGR)
_SKIN_TONES = np.array([(196, 222, 250), (160, 196, 234), (128, 166, 214),
                        (96, 132, 182), (66, 96, 146), (48, 68, 104)],
                       np.float64)


def random_color(
    rng: np.random.Generator,
    sat: Tuple[float, float] = (0.25, 1.0),
    val: Tuple[float, float] = (0.3, 0.95)
) -> np.ndarray:
    """A random colour: uniform hue, saturation in ``sat``, value in ``val``.

    Returns:
        np.ndarray: (3, ) float64 BGR in [0, 255].
    """
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
    """The colours of one person's skin, garments, hair and shoes (BGR)."""
    skin = _SKIN_TONES[rng.integers(len(_SKIN_TONES))] * rng.uniform(
        0.9, 1.08, 3)
    shirt = random_color(rng)
    trousers = random_color(rng)
    return {
        'skin': np.clip(skin, 0, 255),
        'shirt': shirt,
        'sleeve': shirt if rng.random() < 0.5 else np.clip(skin, 0, 255),
        'trousers': trousers,
        'shin': trousers if rng.random() < 0.75 else np.clip(skin, 0, 255),
        'hair': random_color(rng, sat=(0.1, 0.7), val=(0.05, 0.45)),
        'shoe': random_color(rng, sat=(0.0, 0.6), val=(0.05, 0.35)),
    }


class Canvas:
    """Draws into the colour image (anti-aliased) and the draw-id map
    (aliased, one id per element) with the same primitives.

    Args:
        image (np.ndarray): (H, W, 3) uint8 BGR image, drawn into in place.

    Attributes:
        ids (np.ndarray): (H, W) int32 draw-id map, 0 = background.
        id_person (list[int]): Person index of each id (-1: none).
        id_part (list[int]): ``BODY_PARTS`` index of each id (-1: none).
    """

    def __init__(self, image: np.ndarray):
        self.image = image
        self.ids = np.zeros(image.shape[:2], np.int32)
        self.id_person: List[int] = [-1]
        self.id_part: List[int] = [-1]

    def new_id(self, person: int, part: int) -> int:
        """The next draw id, for ``part`` of ``person`` (-1, -1: neither)."""
        self.id_person.append(person)
        self.id_part.append(part)
        return len(self.id_person) - 1

    def limb(self, p0, p1, thickness, color, stripe, draw_id):
        """Outlined round-capped line from ``p0`` to ``p1`` (pixel xy),
        with an optional thin ``stripe`` (cv2 colour) along its axis."""
        p0, p1 = tuple(map(int, p0)), tuple(map(int, p1))
        cv2.line(self.image, p0, p1, _bgr(0.45 * color), thickness + 2,
                 cv2.LINE_AA)
        cv2.line(self.image, p0, p1, _bgr(color), thickness, cv2.LINE_AA)
        if stripe is not None:
            cv2.line(self.image, p0, p1, stripe, max(1, thickness // 4),
                     cv2.LINE_AA)
        cv2.line(self.ids, p0, p1, draw_id, thickness + 2, cv2.LINE_8)

    def disk(self, center, radius, color, draw_id):
        """Outlined filled circle."""
        center = tuple(map(int, center))
        cv2.circle(self.image, center, radius + 1, _bgr(0.45 * color), -1,
                   cv2.LINE_AA)
        cv2.circle(self.image, center, radius, _bgr(color), -1, cv2.LINE_AA)
        cv2.circle(self.ids, center, radius + 1, draw_id, -1, cv2.LINE_8)

    def polygon(self, points, color, draw_id):
        """Outlined filled polygon of (N, 2) integer points."""
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
    """The shoulder-hip quadrilateral, with a margin around the joints."""
    J = JOINT_ID
    j = person.joints
    up = (j[J['thorax']] - j[J['pelvis']]).astype(float)
    up /= max(np.linalg.norm(up), 1e-6)
    across = (j[J['left_shoulder']] - j[J['right_shoulder']]).astype(float)
    across /= max(np.linalg.norm(across), 1e-6)
    # margin keeps shoulders, hips, thorax and pelvis inside the polygon
    m = person.thickness['torso_margin']
    corners = [
        j[J['left_shoulder']] + m * (across + up),
        j[J['right_shoulder']] + m * (-across + up),
        j[J['right_hip']] + m * (-across - 0.5 * up),
        j[J['left_hip']] + m * (across - 0.5 * up),
    ]
    canvas.polygon(np.rint(corners), palette['shirt'], draw_id)


def _draw_head(canvas, person, palette, draw_id, nose_color):
    """Ears, head ellipse and, seen from the front, hair cap, eyes, nose."""
    center = tuple(map(int, person.head_center))
    across, along = person.head_axes
    angle = person.head_angle
    skin = palette['skin']
    # ears first so that only their outer halves show
    ear_axes = (max(1,
                    int(round(0.25 * across))), max(1,
                                                    int(round(0.3 * along))))
    for name in ('left_ear', 'right_ear'):
        ear = tuple(map(int, person.joints[JOINT_ID[name]]))
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
        cv2.circle(canvas.image,
                   tuple(map(int, person.joints[JOINT_ID[name]])), eye_radius,
                   color, -1, cv2.LINE_AA)
    cv2.circle(canvas.image, tuple(map(int, person.joints[JOINT_ID['nose']])),
               max(1, int(round(0.12 * across))), _bgr(nose_color), -1,
               cv2.LINE_AA)


def draw_person(canvas: Canvas, person: Person, person_index: int,
                rng: np.random.Generator) -> None:
    """Draw all parts of one person back to front.

    Each part gets a new draw id of ``person_index``, in drawing order.

    Args:
        canvas (Canvas): Where to draw.
        person (Person): The placed person.
        person_index (int): Its index in the scene (for ``id_person``).
        rng (np.random.Generator): The image's random stream (its colours).
    """
    J = JOINT_ID
    palette = _person_palette(rng)
    nose_color = 0.7 * palette['skin']
    j = person.joints
    t = person.thickness
    for part in sorted(person.depth, key=person.depth.get):
        draw_id = canvas.new_id(person_index, PART_ID[part])
        if part == 'torso':
            _draw_torso(canvas, person, palette, draw_id)
        elif part == 'neck':
            canvas.limb(j[J['thorax']], j[J['upper_neck']], t['neck'],
                        palette['skin'], None, draw_id)
        elif part == 'head':
            _draw_head(canvas, person, palette, draw_id, nose_color)
        else:
            side, limb = part.split('_', 1)
            stripe_side = side == 'left'
            if limb == 'hand':
                canvas.disk(
                    j[J[f'{side}_wrist']] + np.rint(
                        person.hand_radius *
                        _unit(j[J[f'{side}_wrist']] - j[J[f'{side}_elbow']])),
                    person.hand_radius, _shade(palette['skin'], side), draw_id)
                continue
            ends, color = {
                'upper_arm': (('shoulder', 'elbow'), palette['shirt']),
                'forearm': (('elbow', 'wrist'), palette['sleeve']),
                'thigh': (('hip', 'knee'), palette['trousers']),
                'shin': (('knee', 'ankle'), palette['shin']),
                'foot': (('ankle', None), palette['shoe']),
            }[limb]
            p0 = j[J[f'{side}_{ends[0]}']]
            p1 = (
                person.foot_ends[0 if side == 'left' else 1]
                if ends[1] is None else j[J[f'{side}_{ends[1]}']])
            color = _shade(color, side)
            stripe = (
                _stripe_color(color)
                if stripe_side and limb != 'foot' else None)
            canvas.limb(p0, p1, t[limb], color, stripe, draw_id)


def _unit(v) -> np.ndarray:
    """``v`` normalised; straight down for a zero vector."""
    v = np.asarray(v, float)
    n = np.linalg.norm(v)
    return v / n if n > 1e-6 else np.array([0.0, 1.0])


def render_background(rng: np.random.Generator, width: int,
                      height: int) -> np.ndarray:
    """Cluttered background: colour field, texture, shapes, limb-like sticks.

    Args:
        rng (np.random.Generator): The image's random stream.
        width (int): Image width in pixels.
        height (int): Image height in pixels.

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
                 _bgr(random_color(rng)), int(rng.integers(1, 5)), cv2.LINE_AA)
    for _ in range(rng.integers(2, 7)):
        p0 = rng.integers(0, [width, height])
        wh = rng.integers(size // 20 + 1, size // 3 + 2, 2)
        cv2.rectangle(image, tuple(map(int, p0)), tuple(map(int, p0 + wh)),
                      _bgr(random_color(rng)),
                      -1 if rng.random() < 0.5 else int(rng.integers(1, 4)),
                      cv2.LINE_AA)
    for _ in range(rng.integers(2, 7)):
        center = rng.integers(0, [width, height])
        axes = rng.integers(size // 30 + 1, size // 5 + 2, 2)
        cv2.ellipse(image, tuple(map(int, center)), tuple(map(int, axes)),
                    float(rng.uniform(0,
                                      180)), 0, 360, _bgr(random_color(rng)),
                    -1 if rng.random() < 0.5 else int(rng.integers(1, 4)),
                    cv2.LINE_AA)
    # distractors: outlined two-segment sticks as thick as limbs, some with
    # the left-limb stripe, so that limbs alone do not identify a person
    for _ in range(rng.integers(2, 6)):
        length = rng.uniform(0.08, 0.2) * size
        thickness = max(2, int(rng.uniform(0.02, 0.04) * size))
        start = rng.uniform(0, [width, height])
        angle = rng.uniform(0, 360)
        joint = start + length * direction(angle)
        end = joint + length * direction(angle + rng.uniform(-120, 120))
        color = random_color(rng)
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
