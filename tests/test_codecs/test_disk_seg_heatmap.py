# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
import math

import numpy as np
import pytest

from mmpose_ext.codecs import DiskSegHeatmap

INPUT = (192, 256)  # (w, h)
HEATMAP = (48, 64)  # (W, H)


def _codec(**kwargs):
    cfg = dict(input_size=INPUT, heatmap_size=HEATMAP)
    cfg.update(kwargs)
    return DiskSegHeatmap(**cfg)


def _lattice_disk_area(r):
    """Number of integer points (x, y) with x^2 + y^2 <= r^2."""
    r = int(r)
    return sum(2 * math.isqrt(r * r - dx * dx) + 1 for dx in range(-r, r + 1))


def _to_input(xy_heatmap):
    """Heatmap-pixel coordinates -> input-image coordinates (scale 4)."""
    return np.asarray(xy_heatmap, dtype=np.float32) * 4


@pytest.mark.parametrize('radius', [0, 3, 5, 9])
def test_disk_area_matches_radius(radius):
    codec = _codec(disk_radius=radius)
    kpts = _to_input([[[24, 32]]])  # one keypoint in the middle
    enc = codec.encode(kpts, np.ones((1, 1)))
    mask = enc['seg_masks']
    assert mask.shape == (1, 64, 48) and mask.dtype == np.float32
    assert set(np.unique(mask)) <= {0.0, 1.0}
    assert mask.sum() == _lattice_disk_area(radius)  # 1, 29, 81, 253
    ys, xs = np.nonzero(mask[0])
    assert ((xs - 24)**2 + (ys - 32)**2 <= radius**2).all()


def test_mask_is_union_over_keypoints_and_instances():
    codec = _codec(disk_radius=3)
    kpts = _to_input([[[5, 5], [40, 50]], [[20, 30], [5, 5]]])  # N=2, K=2
    enc = codec.encode(kpts, np.ones((2, 2)))
    # three distinct, non-overlapping disks (the 4th repeats the 1st)
    assert enc['seg_masks'].sum() == 3 * _lattice_disk_area(3)
    assert enc['heatmaps'].shape == (2, 64, 48)
    assert enc['keypoint_weights'].shape == (2, 2)
    # heatmaps of several instances are maxed: keypoint 0 peaks twice
    assert enc['heatmaps'][0, 5, 5] == 1 and enc['heatmaps'][0, 30, 20] == 1


def test_invisible_keypoints_add_nothing():
    codec = _codec()
    kpts = _to_input([[[10, 10], [30, 40]]])
    enc = codec.encode(kpts, np.array([[1., 0.]]))
    assert enc['seg_masks'].sum() == _lattice_disk_area(5)
    mask = enc['seg_masks'][0]
    assert mask[10, 10] == 1 and mask[40, 30] == 0
    np.testing.assert_array_equal(enc['keypoint_weights'], [[1., 0.]])
    assert enc['heatmaps'][1].max() == 0


def test_no_visible_keypoint_gives_zero_mask_and_weights():
    codec = _codec()
    kpts = _to_input([[[10, 10], [30, 40], [20, 20]]])
    enc = codec.encode(kpts, np.zeros((1, 3)))
    assert not enc['seg_masks'].any()
    assert not enc['keypoint_weights'].any()
    assert not enc['heatmaps'].any()
    assert np.isfinite(enc['heatmaps']).all()


def test_out_of_crop_keypoints():
    codec = _codec()
    # far outside: no Gaussian in the map -> weight 0, nothing drawn;
    # just outside (x = -3): a partial Gaussian as MSRAHeatmap, but no disk
    kpts = _to_input([[[-30, 10], [-3, 20], [24, 100]]])
    enc = codec.encode(kpts, np.ones((1, 3)))
    np.testing.assert_array_equal(enc['keypoint_weights'], [[0., 1., 0.]])
    assert not enc['seg_masks'].any()
    assert enc['heatmaps'][0].max() == 0 and enc['heatmaps'][2].max() == 0
    assert 0 < enc['heatmaps'][1].max() < 1


@pytest.mark.parametrize('sigma', [2, 3])
@pytest.mark.parametrize('seed', [0, 1])
def test_heatmaps_equal_msra_heatmap(sigma, seed):
    from mmpose.codecs import MSRAHeatmap
    rng = np.random.default_rng(seed)
    kpts = rng.uniform(-40, 260, size=(1, 17, 2)).astype(np.float32)
    vis = (rng.uniform(size=(1, 17)) > 0.2).astype(np.float32)
    msra = MSRAHeatmap(input_size=INPUT, heatmap_size=HEATMAP, sigma=sigma)
    ref = msra.encode(kpts, vis)
    enc = _codec(sigma=sigma).encode(kpts, vis)
    np.testing.assert_allclose(enc['heatmaps'], ref['heatmaps'], atol=1e-6)
    np.testing.assert_array_equal(enc['keypoint_weights'],
                                  ref['keypoint_weights'])


def test_gaussian_is_truncated_to_the_square():
    codec = _codec(sigma=2, half_side=2)
    enc = codec.encode(_to_input([[[20, 30]]]), np.ones((1, 1)))
    hm = enc['heatmaps'][0]
    ys, xs = np.nonzero(hm)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (18, 22, 28, 32)
    assert hm[30, 22] == pytest.approx(math.exp(-4 / 8), rel=1e-6)
    assert hm[32, 22] == pytest.approx(math.exp(-8 / 8), rel=1e-6)


@pytest.mark.parametrize('unbiased,tol', [(False, 2.01), (True, 0.01)])
def test_decode_inverts_encode(unbiased, tol):
    codec = _codec(unbiased=unbiased)
    rng = np.random.default_rng(0)
    # >= l = 6 heatmap px from the border, so no Gaussian is clipped
    kpts = rng.uniform([24, 24], [168, 232], size=(1, 17, 2))
    enc = codec.encode(kpts.astype(np.float32), np.ones((1, 17)))
    dec, scores = codec.decode(enc['heatmaps'])
    assert dec.shape == (1, 17, 2) and scores.shape == (1, 17)
    # within half a heatmap pixel (4 input px; rounding + quarter shift), or
    # sub-pixel exact with DARK
    assert np.abs(dec - kpts).max() <= tol
    # the maximum: 1 at the rounded centre, a bit less off-pixel (DARK)
    assert (scores <= 1 + 1e-6).all() and (scores > 0.9).all()


def test_unbiased_centres_are_subpixel_and_truncated():
    codec = _codec(unbiased=True, half_side=6)
    enc = codec.encode(_to_input([[[20.5, 30.25]]]), np.ones((1, 1)))
    hm = enc['heatmaps'][0]
    assert hm[30, 20] == pytest.approx(
        math.exp(-(0.25 + 0.0625) / 8), rel=1e-5)
    assert hm[30, 27] == 0 and hm[30, 26] > 0  # |26 - 20.5| <= 6 < 6.5


@pytest.mark.parametrize('kwargs,name',
                         [(dict(sigma=0), 'sigma'), (dict(sigma=-1), 'sigma'),
                          (dict(sigma=float('nan')), 'sigma'),
                          (dict(disk_radius=-1), 'disk_radius'),
                          (dict(half_side=-0.5), 'half_side'),
                          (dict(heatmap_size=(48, 0)), 'heatmap_size'),
                          (dict(input_size=(192.5, 256)), 'input_size')])
def test_invalid_arguments_raise_value_error(kwargs, name):
    with pytest.raises(ValueError, match=name):
        _codec(**kwargs)


def test_bad_keypoint_shapes_raise():
    codec = _codec()
    with pytest.raises(ValueError, match='keypoints'):
        codec.encode(np.zeros((17, 2)))
    with pytest.raises(ValueError, match='keypoints_visible'):
        codec.encode(np.zeros((1, 17, 2)), np.ones((1, 16)))


def test_pipeline_packs_mask_and_keeps_instance_fields():
    """GenerateTarget + PackPoseInputs deliver every field (none dropped)."""
    from mmpose.datasets.transforms import (GenerateTarget, GetBBoxCenterScale,
                                            PackPoseInputs, TopdownAffine)
    codec_cfg = dict(
        type='DiskSegHeatmap',
        input_size=INPUT,
        heatmap_size=HEATMAP,
        sigma=2,
        disk_radius=5)
    rng = np.random.default_rng(0)
    kpts = rng.uniform([60, 40], [140, 300], size=(1, 17, 2))
    results = dict(
        img=rng.integers(0, 255, (360, 240, 3), dtype=np.uint8),
        img_shape=(360, 240),
        ori_shape=(360, 240),
        img_path='x.jpg',
        id=1,
        img_id=1,
        category_id=1,
        bbox=np.array([[50., 30., 150., 310.]], dtype=np.float32),
        bbox_score=np.ones(1, dtype=np.float32),
        keypoints=kpts.astype(np.float32),
        keypoints_visible=np.ones((1, 17), dtype=np.float32),
        head_size=np.array([20.], dtype=np.float32),
        flip_indices=list(range(17)))
    for t in (GetBBoxCenterScale(), TopdownAffine(input_size=INPUT),
              GenerateTarget(encoder=codec_cfg)):
        results = t(results)
    expected_mask = _np_disk_mask(results['transformed_keypoints'],
                                  results['keypoints_visible'], 5)
    results = PackPoseInputs()(results)
    sample = results['data_samples']
    assert set(sample.gt_fields.keys()) == {'heatmaps', 'seg_masks'}
    assert tuple(sample.gt_fields.seg_masks.shape) == (1, 64, 48)
    assert tuple(sample.gt_fields.heatmaps.shape) == (17, 64, 48)
    assert expected_mask.any()
    np.testing.assert_array_equal(sample.gt_fields.seg_masks.numpy(),
                                  expected_mask)
    assert 'keypoint_weights' in sample.gt_instance_labels
    for key in ('bboxes', 'bbox_scores', 'bbox_scales', 'head_size',
                'keypoints', 'keypoints_visible'):
        assert key in sample.gt_instances, key


def test_decode_clamps_refined_keypoints_to_the_heatmap():
    # DARK's refinement on a flat maximum can land past the border; the
    # parent's decode is made to do that here, deterministically.
    from unittest import mock

    from mmpose.codecs import MSRAHeatmap

    from mmpose_ext.codecs import DiskSegHeatmap
    codec = DiskSegHeatmap(
        input_size=(48, 64), heatmap_size=(12, 16), sigma=2, unbiased=True)
    hm = np.zeros((3, 16, 12), np.float32)
    hm[0, 0, 0] = hm[1, 15, 11] = 0.7  # keypoint 2: empty heatmap
    outside = np.array([[[-2.5, -1.0], [60.0, 80.0], [-4.0, -4.0]]])
    with mock.patch.object(
            MSRAHeatmap,
            'decode',
            return_value=(outside.copy(), np.array([[0.7, 0.7, 0.0]]))):
        kpts, scores = codec.decode(hm)
    np.testing.assert_allclose(kpts[0, 0], [0, 0])
    np.testing.assert_allclose(kpts[0, 1], [11 * 4, 15 * 4])
    np.testing.assert_allclose(kpts[0, 2], [-4, -4])  # empty: untouched


# ------------------------------------------------- the real COCO pipeline
# Real annotated COCO persons (tests/conftest.py: real_data_root) through
# MMPose's own training transforms: LoadImage, GetBBoxCenterScale,
# RandomFlip(prob=1), RandomBBoxTransform (shift, scale and rotation always
# on, with a seeded global numpy RNG that is restored afterwards) and
# TopdownAffine to 192x256; GenerateTarget runs in the tests.

REAL_PIPELINE = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal', prob=1.0),
    dict(
        type='RandomBBoxTransform',
        shift_prob=1.0,
        scale_prob=1.0,
        rotate_prob=1.0),
    dict(type='TopdownAffine', input_size=INPUT),
]


@pytest.fixture(scope='module')
def real_coco_samples(real_data_root):
    """[(raw data info, results after TopdownAffine)] for every person."""
    from mmpose.datasets import CocoDataset
    dataset = CocoDataset(
        data_root=real_data_root,
        ann_file='coco/test_coco.json',
        data_prefix=dict(img='coco/'),
        data_mode='topdown',
        pipeline=REAL_PIPELINE)
    state = np.random.get_state()
    np.random.seed(0)
    try:
        out = [(dataset.get_data_info(i), dataset[i])
               for i in range(len(dataset))]
    finally:
        np.random.set_state(state)
    assert len(out) >= 10
    return out


def _encode(results, encoder):
    """GenerateTarget(encoder) on a copy of the pipeline results."""
    import copy

    from mmpose.datasets.transforms import GenerateTarget
    return GenerateTarget(encoder=encoder)(copy.deepcopy(results))


def _np_disk_mask(keypoints, visible, radius, scale=4, size=HEATMAP):
    """The mask rebuilt independently, keypoint by keypoint.

    Convention (read from the codec, as its docstring says: the disk centres
    are the heatmaps' centres, which are MSRAHeatmap's): heatmap pixel
    (i, j) has its centre at the heatmap coordinate (i, j), i.e. input
    coordinate / 4; a keypoint's centre is ``int(x / 4 + 0.5)``, C-style
    truncation towards zero as MSRAHeatmap's ``(kpt + 0.5).astype(int)``,
    which rounds half up for x / 4 >= -0.5 but maps (-1.5, -0.5) to 0
    (a stricter "rounded keypoint inside the heatmap" would drop those);
    a keypoint counts if visible (>= 0.5) and its centre lies in
    [0, W-1] x [0, H-1]; a pixel is 1 iff its squared distance to such a
    centre is <= radius^2 (boundary included).
    """
    W, H = size
    mask = np.zeros((H, W), dtype=np.float32)
    for (x, y), v in zip(
            keypoints.reshape(-1, keypoints.shape[-1])[:, :2],
            visible.reshape(-1)):
        if v < 0.5:
            continue
        cx, cy = int(x / scale + 0.5), int(y / scale + 0.5)
        if not (0 <= cx <= W - 1 and 0 <= cy <= H - 1):
            continue
        for py in range(H):
            for px in range(W):
                if (px - cx)**2 + (py - cy)**2 <= radius**2:
                    mask[py, px] = 1
    return mask[None]


def test_real_pipeline_flips_and_warps_the_keypoints(real_coco_samples):
    """What the mask tests below rely on: the pipeline really flipped (the
    visibility is the annotation's, permuted by flip_indices) and warped
    the keypoints (transformed_keypoints = the affine of the mirrored
    keypoints), and some visible keypoints fall outside the crop."""
    from mmpose.structures.bbox import get_warp_matrix
    outside = 0
    for raw, res in real_coco_samples:
        flip = res['flip_indices']
        assert flip != list(range(17)) and res['flip']
        np.testing.assert_array_equal(res['keypoints_visible'],
                                      raw['keypoints_visible'][:, flip])
        w = res['ori_shape'][1]
        mirrored = raw['keypoints'][:, flip].copy()
        mirrored[..., 0] = w - 1 - mirrored[..., 0]
        mat = get_warp_matrix(
            res['bbox_center'][0],
            res['bbox_scale'][0],
            res['bbox_rotation'][0],
            output_size=INPUT)
        expected = mirrored @ mat[:, :2].T + mat[:, 2]
        np.testing.assert_allclose(
            res['transformed_keypoints'], expected, atol=1e-3)
        c = res['transformed_keypoints'][0] / 4
        vis = res['keypoints_visible'][0] >= 0.5
        outside += int((vis & ((c < -0.5).any(-1) | (c[:, 0] > 47.5)
                               | (c[:, 1] > 63.5))).sum())
    assert outside > 0


@pytest.mark.parametrize('radius', [3, 5, 9])
def test_real_pipeline_mask_equals_disks_of_transformed_keypoints(
        real_coco_samples, radius):
    """GenerateTarget(DiskSegHeatmap) on real, flipped, rotated, scaled and
    shifted persons: seg_masks equals the union of disks of radius r (in
    heatmap pixels) around the visible in-crop TRANSFORMED keypoints,
    rebuilt here pixel by pixel (see _np_disk_mask for the convention)."""
    codec = dict(
        type='DiskSegHeatmap',
        input_size=INPUT,
        heatmap_size=HEATMAP,
        sigma=2,
        disk_radius=radius)
    nonempty = flip_matters = 0
    for _, res in real_coco_samples:
        out = _encode(res, codec)
        expected = _np_disk_mask(res['transformed_keypoints'],
                                 out['keypoints_visible'], radius)
        assert out['seg_masks'].shape == (1, 64, 48)
        assert out['seg_masks'].dtype == np.float32
        np.testing.assert_array_equal(
            out['seg_masks'], expected, err_msg=res['img_path'])
        nonempty += bool(expected.any())
        # the visibility must be the flipped one: the unflipped visibility
        # gives another mask wherever the two differ inside the crop
        unflipped_vis = res['keypoints_visible'][:, res['flip_indices']]
        flip_matters += not np.array_equal(
            _np_disk_mask(res['transformed_keypoints'], unflipped_vis, radius),
            out['seg_masks'])
    assert nonempty >= 10 and flip_matters >= 3


def test_real_pipeline_targets_and_decode_equal_msra_heatmap(
        real_coco_samples):
    """The SG-HRNet baseline relies on this: on the real pipeline's
    keypoints DiskSegHeatmap's heatmaps and keypoint_weights are
    MSRAHeatmap's (weights bit-exact; heatmaps to one float32 ulp of 1,
    6e-8: the codec multiplies separable float32 exponentials where
    MSRAHeatmap takes one exponential of the sum), and decoding gives the
    same keypoints (bit-exact) and scores, whether the two codecs decode
    their own heatmaps or the same ones."""
    from mmpose.codecs import MSRAHeatmap
    common = dict(input_size=INPUT, heatmap_size=HEATMAP, sigma=2)
    seg_codec, msra = DiskSegHeatmap(**common), MSRAHeatmap(**common)
    for _, res in real_coco_samples:
        ours = _encode(res, dict(type='DiskSegHeatmap', **common))
        ref = _encode(res, dict(type='MSRAHeatmap', **common))
        np.testing.assert_array_equal(ours['keypoint_weights'],
                                      ref['keypoint_weights'])
        np.testing.assert_allclose(
            ours['heatmaps'], ref['heatmaps'], rtol=0, atol=1e-7)
        assert ours['heatmaps'].dtype == ref['heatmaps'].dtype
        k_ours, s_ours = seg_codec.decode(ours['heatmaps'])
        k_ref, s_ref = msra.decode(ref['heatmaps'])
        np.testing.assert_array_equal(k_ours, k_ref)
        np.testing.assert_allclose(s_ours, s_ref, rtol=0, atol=1e-7)
        for hm in (ours['heatmaps'], ref['heatmaps']):
            for a, b in zip(seg_codec.decode(hm), msra.decode(hm)):
                np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_decode_equals_msra_decode_on_noisy_heatmaps(seed):
    """Same heatmaps in, same keypoints and scores out, also for noisy
    (predicted-like) heatmaps whose maxima sit anywhere, borders included,
    and for empty ones (MMPose's -1 keypoint, score 0)."""
    from mmpose.codecs import MSRAHeatmap
    rng = np.random.default_rng(seed)
    codec = _codec()
    msra = MSRAHeatmap(input_size=INPUT, heatmap_size=HEATMAP, sigma=2)
    kpts = rng.uniform(-10, 200, size=(1, 17, 2)).astype(np.float32)
    hm = msra.encode(kpts, np.ones((1, 17)))['heatmaps']
    hm = hm + rng.normal(0, 0.05, hm.shape).astype(np.float32)
    hm[0] = rng.uniform(0, 1, hm[0].shape)  # maximum anywhere
    hm[1] = 0  # empty
    hm[2, :, 0] = 2  # maximum on the left border
    got, ref = codec.decode(hm), msra.decode(hm)
    for a, b in zip(got, ref):
        np.testing.assert_array_equal(a, b)
    assert (got[0][0, 1] == -4).all() and got[1][0, 1] == 0
