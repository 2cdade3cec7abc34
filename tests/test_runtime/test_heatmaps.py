# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""The runtime's numpy post-processing gives what MMPose's code gives:
flip merge, maximum + quarter offset / DARK decoding (MSRAHeatmap and the
plugin's DiskSegHeatmap), the multi-scale resampling, and the two NMS."""
import numpy as np
import pytest
import torch

from mmpose_ext_runtime.heatmaps import (decode_heatmaps, flip_back,
                                         resample_to_base)
from mmpose_ext_runtime.nms import filter_persons, nms

K, H, W = 17, 32, 24


def _heatmaps(n, seed=0):
    """Gaussian blobs at random places (some at the border, one empty)."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:H, 0:W]
    cx = rng.uniform(-1, W, (n, K, 1, 1))
    cy = rng.uniform(-1, H, (n, K, 1, 1))
    hm = np.exp(-((xs - cx)**2 +
                  (ys - cy)**2) / 8) * rng.uniform(0.2, 1, (n, K, 1, 1))
    hm = hm + rng.normal(0, 0.01, hm.shape)
    hm[0, 0] = -0.1  # no maximum above 0: MMPose gives (-1, -1)
    return hm.astype(np.float32)


def test_flip_back_is_mmposes_flip_heatmaps():
    from mmpose.models.utils.tta import flip_heatmaps
    hm = _heatmaps(3)
    flip = list(np.random.default_rng(1).permutation(K))
    for shift in (True, False):
        ref = flip_heatmaps(
            torch.from_numpy(hm.copy()),
            flip_indices=flip,
            shift_heatmap=shift).numpy()
        np.testing.assert_array_equal(flip_back(hm, flip, shift), ref)


@pytest.mark.parametrize('codec', ['MSRAHeatmap', 'DiskSegHeatmap'])
@pytest.mark.parametrize('unbiased', [False, True])
def test_decode_is_the_codecs(codec, unbiased):
    from mmpose.codecs import MSRAHeatmap

    from mmpose_ext.codecs import DiskSegHeatmap
    cls = MSRAHeatmap if codec == 'MSRAHeatmap' else DiskSegHeatmap
    c = cls(
        input_size=(96, 128), heatmap_size=(W, H), sigma=2, unbiased=unbiased)
    hm = _heatmaps(4, seed=2)
    kpts, scores = decode_heatmaps(
        hm, (96, 128), unbiased, 11, clamp_to_heatmap=cls is DiskSegHeatmap)
    for i in range(len(hm)):
        rk, rs = c.decode(hm[i].copy())
        np.testing.assert_allclose(kpts[i], rk[0], atol=1e-4)
        np.testing.assert_array_equal(scores[i], rs[0])
    # the refinement moved keypoints off the grid, and the empty heatmap
    # kept MMPose's (-1, -1) x stride
    assert (np.abs(kpts / 4 - np.round(kpts / 4)) > 1e-3).any()
    assert scores[0, 0] < 0


def test_resample_to_base_is_the_pyramids():
    from mmpose_ext.models.pose_estimators.multiscale_topdown import \
        MultiScaleTopdownPoseEstimator as MS
    cfg = dict(mode='resize', size_divisor=32)
    in_hw = (128, 96)
    rng = np.random.default_rng(3)
    for s in (0.75, 0.875, 1.25, 1.5):
        resized, padded = MS._pyramid_sizes(in_hw, s, cfg)
        affine = MS._frame_affine(s, cfg, in_hw, resized)
        hm = rng.random((2, K, padded[0] // 4, padded[1] // 4),
                        dtype=np.float32)
        ref, _ = MS._heatmaps_to_base(
            torch.from_numpy(hm),
            affine,
            in_hw,
            resized,
            padded, (H, W),
            full_cover=True)
        got = resample_to_base(hm, in_hw, resized, padded, (H, W))
        np.testing.assert_allclose(got, ref.numpy(), atol=1e-5)


def test_nms_matches_mmcv_and_mmpose():
    from mmcv.ops import nms as mmcv_nms
    from mmpose.evaluation.functional import nms as mmpose_nms
    rng = np.random.default_rng(4)
    xy = rng.uniform(0, 200, (300, 2))
    wh = rng.uniform(10, 80, (300, 2))
    boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
    scores = rng.random(300).astype(np.float32)
    for thr in (0.3, 0.65):
        _, ref = mmcv_nms(
            torch.from_numpy(boxes), torch.from_numpy(scores), thr)
        np.testing.assert_array_equal(nms(boxes, scores, thr), ref.numpy())
        dets = np.concatenate([boxes, scores[:, None]], 1)
        assert sorted(nms(boxes, scores, thr,
                          offset=1.)) == sorted(mmpose_nms(dets, thr))
    from mmpose_ext.apis import filter_detections
    np.testing.assert_array_equal(
        filter_persons(dets, 0.3, 0.3, 5),
        filter_detections(dets, 0.3, 0.3, 5))
