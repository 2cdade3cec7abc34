# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Reading the inputs of the inference tools: images, folders and videos.

Every failure names the offending file, so a folder run can report it and go
on (:class:`MediaReadError`).
"""
import os
import os.path as osp
from typing import Iterator, List, Optional, Tuple

import cv2
import numpy as np

__all__ = [
    'IMAGE_EXTENSIONS', 'VIDEO_EXTENSIONS', 'MediaReadError', 'input_kind',
    'list_folder', 'read_image', 'VideoInput'
]

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp',
                    '.ppm', '.pgm')
VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mov', '.mkv', '.webm', '.m4v', '.mpg',
                    '.mpeg', '.wmv', '.flv')


class MediaReadError(ValueError):
    """An input image or video cannot be read (missing, corrupt, unknown)."""


def input_kind(path: str) -> str:
    """Classify an input path.

    Args:
        path (str): A file or folder path.

    Returns:
        str: ``'folder'``, ``'image'`` or ``'video'``.

    Raises:
        MediaReadError: ``path`` does not exist or its extension is neither
            an image nor a video extension.
    """
    if osp.isdir(path):
        return 'folder'
    if not osp.exists(path):
        raise MediaReadError(f'input "{path}" does not exist')
    ext = osp.splitext(path)[1].lower()
    if ext in IMAGE_EXTENSIONS:
        return 'image'
    if ext in VIDEO_EXTENSIONS:
        return 'video'
    raise MediaReadError(
        f'input "{path}" is neither an image ({", ".join(IMAGE_EXTENSIONS)})'
        f' nor a video ({", ".join(VIDEO_EXTENSIONS)})')


def list_folder(folder: str) -> Tuple[List[str], List[str]]:
    """The images of a folder (not recursive), sorted by name.

    Args:
        folder (str): Folder path.

    Returns:
        tuple: ``(images, others)``: paths with an image extension, and the
        other files (videos included: a folder run handles images only).
    """
    images, others = [], []
    for name in sorted(os.listdir(folder)):
        path = osp.join(folder, name)
        if not osp.isfile(path):
            continue
        if osp.splitext(name)[1].lower() in IMAGE_EXTENSIONS:
            images.append(path)
        else:
            others.append(path)
    return images, others


def read_image(path: str) -> np.ndarray:
    """Read an image as BGR uint8 (H, W, 3), as MMDet and MMPose do.

    Args:
        path (str): Image file.

    Returns:
        np.ndarray: (H, W, 3) uint8, BGR.

    Raises:
        MediaReadError: the file is missing, empty or not a decodable image.
    """
    if not osp.isfile(path):
        raise MediaReadError(f'image "{path}" does not exist')
    # imdecode from bytes: cv2.imread cannot read non-ASCII paths everywhere
    # and returns None without a reason; both cases get one message here.
    with open(path, 'rb') as f:
        buf = np.frombuffer(f.read(), dtype=np.uint8)
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR) if buf.size else None
    if img is None:
        raise MediaReadError(
            f'cannot read image "{path}": the file is empty, truncated or '
            'not an image format OpenCV can decode')
    return img


class VideoInput:
    """Frames of a video file, read with ``cv2.VideoCapture``.

    Args:
        path (str): Video file.

    Attributes:
        fps (float): Frames per second (25 when the file does not say).
        frame_count (int): Frames announced by the container (may be 0 when
            unknown; the frames actually read are what counts).
        size (tuple): ``(width, height)`` of the frames.

    Raises:
        MediaReadError: the file is missing, cannot be opened, or has no
            readable frame.
    """

    def __init__(self, path: str):
        if not osp.isfile(path):
            raise MediaReadError(f'video "{path}" does not exist')
        self.path = path
        self._cap = cv2.VideoCapture(path)
        if not self._cap.isOpened():
            raise MediaReadError(
                f'cannot open video "{path}": not a video format OpenCV '
                '(FFmpeg) can decode, or the file is corrupt')
        ok, first = self._cap.read()
        if not ok or first is None:
            self._cap.release()
            raise MediaReadError(
                f'cannot read video "{path}": no decodable frame')
        self._first: Optional[np.ndarray] = first
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and fps > 0 and np.isfinite(fps) else 25.
        self.frame_count = max(int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
        self.size = (first.shape[1], first.shape[0])

    def __iter__(self) -> Iterator[np.ndarray]:
        """Yield BGR uint8 frames (H, W, 3) in order, then release."""
        try:
            if self._first is not None:
                frame, self._first = self._first, None
                yield frame
            while True:
                ok, frame = self._cap.read()
                if not ok:
                    break
                yield frame
        finally:
            self._cap.release()

    def close(self) -> None:
        self._cap.release()
