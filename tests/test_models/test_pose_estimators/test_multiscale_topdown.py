# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""MultiScaleTopdownPoseEstimator: image-pyramid + flip test.

Geometry conventions the tests check (written out independently of the
implementation):

* pixel centres sit at integer coordinates; a bilinear resize of an (H, W)
  crop to (h, w) with ``align_corners=False`` puts base pixel x at
  ``x_s = (x + 0.5) * r - 0.5`` with ``r = w / W`` (per axis);
* ``'resize'`` keeps the aspect: (h, w) = (round(H s), round(W s)), then
  pads right/bottom to a multiple of ``size_divisor``;
* heatmap index u sits at input pixel ``u * stride`` (MSRA);
* a coordinate head's normalised x refers to the image it saw (Wp wide).
"""
import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from mmpose.registry import MODELS
from mmpose.structures import PoseDataSample

from mmpose_ext.models.pose_estimators.multiscale_topdown import \
    MultiScaleTopdownPoseEstimator

K = 4
CODEC = dict(
    type='MSRAHeatmap', input_size=(64, 64), heatmap_size=(16, 16), sigma=2)
PREPROC = dict(
    type='PoseDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True)
SADI = dict(
    data_preprocessor=PREPROC,
    backbone=dict(
        type='RFMHourglassNet',
        num_keypoints=K,
        num_stacks=1,
        stage_channels=(8, 16, 32, 64),
        stem_channels=8),
    neck=dict(
        type='SpatialFusionModule',
        in_channels=(8, 16, 32, 64),
        fuse_channels=16,
        head_channels=(16, 32, 64, 128),
        out_channels=64),
    head=dict(type='DLMHead', num_keypoints=K, in_channels=64, decoder=CODEC))
HOURGLASS = dict(
    data_preprocessor=PREPROC,
    # MMPose's HourglassNet stem always ends with 256 channels
    backbone=dict(
        type='HourglassNet',
        downsample_times=2,
        num_stacks=1,
        stage_channels=(256, 16, 16),
        stage_blocks=(1, 1, 1),
        feat_channel=16),
    head=dict(
        type='CPMHead',
        in_channels=16,
        out_channels=K,
        num_stages=1,
        deconv_out_channels=None,
        decoder=CODEC))
FLIP = dict(flip_test=True, flip_mode='heatmap', shift_heatmap=True)

# a non-square (H, W) = (64, 48) crop for the geometry tests (COCO's 4:3)
H, W = 64, 48
STRIDE = 4


@MODELS.register_module(force=True)
class MsTestPoolNet(BaseModule):
    """Identity-like heatmap "network": heatmap cell u is the mean of input
    channel 0 over the 5x5 pixels centred on pixel ``u * 4`` (so index u
    sits at pixel u * stride, MSRA's convention), repeated for 2 joints."""

    def forward(self, x):
        hm = F.avg_pool2d(x[:, :1], STRIDE + 1, STRIDE, STRIDE // 2)
        return (hm.repeat(1, 2, 1, 1), )


@MODELS.register_module(force=True)
class MsTestCentroidNet(BaseModule):
    """The ideal coordinate "network" for one bright spot: its intensity
    centroid (channel 0) in the image it sees, normalised by that image's
    width and height, (B, 2)."""

    def forward(self, x):
        return (torch.from_numpy(_centroid_norm(x.numpy())).to(x), )


def _centroid_norm(img):
    """Normalised (cx / w, cy / h) of channel 0 of (B, C, h, w), numpy."""
    w = img[:, 0].astype(np.float64)
    ys, xs = np.arange(w.shape[1]), np.arange(w.shape[2])
    tot = w.sum((1, 2))
    cx = (w.sum(1) * xs).sum(-1) / tot
    cy = (w.sum(2) * ys).sum(-1) / tot
    return np.stack([cx / w.shape[2], cy / w.shape[1]], 1)


def _pair(model_cfg, test_cfg, ms=None):
    torch.manual_seed(0)
    plain = MODELS.build(
        dict(
            type='TopdownPoseEstimator',
            **model_cfg,
            test_cfg=copy.deepcopy(test_cfg)))
    plain.init_weights()
    ms_cfg = copy.deepcopy(test_cfg)
    if ms is not None:
        ms_cfg['multiscale_test'] = ms
    multi = MODELS.build(
        dict(
            type='MultiScaleTopdownPoseEstimator',
            **model_cfg,
            test_cfg=ms_cfg))
    multi.load_state_dict(plain.state_dict())
    return plain.eval(), multi.eval()


def _samples(b=2, hw=(64, 64), flip_indices=(1, 0, 3, 2)):
    """Data samples whose image frame is the input frame (input_center at
    the crop centre, input_scale = input_size), so predicted keypoints are
    input-pixel coordinates."""
    h, w = hw
    out = []
    for _ in range(b):
        ds = PoseDataSample(
            metainfo=dict(
                flip_indices=list(flip_indices),
                input_size=(w, h),
                input_center=np.array([w / 2, h / 2]),
                input_scale=np.array([float(w), float(h)])))
        ds.gt_instances = InstanceData(
            bboxes=np.array([[0., 0., w, h]]), bbox_scores=np.ones(1))
        out.append(ds)
    return out


def _inputs(b=2, hw=(64, 64)):
    torch.manual_seed(1)
    return torch.randn(b, 3, *hw)


def _spot(x0, y0, sigma=4.0, hw=(H, W)):
    """A bright Gaussian spot centred on pixel (x0, y0), (1, 3, H, W),
    background 0 (black without normalisation). Smooth enough (sigma =
    1 heatmap cell) that heatmap sampling moves its centroid by < 0.2 px."""
    yy, xx = np.mgrid[:hw[0], :hw[1]].astype(np.float32)
    spot = np.exp(-((xx - x0)**2 + (yy - y0)**2) / (2 * sigma**2))
    return torch.from_numpy(spot).expand(1, 3, *hw).clone()


def _pool_model(ms, flip=False, preproc=None):
    return MODELS.build(
        dict(
            type='MultiScaleTopdownPoseEstimator',
            data_preprocessor=preproc or dict(type='PoseDataPreprocessor'),
            backbone=dict(type='MsTestPoolNet'),
            # no deconv / conv / final layer: HeatmapHead passes the map on
            head=dict(
                type='HeatmapHead',
                in_channels=2,
                out_channels=2,
                deconv_out_channels=None,
                final_layer=None,
                decoder=dict(
                    type='MSRAHeatmap',
                    input_size=(W, H),
                    heatmap_size=(W // STRIDE, H // STRIDE),
                    sigma=2)),
            test_cfg=dict(
                flip_test=flip,
                shift_heatmap=True,
                output_heatmaps=True,
                multiscale_test=ms))).eval()


X_BIAS = 0.01  # normalised x offset of the coordinate head (scale dependent
# in pixels: 0.01 * Wp / r), so the per-scale predictions differ


def _rle_model(ms, flip=False, estimator='MultiScaleTopdownPoseEstimator'):
    """MMPose's RLEHead + RegressionLabel on the centroid net, its fc set so
    that joint k predicts x = cx + X_BIAS, y = cy, sigma = sigmoid(cx),
    sigmoid(cy) (score 1 - mean sigma depends on the scale too)."""
    model = MODELS.build(
        dict(
            type=estimator,
            data_preprocessor=dict(type='PoseDataPreprocessor'),
            backbone=dict(type='MsTestCentroidNet'),
            head=dict(
                type='RLEHead',
                in_channels=2,
                num_joints=2,
                decoder=dict(type='RegressionLabel', input_size=(W, H))),
            test_cfg=dict(
                flip_test=flip, shift_coords=True,
                multiscale_test=ms))).eval()
    fc = model.head.fc
    with torch.no_grad():
        fc.weight.zero_()
        fc.bias.zero_()
        for k in range(2):
            fc.weight[4 * k, 0] = fc.weight[4 * k + 2, 0] = 1
            fc.weight[4 * k + 1, 1] = fc.weight[4 * k + 3, 1] = 1
            fc.bias[4 * k] = X_BIAS
    return model


def _expected_net_input(x, s, div, pad=0.0):
    """The pyramid's network input for scale s, built here by hand (scale 1
    is the crop as it is)."""
    if s == 1:
        return x, (H, W)
    h, w = int(np.floor(H * s + 0.5)), int(np.floor(W * s + 0.5))
    hp, wp = -(-h // div) * div, -(-w // div) * div
    resized = F.interpolate(
        x, size=(h, w), mode='bilinear', align_corners=False)
    out = torch.full((x.shape[0], x.shape[1], hp, wp), 0.0)
    out += torch.as_tensor(pad).view(1, -1, 1, 1)
    out[..., :h, :w] = resized
    return out, (h, w)


def _ideal_keypoint_at_scale(x, s, flip, div=32):
    """Base-frame keypoint and score of the RLE centroid model at scale s,
    computed from the conventions in the module docstring."""
    net_in, (h, w) = _expected_net_input(x, s, div)
    hp, wp = net_in.shape[-2:]
    c = _centroid_norm(net_in.numpy())[0]
    xy = np.array([c[0] + X_BIAS, c[1]])
    sig = 1 / (1 + np.exp(-c))
    if flip:
        cf = _centroid_norm(net_in.flip(-1).numpy())[0]
        # RLEHead / flip_coordinates: x -> 1 - x - 1 / (flipped image width)
        xy_f = np.array([1 - (cf[0] + X_BIAS) - 1 / wp, cf[1]])
        xy = (xy + xy_f) / 2
        sig = (sig + 1 / (1 + np.exp(-cf))) / 2
    pix = xy * [wp, hp]  # pixels of the network input
    r = np.array([w / W, h / H])
    return (pix + 0.5) / r - 0.5, 1 - sig.mean()


# ------------------------------------------------------------ scale 1 = plain
@pytest.mark.parametrize(
    'model_cfg', [SADI, HOURGLASS],
    ids=['sadi_dlm_head', 'hourglass_cpm_head'])
@pytest.mark.parametrize(
    'test_cfg', [FLIP, dict(flip_test=False)], ids=['flip', 'noflip'])
@pytest.mark.parametrize(
    'ms', [None, dict(scales=[1.0])], ids=['no_ms_cfg', 'one_scale'])
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


@pytest.mark.parametrize('flip', [False, True])
def test_one_scale_coordinate_head_equals_topdown_pose_estimator(flip):
    x = _spot(20.5, 30.5)
    plain = _rle_model(None, flip, estimator='TopdownPoseEstimator')
    multi = _rle_model(dict(scales=(1.0, )), flip)
    with torch.no_grad():
        a = plain.predict(x, _samples(1, (H, W), (1, 0)))
        b = multi.predict(x, _samples(1, (H, W), (1, 0)))
    assert np.array_equal(a[0].pred_instances.keypoints,
                          b[0].pred_instances.keypoints)


@pytest.mark.parametrize('mode', ['resize', 'zoom'])
def test_six_scales_run_and_output_base_heatmaps(mode):
    _, multi = _pair(
        SADI, dict(FLIP, output_heatmaps=True),
        dict(
            scales=(0.75, 0.875, 1.0, 1.125, 1.25, 1.5),
            mode=mode,
            size_divisor=16))
    with torch.no_grad():
        out = multi.predict(_inputs(), _samples())
    assert out[0].pred_instances.keypoints.shape == (1, K, 2)
    assert out[0].pred_fields.heatmaps.shape == (K, 16, 16)
    assert np.isfinite(out[0].pred_instances.keypoints).all()


# ----------------------------------------------------------- pyramid geometry
@pytest.mark.parametrize(
    'hw,s,resized,padded',
    [
        ((256, 192), 0.75, (192, 144), (192, 160)),  # not 192 x 128
        ((256, 192), 0.875, (224, 168), (224, 192)),
        ((256, 192), 1.125, (288, 216), (288, 224)),
        ((256, 192), 1.25, (320, 240), (320, 256)),
        ((256, 192), 1.5, (384, 288), (384, 288)),  # no padding needed
        ((64, 48), 0.75, (48, 36), (64, 64)),
        ((250, 190), 1.0, (250, 190), (250, 190)),  # scale 1 untouched
    ])
def test_pyramid_sizes_keep_the_aspect_and_pad_to_the_divisor(
        hw, s, resized, padded):
    cfg = dict(mode='resize', size_divisor=32)
    got = MultiScaleTopdownPoseEstimator._pyramid_sizes(hw, s, cfg)
    assert got == (resized, padded)
    assert MultiScaleTopdownPoseEstimator._pyramid_sizes(
        hw, s, dict(cfg, mode='zoom')) == (hw, hw)


@pytest.mark.parametrize('flip', [False, True])
def test_network_input_is_the_resized_crop_padded_with_black(flip):
    """At each scale the network sees the crop resized by s on both sides
    (same aspect up to rounding) in the top-left corner and the normalised
    black value right of and below it, at a multiple of 32."""
    scales = (0.75, 1.25, 1.5)
    model = _pool_model(
        dict(scales=scales, size_divisor=32), flip, preproc=PREPROC)
    seen = []
    model.backbone.register_forward_pre_hook(
        lambda m, args: seen.append(args[0].clone()))
    x = torch.randn(2, 3, H, W)
    with torch.no_grad():
        model.predict(x, _samples(2, (H, W), (1, 0)))
    assert len(seen) == len(scales) * (2 if flip else 1)
    black = -torch.tensor(PREPROC['mean']) / torch.tensor(PREPROC['std'])
    for i, s in enumerate(scales):
        got = seen[i * 2] if flip else seen[i]
        want, (h, w) = _expected_net_input(x, s, 32, pad=black)
        assert got.shape == want.shape
        assert got.shape[-2] % 32 == 0 and got.shape[-1] % 32 == 0
        assert abs(w / h - W / H) <= 1 / h  # aspect kept up to rounding
        assert torch.allclose(got, want, atol=1e-6)
        # the padding is exactly black: rows below, columns right
        assert torch.equal(got[..., h:, :], want[..., h:, :])
        assert torch.equal(got[..., :, w:], want[..., :, w:])
        assert got.shape[-1] > w  # each of these scales needs padding
        if flip:
            assert torch.equal(seen[i * 2 + 1], got.flip(-1))


@pytest.mark.parametrize('s', [0.75, 0.875, 1.0, 1.125, 1.25, 1.5, 2.0])
@pytest.mark.parametrize('x0,y0', [(20.5, 30.5), (36.0, 50.0), (14.25, 17.75),
                                   (33.0, 13.0)])
def test_bright_spot_maps_back_to_its_base_heatmap_position(s, x0, y0):
    """Identity-like network (the heatmap is the pooled image): a spot at
    base pixel (x0, y0) is resized (0.75, 0.875, 1.125, 1.25, 1.5 need
    padding of a 64 x 48 crop), its heatmap mapped back, and the merged
    heatmap's centroid is at (x0, y0) / stride in the base heatmap."""
    model = _pool_model(dict(scales=(s, ), size_divisor=32))
    with torch.no_grad():
        out = model.predict(_spot(x0, y0), _samples(1, (H, W), (1, 0)))
    hm = out[0].pred_fields.heatmaps[0].numpy()
    assert hm.shape == (H // STRIDE, W // STRIDE)
    yy, xx = np.mgrid[:hm.shape[0], :hm.shape[1]]
    cx, cy = (hm * xx).sum() / hm.sum(), (hm * yy).sum() / hm.sum()
    assert abs(cx * STRIDE - x0) < 0.3 and abs(cy * STRIDE - y0) < 0.3


def test_heatmap_scales_are_averaged():
    """The merged heatmap is the mean of the single-scale merged ones."""
    x = _spot(20.5, 30.5) + 0.1 * torch.rand(1, 3, H, W)
    scales = (0.75, 1.0, 1.5)
    with torch.no_grad():
        both = _pool_model(dict(scales=scales)).predict(
            x, _samples(1, (H, W), (1, 0)))
        single = [
            _pool_model(dict(scales=(s, ))).predict(
                x, _samples(1, (H, W), (1, 0)))[0].pred_fields.heatmaps
            for s in scales
        ]
    assert torch.allclose(
        both[0].pred_fields.heatmaps, sum(single) / len(scales), atol=1e-6)
    assert not torch.allclose(single[0], single[2], atol=1e-3)


# ---------------------------------------------- exact heatmap back-mapping
def _ramp(n_rows, n_cols, content_rows, content_cols, axis, pad=1e6):
    """Heatmap (1, 1, n_rows, n_cols) whose value is its own index along
    ``axis`` (x: -1, y: -2) in the content cells and ``pad`` elsewhere.
    Bilinear resampling reproduces a linear function exactly, so the value
    read back at a base cell IS the scaled-heatmap index it was mapped to."""
    rows = torch.arange(n_rows, dtype=torch.float64)[:, None]
    cols = torch.arange(n_cols, dtype=torch.float64)[None, :]
    hm = (cols if axis == -1 else rows).expand(n_rows, n_cols).clone()
    hm[content_rows:, :] = pad
    hm[:, content_cols:] = pad
    return hm[None, None]


@pytest.mark.parametrize('s', [0.75, 1.25, 2.0])
def test_resize_back_mapping_is_exact_and_padding_does_not_leak(s):
    cfg = dict(mode='resize', size_divisor=32)
    (h, w), (hp, wp) = MultiScaleTopdownPoseEstimator._pyramid_sizes((H, W), s,
                                                                     cfg)
    affine = MultiScaleTopdownPoseEstimator._frame_affine(
        s, cfg, (H, W), (h, w))
    n_rows, n_cols = hp // STRIDE, wp // STRIDE
    content = (-(-h // STRIDE), -(-w // STRIDE))  # cells u with 4u < h, w
    u0 = np.arange(W // STRIDE) * STRIDE  # base pixels of base cells (x)
    v0 = np.arange(H // STRIDE) * STRIDE
    for axis, base_px, size, n_in in ((-1, u0, W, content[1]), (-2, v0, H,
                                                                content[0])):
        r = (w if axis == -1 else h) / size
        want = np.clip(((base_px + 0.5) * r - 0.5) / STRIDE, 0, n_in - 1)
        hm = _ramp(n_rows, n_cols, *content, axis)
        back, mask = MultiScaleTopdownPoseEstimator._heatmaps_to_base(
            hm,
            affine, (H, W), (h, w), (hp, wp), (H // STRIDE, W // STRIDE),
            full_cover=True)
        got = back[0, 0, 0] if axis == -1 else back[0, 0, :, 0]
        assert back.abs().max() < 1e3  # no padded cell reached the result
        assert np.allclose(got.numpy(), want, atol=1e-6)
        assert (mask == 1).all()


@pytest.mark.parametrize('s', [0.5, 1.5])
def test_zoom_back_mapping_is_exact(s):
    """Zoom about c = 31.5: base pixel 4u is at c + (4u - c) * s, i.e.
    scaled heatmap index (c + (4u - c) * s) / 4; the coverage mask keeps
    the base cells that index lies on (within half a cell)."""
    cfg = dict(mode='zoom', size_divisor=32)
    affine = MultiScaleTopdownPoseEstimator._frame_affine(
        s, cfg, (64, 64), (64, 64))
    c = 31.5
    u1 = (c + (np.arange(16) * 4 - c) * s) / 4
    for axis in (-1, -2):
        back, mask = MultiScaleTopdownPoseEstimator._heatmaps_to_base(
            _ramp(16, 16, 16, 16, axis), affine, (64, 64), (64, 64), (64, 64),
            (16, 16))
        got = back[0, 0, 0] if axis == -1 else back[0, 0, :, 0]
        assert np.allclose(got.numpy(), np.clip(u1, 0, 15), atol=1e-6)
    inside = (u1 >= -0.5) & (u1 <= 15.5)
    assert np.array_equal(mask[0, 0].numpy(),
                          (inside[:, None] & inside[None, :]).astype(float))
    # zooming in by 1.5 sees the central 2/3 of the crop only
    assert inside.sum() == (10 if s == 1.5 else 16)


def test_zoom_mode_warps_inputs_consistently():
    """A bright pixel at p moves to c + (p - c) * s in the zoomed crop and a
    heatmap blob there maps back to p / 4."""
    _, multi = _pair(SADI, {}, dict(scales=(1.5, ), mode='zoom'))
    cfg = multi._ms_cfg()
    x = torch.zeros(1, 3, 64, 64)
    x[..., 20, 40] = 10.
    zoomed, resized = multi._scale_inputs(x, 1.5, cfg)
    assert resized == (64, 64)
    pad = multi._pad_value(x)
    c = 31.5
    zy, zx = np.unravel_index(
        int((zoomed[0, 0] - pad[0, 0]).abs().argmax()), (64, 64))
    assert abs(zx - (c + (40 - c) * 1.5)) <= 1
    assert abs(zy - (c + (20 - c) * 1.5)) <= 1


def test_zoom_out_pads_with_normalised_black():
    _, multi = _pair(SADI, {}, dict(scales=(0.5, ), mode='zoom'))
    x = torch.randn(1, 3, 64, 64)
    zoomed, _ = multi._scale_inputs(x, 0.5, multi._ms_cfg())
    pad = multi._pad_value(x)
    assert torch.allclose(zoomed[..., 0, 0], pad[..., 0, 0])
    assert torch.allclose(
        pad.flatten(), -torch.tensor([123.675, 116.28, 103.53]) /
        torch.tensor([58.395, 57.12, 57.375]))


@pytest.mark.parametrize('mode,s', [('resize', 0.75), ('resize', 1.25),
                                    ('zoom', 1.5), ('zoom', 0.75)])
def test_keypoint_mapping_inverts_the_heatmap_mapping(mode, s):
    """Heatmap and keypoint merges use one mapping: the scaled-heatmap index
    the heatmap merge reads for base cell u (the ramp's value), taken to
    pixels (times the stride) and through the keypoint mapping, is the base
    pixel of u again."""
    cls = MultiScaleTopdownPoseEstimator
    cfg = dict(mode=mode, size_divisor=32)
    (h, w), (hp, wp) = cls._pyramid_sizes((H, W), s, cfg)
    affine = cls._frame_affine(s, cfg, (H, W), (h, w))
    n = (hp // STRIDE, wp // STRIDE)
    # no clamping at the borders: all cells are content
    read_x, _ = cls._heatmaps_to_base(
        _ramp(*n, *n, -1, pad=0), affine, (H, W), (h, w), (hp, wp),
        (H // STRIDE, W // STRIDE))
    read_y, _ = cls._heatmaps_to_base(
        _ramp(*n, *n, -2, pad=0), affine, (H, W), (h, w), (hp, wp),
        (H // STRIDE, W // STRIDE))
    read = torch.stack([read_x[0, 0], read_y[0, 0]], -1).numpy()
    base = cls._keypoints_to_base(read * STRIDE, affine, (1.0, 1.0))
    yy, xx = np.mgrid[:H // STRIDE, :W // STRIDE] * STRIDE
    # where the read index was not clamped to the first / last cell
    n_in = (-(-h * n[0] // hp), -(-w * n[1] // wp))
    free = [(read[..., i] > 1e-6) & (read[..., i] < n_in[1 - i] - 1 - 1e-6)
            for i in (0, 1)]
    assert free[0].sum() >= 12 and free[1].sum() >= 12
    assert np.allclose(base[..., 0][free[0]], xx[free[0]], atol=1e-5)
    assert np.allclose(base[..., 1][free[1]], yy[free[1]], atol=1e-5)


# ------------------------------------------------------- coordinate heads
@pytest.mark.parametrize('flip', [False, True])
@pytest.mark.parametrize('s', [0.75, 0.875, 1.25, 2.0])
def test_coordinate_head_single_scale_is_unbiased(s, flip):
    """The ideal coordinate network finds the spot at every scale (within
    0.01 px): no 0.5 * (1 - 1 / r) px resize bias, no flip shift about the
    base width (at s = 2 that would be off by 0.25 px)."""
    x0, y0 = 20.5, 30.5
    model = _rle_model(dict(scales=(s, ), size_divisor=32), flip)
    with torch.no_grad():
        model.head.fc.bias.zero_()  # no offset: the truth is (x0, y0)
        out = model.predict(_spot(x0, y0), _samples(1, (H, W), (1, 0)))
    kpts = out[0].pred_instances.keypoints[0]
    assert np.abs(kpts - [x0, y0]).max() < 0.01


@pytest.mark.parametrize('flip', [False, True])
def test_keypoint_merge_is_the_mean_of_mapped_single_scale_predictions(flip):
    x = _spot(20.5, 30.5) + 0.05 * torch.rand(1, 3, H, W)
    scales = (0.75, 1.0, 1.25, 2.0)
    model = _rle_model(dict(scales=scales, size_divisor=32), flip)
    assert model._merge_mode(model._ms_cfg()) == 'keypoint'
    with torch.no_grad():
        out = model.predict(x, _samples(1, (H, W), (1, 0)))
    per_scale = [_ideal_keypoint_at_scale(x, s, flip) for s in scales]
    want_kpt = np.mean([k for k, _ in per_scale], 0)
    want_score = np.mean([sc for _, sc in per_scale])
    inst = out[0].pred_instances
    assert np.allclose(inst.keypoints[0], want_kpt[None], atol=1e-4)
    assert np.allclose(inst.keypoint_scores[0], want_score, atol=1e-6)
    # the scales disagree (X_BIAS is 0.01 * Wp / r px): a real average
    xs = [k[0] for k, _ in per_scale]
    assert max(xs) - min(xs) > 0.05 or flip


def test_coordinate_flip_uses_each_scales_input_width():
    """The head gets copies of the data samples with input_size = the
    scale's network input (w, h); the caller's samples keep theirs."""
    scales = (1.0, 0.75, 2.0)
    model = _rle_model(dict(scales=scales, size_divisor=32), flip=True)
    seen = []
    predict = model.head.predict

    def spy(feats, samples, test_cfg):
        seen.append([tuple(ds.metainfo['input_size']) for ds in samples])
        return predict(feats, samples, test_cfg)

    model.head.predict = spy
    samples = _samples(2, (H, W), (1, 0))
    with torch.no_grad():
        model.predict(torch.cat([_spot(20.5, 30.5)] * 2), samples)
    assert seen == [[(48, 64)] * 2, [(64, 64)] * 2, [(96, 128)] * 2]
    assert all(tuple(ds.metainfo['input_size']) == (W, H) for ds in samples)


def test_sadi_regression_mode_merges_keypoints():
    _, multi = _pair(SADI, dict(FLIP, predict_from='regression'),
                     dict(scales=(1.0, 1.5), size_divisor=16))
    assert multi._merge_mode(multi._ms_cfg()) == 'keypoint'
    with torch.no_grad():
        out = multi.predict(_inputs(), _samples())
    assert out[0].pred_instances.keypoints.shape == (1, K, 2)
    assert np.isfinite(out[0].pred_instances.keypoints).all()
    _, heat = _pair(SADI, dict(FLIP), dict(scales=(1.0, 1.5)))
    assert heat._merge_mode(heat._ms_cfg()) == 'heatmap'


@pytest.mark.parametrize('flip', [False, True])
def test_keypoint_scales_replace_scales_for_the_keypoint_merge(flip):
    """``keypoint_scales`` is what a coordinate head is merged over: with
    (1.0,) the pyramid's other scales are never run and the prediction is
    the single-scale one; a heatmap head keeps ``scales``."""
    x = _spot(20.5, 30.5) + 0.05 * torch.rand(1, 3, H, W)
    single = _rle_model(dict(scales=(1.0, )), flip)
    pyramid = _rle_model(dict(scales=(0.75, 1.0, 2.0)), flip)
    chosen = _rle_model(
        dict(scales=(0.75, 1.0, 2.0), keypoint_scales=(1.0, )), flip)
    runs = []
    chosen.backbone.register_forward_hook(
        lambda m, i, o: runs.append(tuple(i[0].shape[-2:])))
    with torch.no_grad():
        a = single.predict(x, _samples(1, (H, W), (1, 0)))
        b = pyramid.predict(x, _samples(1, (H, W), (1, 0)))
        c = chosen.predict(x, _samples(1, (H, W), (1, 0)))
    ka, kb, kc = (o[0].pred_instances.keypoints for o in (a, b, c))
    assert np.array_equal(kc, ka)
    assert not np.allclose(kb, ka)  # the pyramid would have changed it
    assert set(runs) == {(H, W)}
    _, heat = _pair(SADI, dict(FLIP),
                    dict(scales=(1.0, 1.5), keypoint_scales=(1.0, )))
    assert heat._merge_mode(heat._ms_cfg()) == 'heatmap'
    assert heat._ms_cfg()['scales'] == (1.0, 1.5)


# ------------------------------------------------------------------- misc
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


@pytest.mark.parametrize('ms,name', [
    (dict(scales=[]), 'scales'),
    (dict(scales=[1.0, 0]), 'scales'),
    (dict(scales=[1.0], mode='crop'), 'mode'),
    (dict(scales=[1.0], size_divisor=0), 'size_divisor'),
    (dict(scales=[1.0], merge='max'), 'merge'),
    (dict(scales=[1.0], keypoint_scales=[]), 'keypoint_scales'),
    (dict(scales=[1.0], keypoint_scales=[1.0, -1]), 'keypoint_scales'),
])
def test_invalid_multiscale_cfg(ms, name):
    with pytest.raises(ValueError, match=name):
        MODELS.build(
            dict(
                type='MultiScaleTopdownPoseEstimator',
                **SADI,
                test_cfg=dict(multiscale_test=ms)))


def test_registered():
    assert MODELS.get('MultiScaleTopdownPoseEstimator') is \
        MultiScaleTopdownPoseEstimator
