# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Video in the runtime: frame sources (files, cameras, streams; bad frames,
stalls), tracking with the detector every N frames, One-Euro smoothing.

Videos are written by ``cv2.VideoWriter`` into ``tmp_path``: bright
"persons" (a body and a head) that move on a dark background. A stand-in
detector finds them by threshold and a stand-in pose model puts five
keypoints on the blob inside the box it is given, so the tests exercise the
tracking itself, not a network's accuracy.
"""
import io
import time

import cv2
import numpy as np
import pytest

from mmpose_ext_runtime import (FrameSource, OneEuroFilter, PoseTracker,
                                Progress, StreamStalledError, TrackingPipeline,
                                TrackSmoother, VideoSourceError)

W, H, FPS = 160, 120, 10


def _frame(t: int) -> np.ndarray:
    """Two persons: A walks right along the top, B left along the bottom."""
    img = np.full((H, W, 3), 30, np.uint8)
    for x, y in ((10 + 4 * t, 10), (120 - 4 * t, 65)):
        cv2.rectangle(img, (x, y + 10), (x + 16, y + 45), (230, 230, 230), -1)
        cv2.circle(img, (x + 8, y + 5), 5, (230, 230, 230), -1)
    return img


def _write(path: str, n: int, fourcc: str = 'MJPG') -> str:
    vw = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), FPS, (W, H))
    assert vw.isOpened()
    for t in range(n):
        vw.write(_frame(t))
    vw.release()
    return path


def _corrupt_frame(path: str, index: int) -> None:
    """Zero the JPEG data of one frame of an MJPG AVI (its '00dc' chunk)."""
    data = bytearray(open(path, 'rb').read())
    start = data.index(b'movi')
    pos = [i for i in range(start, len(data) - 4) if data[i:i + 4] == b'00dc']
    at = pos[index]
    size = int.from_bytes(data[at + 4:at + 8], 'little')
    data[at + 8:at + 8 + size] = bytes(size)
    open(path, 'wb').write(bytes(data))


def _blobs(gray: np.ndarray, offset=(0, 0)) -> np.ndarray:
    n, _, stats, _ = cv2.connectedComponentsWithStats((gray
                                                       > 128).astype(np.uint8))
    x, y, w, h = (stats[1:, i] for i in range(4))
    return np.stack([x, y, x + w, y + h], 1).astype(np.float32) + np.tile(
        np.asarray(offset, np.float32), 2)


def detect(frame, index):
    boxes = _blobs(cv2.dilate(frame[..., 0], np.ones((9, 9))))
    return np.concatenate([boxes, np.full((len(boxes), 1), 0.9)], 1)


def estimate(frame, boxes):
    """Five keypoints (corners, centre) of the blob inside each box, padded
    1.25 times as the pose models' crops are."""
    kpts = np.zeros((len(boxes), 5, 2), np.float32)
    c = (boxes[:, :2] + boxes[:, 2:4]) / 2
    half = (boxes[:, 2:4] - boxes[:, :2]) * 1.25 / 2
    padded = np.concatenate([c - half, c + half], 1)
    for i, (x1, y1, x2, y2) in enumerate(padded.astype(int)):
        crop = frame[max(y1, 0):y2, max(x1, 0):x2, 0]
        b = _blobs(crop, (max(x1, 0), max(y1, 0)))
        if len(b):
            bx1, by1, bx2, by2 = b[np.argmax(
                (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]))]
            kpts[i] = [[bx1, by1], [bx2, by1], [bx1, by2], [bx2, by2],
                       [(bx1 + bx2) / 2, (by1 + by2) / 2]]
    return kpts, np.full(kpts.shape[:2], 0.9, np.float32)


@pytest.mark.parametrize('det_interval', [1, 4])
def test_track_ids_stay_with_moving_persons(tmp_path, det_interval):
    video = _write(str(tmp_path / 'walk.avi'), 20)
    pipeline = TrackingPipeline(detect, estimate, det_interval)
    ids, xs, detected = [], [], []
    for t, frame in enumerate(FrameSource(video)):
        poses = pipeline(frame, t)
        assert len(poses.boxes) == 2
        order = np.argsort(poses.keypoints[:, 4, 1])  # A (top) first
        ids.append(poses.track_ids[order])
        xs.append(poses.keypoints[order, 4, 0])
        detected.append(poses.detected)
    assert len(ids) == 20
    ids = np.array(ids)
    assert (ids == ids[0]).all() and ids[0, 0] != ids[0, 1]
    xs = np.array(xs)  # the keypoints followed the persons
    np.testing.assert_allclose(np.diff(xs[:, 0]), 4, atol=1.5)
    np.testing.assert_allclose(np.diff(xs[:, 1]), -4, atol=1.5)
    assert sum(detected) == -(-20 // det_interval)


def test_tracker_new_and_lost_persons():
    tracker = PoseTracker('iou', thr=0.3, max_age=2)
    a = np.array([[0, 0, 10, 10], [50, 50, 60, 60]], np.float32)
    first = tracker.update(a, 0)
    assert len(set(first.tolist())) == 2
    # order changes, one moves a little, a third appears
    b = np.array([[51, 50, 61, 60], [100, 0, 110, 10], [1, 0, 11, 10]],
                 np.float32)
    second = tracker.update(b, 1)
    assert second[0] == first[1] and second[2] == first[0]
    assert second[1] not in first
    # a person missed for longer than max_age gets a new id
    tracker.update(b[:1], 2)
    tracker.update(b[:1], 3)
    tracker.update(b[:1], 4)
    assert tracker.update(b[2:], 5)[0] not in first
    # OKS: the same pose matches although the boxes do not overlap
    oks = PoseTracker('oks', thr=0.5)
    k = np.random.default_rng(0).uniform(0, 50, (1, 17, 2)).astype(np.float32)
    s = np.ones((1, 17), np.float32)
    i0 = oks.update(np.array([[0, 0, 50, 50]], np.float32), 0, k, s)
    i1 = oks.update(np.array([[60, 60, 70, 70]], np.float32), 1, k + 0.5, s)
    assert i0[0] == i1[0]


def test_one_euro_reduces_jitter_of_a_noisy_track():
    rng = np.random.default_rng(0)
    t = np.arange(200)
    truth = np.stack([100 + 1.5 * t, 80 + 20 * np.sin(t / 15)], -1)
    truth = np.repeat(truth[:, None], 17, axis=1)  # (T, K, 2)
    noisy = truth + rng.normal(0, 2., truth.shape)
    smoother = TrackSmoother()
    out = np.stack(
        [smoother(noisy[i][None], np.array([7]), i)[0] for i in range(len(t))])

    def jitter(x):  # mean size of the second difference
        return np.abs(np.diff(x, 2, axis=0)).mean()

    assert jitter(out) < 0.6 * jitter(noisy)
    # not by lagging behind: closer to the truth than the raw track
    err = np.abs(out - truth)[20:].mean()
    assert err < np.abs(noisy - truth)[20:].mean()
    # a fast, clean motion passes with little lag (beta adapts the cutoff)
    f = OneEuroFilter()
    ramp = [f(np.array([10. * i, 0.]), i)[0] for i in range(30)]
    assert abs(ramp[-1] - 290) < 5


def test_corrupt_frame_is_counted_and_skipped(tmp_path):
    video = _write(str(tmp_path / 'bad.avi'), 12)
    _corrupt_frame(video, 5)
    src = FrameSource(video)
    frames = list(src)
    assert len(frames) == 11 and src.bad_frames == 1
    # the frames after it are the right ones (frame 6: A at x = 34)
    a_x = [_blobs(f[..., 0])[:, 0].min() for f in frames]
    assert abs(a_x[5] - _blobs(_frame(6)[..., 0])[:, 0].min()) <= 1
    # a corrupt last frame: counted from the frame count of the file
    video = _write(str(tmp_path / 'bad_end.avi'), 8)
    _corrupt_frame(video, 7)
    src = FrameSource(video)
    assert len(list(src)) == 7 and src.bad_frames == 1


def test_unopenable_sources(tmp_path):
    with pytest.raises(VideoSourceError, match='cannot open camera 97'):
        FrameSource(97)
    with pytest.raises(VideoSourceError, match='does not exist'):
        FrameSource(str(tmp_path / 'none.mp4'))
    junk = tmp_path / 'junk.mp4'
    junk.write_bytes(b'not a video')
    with pytest.raises(VideoSourceError, match='cannot open video'):
        FrameSource(str(junk))


class _FakeStream:
    """A cv2.VideoCapture of a stream that sends 3 frames, then stalls
    (blocks) or ends (read fails)."""

    mode = 'stall'

    def __init__(self, *args, **kwargs):
        self.n = 0

    def isOpened(self):
        return True

    def get(self, prop):
        return 0.

    def read(self):
        self.n += 1
        if self.n <= 3:
            return True, _frame(self.n)
        if self.mode == 'stall':
            time.sleep(3)
        return False, None

    def release(self):
        pass


@pytest.mark.parametrize('mode', ['stall', 'end'])
def test_stream_that_stalls_or_ends(monkeypatch, mode):
    monkeypatch.setattr(_FakeStream, 'mode', mode)
    monkeypatch.setattr(cv2, 'VideoCapture', _FakeStream)
    src = FrameSource('rtsp://camera.invalid/live', timeout=0.5)
    assert src.kind == 'stream'
    got = []
    start = time.perf_counter()
    if mode == 'stall':
        with pytest.raises(StreamStalledError, match='no frame for 0.5 s'):
            for frame in src:
                got.append(frame)
        assert time.perf_counter() - start < 2.5  # not the 3 s of read
    else:
        got = list(src)
    assert len(got) == 3


def test_progress_shows_frames_per_second():
    out = io.StringIO()
    bar = Progress(3, stream=out, every=0.)
    for _ in range(3):
        bar.update(extra=', 0 bad frames')
    bar.close()
    text = out.getvalue()
    assert '3/3' in text and 'fps' in text and '0 bad frames' in text
    live = Progress(0, stream=io.StringIO(), every=0.)
    live.update()
    assert live.line().startswith('1 frames,')
