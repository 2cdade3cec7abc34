# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Property-based tests (hypothesis) of the plugin's codec, the MMPose
transform that runs it, and the bad-annotation checks.

For any keypoints (inside, on the border of and far outside the crop),
visibilities, input/heatmap sizes, sigmas, square half-sides and disk radii:
no NaN/Inf, heatmaps in [0, 1], masks binary, weights in [0, 1], nothing
drawn for invisible keypoints, and decoding stays inside the heatmap.
"""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mmpose_ext.codecs import DiskSegHeatmap

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def codecs(draw):
    hw = draw(st.integers(2, 24))
    hh = draw(st.integers(2, 24))
    stride = draw(st.sampled_from([1, 2, 4]))
    sigma = draw(st.floats(0.3, 6.0))
    half_side = draw(st.one_of(st.none(), st.floats(0.0, 12.0)))
    radius = draw(st.floats(0.0, 12.0))
    unbiased = draw(st.booleans())
    codec = DiskSegHeatmap(
        input_size=(hw * stride, hh * stride),
        heatmap_size=(hw, hh),
        sigma=sigma,
        half_side=half_side,
        disk_radius=radius,
        unbiased=unbiased)
    return codec


@st.composite
def instances(draw, codec):
    n = draw(st.integers(1, 3))
    k = draw(st.integers(1, 8))
    w, h = codec.input_size
    # within the crop, near its border, and far outside
    coord = st.floats(-3.0 * max(w, h), 4.0 * max(w, h), width=32)
    kpts = draw(hnp.arrays(np.float32, (n, k, 2), elements=coord))
    vis = draw(
        hnp.arrays(
            np.float32, (n, k),
            elements=st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0])))
    return kpts, vis


@SETTINGS
@given(data=st.data())
def test_encode_is_finite_bounded_and_binary(data):
    codec = data.draw(codecs())
    kpts, vis = data.draw(instances(codec))
    out = codec.encode(kpts, vis)
    W, H = codec.heatmap_size
    hm, mask, wts = out['heatmaps'], out['seg_masks'], out['keypoint_weights']
    assert hm.shape == (kpts.shape[1], H, W) and hm.dtype == np.float32
    assert mask.shape == (1, H, W)
    assert wts.shape == kpts.shape[:2]
    for arr in (hm, mask, wts):
        assert np.isfinite(arr).all()
    assert hm.min() >= 0 and hm.max() <= 1
    assert set(np.unique(mask)) <= {0.0, 1.0}
    # visibilities in [0, 1] (MMPose's parsers clip COCO's 2 to 1)
    assert ((wts >= 0) & (wts <= 1)).all()
    assert (wts <= vis).all()


@SETTINGS
@given(data=st.data())
def test_invisible_keypoints_draw_nothing(data):
    codec = data.draw(codecs())
    kpts, vis = data.draw(instances(codec))
    out = codec.encode(kpts, np.zeros_like(vis))
    assert not out['heatmaps'].any() and not out['seg_masks'].any()
    assert not out['keypoint_weights'].any()


def _encode_with_invisible_nan(kpts, nan_at, unbiased):
    kpts = kpts.copy()
    kpts[0, nan_at] = np.nan
    vis = np.ones(kpts.shape[:2], np.float32)
    vis[0, nan_at] = 0
    codec = DiskSegHeatmap((64, 64), (16, 16), unbiased=unbiased)
    with np.errstate(invalid='ignore'):
        out = codec.encode(kpts, vis)
    for arr in out.values():
        assert np.isfinite(arr).all()
    assert out['keypoint_weights'][0, nan_at] == 0


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    kpts=hnp.arrays(
        np.float32, (1, 5, 2), elements=st.floats(0, 60, width=32)),
    nan_at=st.integers(0, 4))
def test_invisible_nan_keypoints_give_no_nan(kpts, nan_at):
    _encode_with_invisible_nan(kpts, nan_at, unbiased=False)


def test_invisible_nan_keypoints_give_no_nan_unbiased():
    kpts = np.array([[[10, 10], [20, 30], [40, 50]]], np.float32)
    _encode_with_invisible_nan(kpts, 1, unbiased=True)


@SETTINGS
@given(data=st.data())
def test_mask_covers_visible_keypoints_inside_the_heatmap(data):
    codec = data.draw(codecs())
    kpts, vis = data.draw(instances(codec))
    out = codec.encode(kpts, vis)
    W, H = codec.heatmap_size
    centres = kpts / codec.scale_factor
    if not codec.unbiased:
        centres = np.floor(centres + 0.5)
    rounded = np.rint(centres).astype(np.int64)
    cx, cy = centres[..., 0], centres[..., 1]
    inside = (vis >= 0.5) & (cx >= 0) & (cx <= W - 1) & (cy >= 0) & (
        cy <= H - 1)
    for n, k in zip(*np.nonzero(inside)):
        x, y = rounded[n, k]
        # the nearest pixel is inside the disk when the radius reaches it
        if np.hypot(*(centres[n, k] - (x, y))) <= codec.disk_radius:
            assert out['seg_masks'][0, y, x] == 1
    if not inside.any():
        assert not out['seg_masks'].any()


@SETTINGS
@given(data=st.data())
def test_decode_stays_inside_the_heatmap(data):
    codec = data.draw(codecs())
    W, H = codec.heatmap_size
    k = data.draw(st.integers(1, 6))
    hm = data.draw(
        hnp.arrays(
            np.float32, (k, H, W), elements=st.floats(0.0, 1.0, width=32)))
    kpts, scores = codec.decode(hm)
    assert kpts.shape == (1, k, 2) and scores.shape == (1, k)
    assert np.isfinite(kpts).all() and np.isfinite(scores).all()
    in_hm = kpts[0] / codec.scale_factor
    found = hm.reshape(k, -1).max(1) > 0
    eps = 1e-4
    assert (in_hm[found] >= -eps).all()
    assert (in_hm[found, 0] <= W - 1 + eps).all()
    assert (in_hm[found, 1] <= H - 1 + eps).all()
    # MMPose's convention for an empty heatmap: (-1, -1) and score 0
    assert np.allclose(in_hm[~found], -1) and not scores[0, ~found].any()


@SETTINGS
@given(data=st.data())
def test_encode_then_decode_recovers_visible_keypoints(data):
    # realistic settings: an integer square half side (the default 3 sigma
    # with an integer sigma; see the next test), a Gaussian that fits
    W, H = data.draw(st.integers(8, 32)), data.draw(st.integers(8, 32))
    stride = data.draw(st.sampled_from([1, 4]))
    unbiased = data.draw(st.booleans())
    sigma = data.draw(st.floats(0.5, min(W, H) / (8 if unbiased else 4)))
    codec = DiskSegHeatmap(
        input_size=(W * stride, H * stride),
        heatmap_size=(W, H),
        sigma=sigma,
        # DARK decoding assumes the Gaussian is not cut within 3 sigma
        half_side=data.draw(
            st.integers(math.ceil(3 * sigma),
                        math.ceil(3 * sigma) + 3)),
        disk_radius=data.draw(st.floats(0, 9)),
        unbiased=unbiased)
    # ... nor by the map's border (e.g. sigma 3 at 2 px from it: 0.507 px)
    m = math.ceil(3 * sigma) if unbiased else 0
    k = data.draw(st.integers(1, 4))
    xs = data.draw(
        hnp.arrays(
            np.float32, (1, k), elements=st.integers(m, W - 1 - m).map(float)))
    ys = data.draw(
        hnp.arrays(
            np.float32, (1, k), elements=st.integers(m, H - 1 - m).map(float)))
    kpts = np.stack([xs, ys], -1) * np.asarray(codec.scale_factor, np.float32)
    hm = codec.encode(kpts, np.ones((1, k), np.float32))['heatmaps']
    dec, scores = codec.decode(hm)
    err = np.abs(dec[0] / codec.scale_factor - kpts[0] / codec.scale_factor)
    assert (scores[0] > 0.5).all()
    assert (err <= 0.5 + 1e-4).all()  # the quarter-pixel shift at most


@pytest.mark.parametrize('unbiased', [False, True])
@pytest.mark.parametrize('xy', [(0, 0), (1, 0), (0, 2), (15, 15), (14, 3)])
def test_border_keypoint_peak_with_non_integer_half_side(xy, unbiased):
    # MMPose's MSRAHeatmap truncates the patch corner, which puts the peak
    # one pixel off near the left/top border when l is not an integer
    codec = DiskSegHeatmap((16, 16), (16, 16),
                           sigma=0.5,
                           half_side=1.5,
                           unbiased=unbiased)
    hm = codec.encode(
        np.array([[xy]], np.float32), np.ones((1, 1), np.float32))['heatmaps']
    assert np.unravel_index(hm[0].argmax(), hm[0].shape) == xy[::-1]
    assert hm[0].max() == pytest.approx(1.0)


def test_visible_nan_keypoint_is_refused():
    codec = DiskSegHeatmap((16, 16), (16, 16), sigma=1)
    kpts = np.array([[[3, 3], [np.nan, 5]]], np.float32)
    with pytest.raises(
            ValueError, match='keypoint 1 of instance 0 is '
            'visible'):
        codec.encode(kpts, np.ones((1, 2), np.float32))


@SETTINGS
@given(data=st.data())
def test_generate_target_transform_with_the_codec(data):
    """MMPose's GenerateTarget + PackPoseInputs, driven by the codec (the
    training-time path of SG-HRNet): packed targets keep the properties."""
    from mmpose.datasets.transforms import GenerateTarget, PackPoseInputs
    codec = data.draw(codecs())
    kpts, vis = data.draw(instances(codec))
    cfg = dict(
        type='DiskSegHeatmap',
        input_size=codec.input_size,
        heatmap_size=codec.heatmap_size,
        sigma=codec.sigma,
        half_side=codec.half_side,
        disk_radius=codec.disk_radius,
        unbiased=codec.unbiased)
    w, h = codec.input_size
    results = dict(
        img=np.zeros((h, w, 3), np.uint8),
        img_shape=(h, w),
        transformed_keypoints=kpts,
        keypoints=kpts,
        keypoints_visible=np.minimum(vis, 1),
        bbox=np.zeros((kpts.shape[0], 4), np.float32),
        bbox_score=np.ones(kpts.shape[0], np.float32))
    results = GenerateTarget(encoder=cfg)(results)
    packed = PackPoseInputs()(results)
    sample = packed['data_samples']
    heat = sample.gt_fields.heatmaps.numpy()
    mask = sample.gt_fields.seg_masks.numpy()
    wts = sample.gt_instance_labels.keypoint_weights.numpy()
    assert np.isfinite(heat).all() and 0 <= heat.min() and heat.max() <= 1
    assert set(np.unique(mask)) <= {0.0, 1.0}
    assert ((wts >= 0) & (wts <= 1)).all()


# ---------------------------------------------------------------------------
# The bad-annotation checks of SkipBadSamples never raise: any annotation is
# accepted, dropped as unlabelled, rejected with a reason, or repaired.
# ---------------------------------------------------------------------------
_num = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.integers(-10**6, 10**6))


@st.composite
def raw_annotations(draw):
    n_values = draw(st.sampled_from([0, 3, 48, 51, 53, 60]))
    kpts = draw(st.lists(_num, min_size=n_values, max_size=n_values))
    if kpts and draw(st.booleans()):
        kpts[2::3] = draw(
            st.lists(
                st.sampled_from([0, 1, 2]),
                min_size=len(kpts[2::3]),
                max_size=len(kpts[2::3])))
    ann = dict(id=1, keypoints=kpts, num_keypoints=draw(st.integers(0, 17)))
    if draw(st.booleans()):
        ann['bbox'] = draw(st.lists(_num, min_size=0, max_size=5))
    return ann


@pytest.fixture(scope='module')
def checker():
    from mmpose_ext.datasets import SkipBadSamples

    class Meta:  # a stand-in data set: only the meta is needed
        metainfo = dict(num_keypoints=17, keypoint_id2name={0: 'nose'})

    ds = SkipBadSamples.__new__(SkipBadSamples)
    ds.__dict__.update(
        dataset=Meta(),
        min_visible_keypoints=1,
        keypoints_outside_image='skip')
    return ds


@SETTINGS
@given(
    ann=raw_annotations(),
    size=st.tuples(st.integers(1, 2000), st.integers(1, 2000)))
def test_annotation_checks_never_raise(checker, ann, size):
    verdict = checker._check_raw(ann, dict(width=size[0], height=size[1]))
    if verdict is None or verdict == 'unlabelled':
        if verdict is None:
            v = np.asarray(ann['keypoints'], np.float64).reshape(-1, 3)
            assert v.shape[0] == 17 and np.isfinite(v).all()
            x, y, w, h = (float(b) for b in ann['bbox'])
            assert min(w, h) > 0 and all(map(math.isfinite, (x, y, w, h)))
            vis = v[:, 2] > 0
            assert vis.any()
            assert ((v[vis, 0] >= 0) & (v[vis, 0] <= size[0])).all()
    else:
        kind, reason = verdict
        assert isinstance(kind, str) and reason
