# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""MultiScaleTopdownPoseEstimator: image-pyramid + flip test."""
import copy

import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData
from mmpose.registry import MODELS
from mmpose.structures import PoseDataSample

from mmpose_ext.models.pose_estimators.multiscale_topdown import \
    MultiScaleTopdownPoseEstimator

K = 4
CODEC = dict(type='MSRAHeatmap', input_size=(64, 64), heatmap_size=(16, 16),
             sigma=2)
PREPROC = dict(type='PoseDataPreprocessor', mean=[123.675, 116.28, 103.53],
               std=[58.395, 57.12, 57.375], bgr_to_rgb=True)
SADI = dict(
    data_preprocessor=PREPROC,
    backbone=dict(type='RFMHourglassNet', num_keypoints=K, num_stacks=1,
                  stage_channels=(8, 16, 32, 64), stem_channels=8),
    neck=dict(type='SpatialFusionModule', in_channels=(8, 16, 32, 64),
              fuse_channels=16, head_channels=(16, 32, 64, 128),
              out_channels=64),
    head=dict(type='DLMHead', num_keypoints=K, in_channels=64,
              decoder=CODEC))
HOURGLASS = dict(
    data_preprocessor=PREPROC,
    # MMPose's HourglassNet stem always ends with 256 channels
    backbone=dict(type='HourglassNet', downsample_times=2, num_stacks=1,
                  stage_channels=(256, 16, 16), stage_blocks=(1, 1, 1),
                  feat_channel=16),
    head=dict(type='CPMHead', in_channels=16, out_channels=K, num_stages=1,
              deconv_out_channels=None, decoder=CODEC))
FLIP = dict(flip_test=True, flip_mode='heatmap', shift_heatmap=True)


def _pair(model_cfg, test_cfg, ms=None):
    torch.manual_seed(0)
    plain = MODELS.build(dict(type='TopdownPoseEstimator', **model_cfg,
                              test_cfg=copy.deepcopy(test_cfg)))
    plain.init_weights()
    ms_cfg = copy.deepcopy(test_cfg)
    if ms is not None:
        ms_cfg['multiscale_test'] = ms
    multi = MODELS.build(dict(type='MultiScaleTopdownPoseEstimator',
                              **model_cfg, test_cfg=ms_cfg))
    multi.load_state_dict(plain.state_dict())
    return plain.eval(), multi.eval()


def _samples(b=2):
    out = []
    for _ in range(b):
        ds = PoseDataSample(metainfo=dict(
            flip_indices=[1, 0, 3, 2], input_size=(64, 64),
            input_center=np.array([32., 32.]), input_scale=np.array([64.,
                                                                     64.])))
        ds.gt_instances = InstanceData(
            bboxes=np.array([[0., 0., 64., 64.]]), bbox_scores=np.ones(1))
        out.append(ds)
    return out


def _inputs(b=2, hw=(64, 64)):
    torch.manual_seed(1)
    return torch.randn(b, 3, *hw)


@pytest.mark.parametrize('model_cfg', [SADI, HOURGLASS],
                         ids=['sadi_dlm_head', 'hourglass_cpm_head'])
@pytest.mark.parametrize('test_cfg', [FLIP, dict(flip_test=False)],
                         ids=['flip', 'noflip'])
@pytest.mark.parametrize('ms', [None, dict(scales=[1.0])],
                         ids=['no_ms_cfg', 'one_scale'])
def test_one_scale_equals_topdown_pose_estimator(model_cfg, test_cfg, ms):
    plain, multi = _pair(model_cfg, dict(test_cfg, output_heatmaps=True), ms)
    x = _inputs()
    with torch.no_grad():
        a = plain.predict(x, _samples())
        b = multi.predict(x, _samples())
    for da, db in zip(a, b):
        assert np.array_equal(da.pred_instances.keypoints,
                              db.pred_instances.keypoints)
        assert np.array_equal(da.pred_instances.keypoint_scores,
                              db.pred_instances.keypoint_scores)
        assert torch.equal(da.pred_fields.heatmaps, db.pred_fields.heatmaps)


def test_one_scale_equals_plain_with_dlm_average_mode():
    cfg = dict(FLIP, predict_from='average')
    plain, multi = _pair(SADI, cfg, dict(scales=(1.0, )))
    x = _inputs()
    with torch.no_grad():
        a = plain.predict(x, _samples())
        b = multi.predict(x, _samples())
    assert np.array_equal(a[0].pred_instances.keypoints,
                          b[0].pred_instances.keypoints)


@pytest.mark.parametrize('mode', ['resize', 'zoom'])
def test_six_scales_run_and_output_base_heatmaps(mode):
    _, multi = _pair(
        SADI, dict(FLIP, output_heatmaps=True),
        dict(scales=(0.75, 0.875, 1.0, 1.125, 1.25, 1.5), mode=mode,
             size_divisor=16))
    with torch.no_grad():
        out = multi.predict(_inputs(), _samples())
    assert out[0].pred_instances.keypoints.shape == (1, K, 2)
    assert out[0].pred_fields.heatmaps.shape == (K, 16, 16)


def test_scales_are_averaged():
    """With two scales the merged heatmap is the mean of the resampled
    per-scale heatmaps."""
    _, multi = _pair(SADI, dict(output_heatmaps=True),
                     dict(scales=(1.0, 2.0), size_divisor=16))
    _, single2 = _pair(SADI, dict(output_heatmaps=True),
                       dict(scales=(2.0, ), size_divisor=16))
    x = _inputs()
    with torch.no_grad():
        h1 = multi.head.forward(multi.extract_feat(x))
        both = multi.predict(x, _samples())
        only2 = single2.predict(x, _samples())
    merged = torch.stack([d.pred_fields.heatmaps for d in both])
    h2 = torch.stack([d.pred_fields.heatmaps for d in only2])
    assert torch.allclose(merged, (h1 + h2) / 2, atol=1e-6)


def _gauss(h, w, cx, cy, s=1.2):
    yy, xx = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(),
                            indexing='ij')
    return torch.exp(-((xx - cx)**2 + (yy - cy)**2) / (2 * s * s))[None,
                                                                     None]


def _centroid(hm):
    hm = hm[0, 0]
    yy, xx = torch.meshgrid(torch.arange(hm.shape[0]).float(),
                            torch.arange(hm.shape[1]).float(), indexing='ij')
    return float((hm * xx).sum() / hm.sum()), float((hm * yy).sum() /
                                                    hm.sum())


@pytest.mark.parametrize('s', [0.75, 1.5, 2.0])
def test_resize_heatmaps_map_back_exactly(s):
    """A keypoint at base input coordinate X lands at scaled heatmap index
    ((X + 0.5) * s - 0.5) / 4; resampling brings it back to X / 4."""
    _, multi = _pair(SADI, {}, dict(scales=(s, ), size_divisor=16))
    cfg = multi._ms_cfg()
    in_hw = (64, 64)
    scaled_hw = multi._scaled_size(in_hw, s, 16)
    r = scaled_hw[1] / 64
    X, Y = 30.0, 21.0
    h1, w1 = scaled_hw[0] // 4, scaled_hw[1] // 4
    cx1 = ((X + 0.5) * r - 0.5) / (scaled_hw[1] / w1)
    cy1 = ((Y + 0.5) * r - 0.5) / (scaled_hw[0] / h1)
    hm = _gauss(h1, w1, cx1, cy1, s=1.5 * r)
    back, mask = multi._heatmaps_to_base(hm, s, cfg, in_hw, scaled_hw,
                                         (16, 16))
    assert (mask == 1).all()  # resizing never loses content
    cx, cy = _centroid(back)
    assert abs(cx - X / 4) < 0.05 and abs(cy - Y / 4) < 0.05


def test_zoom_mode_warps_inputs_and_heatmaps_consistently():
    _, multi = _pair(SADI, {}, dict(scales=(1.5, ), mode='zoom'))
    cfg = multi._ms_cfg()
    # a bright pixel at (x, y) moves to c + (p - c) * s in the zoomed crop
    x = torch.zeros(1, 3, 64, 64)
    x[..., 20, 40] = 10.
    zoomed = multi._scale_inputs(x, 1.5, cfg)
    pad = multi._pad_value(x)
    c = 31.5
    zy, zx = np.unravel_index(int((zoomed[0, 0] - pad[0, 0]).abs().argmax()),
                              (64, 64))
    assert abs(zx - (c + (40 - c) * 1.5)) <= 1
    assert abs(zy - (c + (20 - c) * 1.5)) <= 1
    # and a heatmap blob at the zoomed position maps back to the original
    hm = _gauss(16, 16, (c + (40 - c) * 1.5) / 4, (c + (20 - c) * 1.5) / 4,
                s=1.8)
    back, mask = multi._heatmaps_to_base(hm, 1.5, cfg, (64, 64), (64, 64),
                                         (16, 16))
    bx, by = _centroid(back * mask)
    # zooming in by 1.5 sees the central 2/3 of the crop only
    assert mask[0, 0].sum(1).max() == mask[0, 0].sum(0).max() == 10
    assert abs(bx - 40 / 4) < 0.1 and abs(by - 20 / 4) < 0.1


def test_zoom_out_pads_with_normalised_black():
    _, multi = _pair(SADI, {}, dict(scales=(0.5, ), mode='zoom'))
    x = torch.randn(1, 3, 64, 64)
    zoomed = multi._scale_inputs(x, 0.5, multi._ms_cfg())
    pad = multi._pad_value(x)
    assert torch.allclose(zoomed[..., 0, 0], pad[..., 0, 0])
    assert torch.allclose(pad.flatten(),
                          -torch.tensor([123.675, 116.28, 103.53]) /
                          torch.tensor([58.395, 57.12, 57.375]))


@pytest.mark.parametrize('mode,neck_calls', [('heatmap', 0), ('average', 2)])
def test_neck_is_skipped_when_the_head_does_not_use_it(mode, neck_calls):
    plain, multi = _pair(SADI, dict(FLIP, predict_from=mode))
    calls = []
    multi.neck.register_forward_hook(lambda *a: calls.append(1))
    x = _inputs()
    with torch.no_grad():
        a = plain.predict(x, _samples())
        b = multi.predict(x, _samples())
    assert len(calls) == neck_calls  # flip: two passes
    assert np.array_equal(a[0].pred_instances.keypoints,
                          b[0].pred_instances.keypoints)


def test_regression_prediction_merges_keypoints_over_scales():
    _, multi = _pair(SADI, dict(FLIP, predict_from='regression'),
                     dict(scales=(1.0, 1.5), size_divisor=16))
    assert multi._merge_mode(multi._ms_cfg()) == 'keypoint'
    with torch.no_grad():
        out = multi.predict(_inputs(), _samples())
    assert out[0].pred_instances.keypoints.shape == (1, K, 2)


@pytest.mark.parametrize('ms,name', [
    (dict(scales=[]), 'scales'),
    (dict(scales=[1.0, 0]), 'scales'),
    (dict(scales=[1.0], mode='crop'), 'mode'),
    (dict(scales=[1.0], size_divisor=0), 'size_divisor'),
    (dict(scales=[1.0], merge='max'), 'merge'),
])
def test_invalid_multiscale_cfg(ms, name):
    with pytest.raises(ValueError, match=name):
        MODELS.build(dict(type='MultiScaleTopdownPoseEstimator', **SADI,
                          test_cfg=dict(multiscale_test=ms)))


def test_registered():
    assert MODELS.get('MultiScaleTopdownPoseEstimator') is \
        MultiScaleTopdownPoseEstimator
