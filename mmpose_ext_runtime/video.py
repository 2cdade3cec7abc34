# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Frames from a video file, a camera or a stream, and a progress line.

:class:`FrameSource` reads with OpenCV. A frame that cannot be decoded is
counted (``bad_frames``) and skipped; the run goes on. A camera that cannot
be opened, a stream that cannot be opened or sends nothing for ``timeout``
seconds (stalled), raise :class:`VideoSourceError` with what to check.
"""
import os.path as osp
import queue
import sys
import threading
import time
from typing import Iterator, Optional, TextIO, Tuple, Union

import cv2
import numpy as np

__all__ = [
    'VideoSourceError', 'StreamStalledError', 'FrameSource', 'source_kind',
    'Progress'
]

_END = object()


class VideoSourceError(OSError):
    """A video file, camera or stream cannot be opened or read."""


class StreamStalledError(VideoSourceError):
    """A live source sent no frame for longer than the timeout."""


def source_kind(source: Union[str, int]) -> str:
    """``'camera'`` (an int or a string of digits), ``'stream'`` (a URL,
    ``scheme://...``) or ``'file'``."""
    if isinstance(source, int) or str(source).strip().isdigit():
        return 'camera'
    if '://' in str(source):
        return 'stream'
    return 'file'


class FrameSource:
    """Frames of a video file, a camera index or a stream URL.

    Args:
        source (str | int): A file path, a camera index (``0`` or ``'0'``)
            or a URL (``rtsp://``, ``http://``, ...).
        timeout (float): Seconds a camera or stream may send no frame before
            :class:`StreamStalledError`. Defaults to 10.
        max_consecutive_failures (int): Failed reads in a row that end a
            file or a stream. Defaults to 50.

    Attributes:
        kind (str): ``'file'``, ``'camera'`` or ``'stream'``.
        fps (float): Frames per second (25 when the source does not say).
        frame_count (int): Frames announced by a file (0: unknown, live).
        size (tuple): (width, height) of the first frame.
        bad_frames (int): Frames that could not be decoded (skipped),
            counted once a later frame was read, or from the file's frame
            count at its end.
        frames_read (int): Good frames yielded.
    """

    def __init__(self,
                 source: Union[str, int],
                 timeout: float = 10.,
                 max_consecutive_failures: int = 50):
        self.source = source
        self.kind = source_kind(source)
        self.timeout = float(timeout)
        self.max_failures = int(max_consecutive_failures)
        self.bad_frames = 0
        self.frames_read = 0
        self._queue: Optional[queue.Queue] = None
        self._stop = threading.Event()
        self._cap = self._open()
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and fps > 0 and np.isfinite(fps) \
            and fps < 1000 else 25.
        self.frame_count = max(
            int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT)),
            0) if self.kind == 'file' else 0
        if self.kind != 'file':
            self._queue = queue.Queue(maxsize=4)
            threading.Thread(target=self._reader, daemon=True).start()
        first = self._next()
        if first is None:
            self.close()
            raise VideoSourceError(f'{self.name}: no decodable frame')
        self._first: Optional[np.ndarray] = first
        self.size = (first.shape[1], first.shape[0])

    @property
    def name(self) -> str:
        return {
            'camera': f'camera {self.source}',
            'stream': f'stream "{self.source}"',
            'file': f'video "{self.source}"'
        }[self.kind]

    def _open(self) -> cv2.VideoCapture:
        if self.kind == 'camera':
            cap = cv2.VideoCapture(int(self.source))
            if not cap.isOpened():
                raise VideoSourceError(
                    f'cannot open camera {self.source}: no such device, it '
                    'is in use by another program, or this user may not '
                    'access it (Linux: /dev/video*, group "video")')
            return cap
        if self.kind == 'stream':
            ms = int(self.timeout * 1000)
            cap = cv2.VideoCapture(
                str(self.source), cv2.CAP_FFMPEG, [
                    cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms,
                    cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms
                ])
            if not cap.isOpened():
                raise VideoSourceError(
                    f'cannot open stream "{self.source}" within '
                    f'{self.timeout:g} s: check the URL, the network and '
                    'that OpenCV was built with FFmpeg')
            return cap
        if not osp.isfile(self.source):
            raise VideoSourceError(f'video "{self.source}" does not exist')
        cap = cv2.VideoCapture(self.source)
        if not cap.isOpened():
            raise VideoSourceError(
                f'cannot open video "{self.source}": not a video format '
                'OpenCV (FFmpeg) can decode, or the file is corrupt')
        return cap

    def _read_one(self) -> Tuple[str, Optional[np.ndarray]]:
        """One read: ``('ok', frame)``, ``('bad', None)`` or ``('end',
        None)`` after ``max_consecutive_failures`` failures in a row."""
        failures = 0
        while failures < self.max_failures:
            ok, frame = self._cap.read()
            if ok and frame is not None and frame.size and frame.ndim == 3:
                self.bad_frames += failures  # failures followed by a frame
                return 'ok', frame
            failures += 1
            if self._stop.is_set():
                break
        return 'end', None

    def _reader(self) -> None:
        """Live sources: read in a thread, so a stall cannot block the
        caller beyond ``timeout``."""
        while not self._stop.is_set():
            status, frame = self._read_one()
            item = frame if status == 'ok' else _END
            while not self._stop.is_set():
                try:
                    self._queue.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if item is _END:
                return

    def _next(self) -> Optional[np.ndarray]:
        """The next good frame, None at the end."""
        if self._queue is None:
            return self._read_one()[1]
        try:
            item = self._queue.get(timeout=self.timeout)
        except queue.Empty:
            raise StreamStalledError(
                f'{self.name} sent no frame for {self.timeout:g} s: the '
                'stream stalled (raise the timeout for slow sources)')
        return None if item is _END else item

    def __iter__(self) -> Iterator[np.ndarray]:
        """Good frames (BGR uint8 (H, W, 3)) in order; undecodable ones are
        counted in ``bad_frames`` and skipped."""
        try:
            while True:
                if self._first is not None:
                    frame, self._first = self._first, None
                else:
                    frame = self._next()
                if frame is None:
                    break
                if frame.shape[1::-1] != self.size:
                    self.bad_frames += 1  # a frame of another size
                    continue
                self.frames_read += 1
                yield frame
            if self.frame_count:  # frames the file announced but never gave
                self.bad_frames = max(self.bad_frames,
                                      self.frame_count - self.frames_read)
        finally:
            self.close()

    def close(self) -> None:
        self._stop.set()
        self._cap.release()


class Progress:
    """A one-line progress display with frames per second.

    Args:
        total (int): Frames expected (0: unknown, e.g. a camera).
        stream (TextIO): Where to write. Defaults to stdout.
        every (float): Seconds between updates. Defaults to 0.5.
    """

    def __init__(self,
                 total: int = 0,
                 stream: Optional[TextIO] = None,
                 every: float = 0.5):
        self.total = int(total)
        self.stream = stream or sys.stdout
        self.every = every
        self.count = 0
        self.start = time.perf_counter()
        self._shown = 0.

    @property
    def fps(self) -> float:
        dt = time.perf_counter() - self.start
        return self.count / dt if dt > 0 else 0.

    def line(self, extra: str = '') -> str:
        if self.total:
            done = min(self.count / self.total, 1.)
            bar = '#' * int(done * 30)
            head = f'[{bar:<30}] {self.count}/{self.total}'
        else:
            head = f'{self.count} frames'
        return f'{head}, {self.fps:.1f} fps{extra}'

    def update(self, n: int = 1, extra: str = '') -> None:
        self.count += n
        now = time.perf_counter()
        if now - self._shown >= self.every or self.count == self.total:
            self._shown = now
            self.stream.write('\r' + self.line(extra))
            self.stream.flush()

    def close(self, extra: str = '') -> None:
        self.stream.write('\r' + self.line(extra) + '\n')
        self.stream.flush()
