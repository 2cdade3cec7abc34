# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import InstanceData, PixelData

from mmpose_ext.models.backbones.sg_hrnet import SGHRNetOutput
from mmpose_ext.models.heads import SGHeatmapHead

K, C, H, W, N = 5, 8, 16, 12, 4
LAMBDA = 1.6e-6  # the head's default (64x48 heatmaps)
CODEC = dict(
    type='DiskSegHeatmap',
    input_size=(48, 64),
    heatmap_size=(W, H),
    sigma=2,
    disk_radius=3)


def _head(**kwargs):
    cfg = dict(in_channels=C, out_channels=K, decoder=CODEC)
    cfg.update(kwargs)
    return SGHeatmapHead(**cfg)


def _samples(batch=2, visible=None, seed=0):
    from mmpose.registry import KEYPOINT_CODECS
    from mmpose.structures import PoseDataSample
    codec = KEYPOINT_CODECS.build(CODEC)
    rng = np.random.default_rng(seed)
    out = []
    for b in range(batch):
        kpts = rng.uniform([4, 4], [44, 60], size=(1, K, 2))
        vis = np.ones((1, K)) if visible is None else visible[b]
        enc = codec.encode(kpts, vis)
        ds = PoseDataSample()
        ds.gt_fields = PixelData(
            heatmaps=torch.from_numpy(enc['heatmaps']),
            seg_masks=torch.from_numpy(enc['seg_masks']))
        ds.gt_instance_labels = InstanceData(
            keypoint_weights=torch.from_numpy(enc['keypoint_weights']))
        ds.set_metainfo(dict(flip_indices=list(range(K)), input_size=(48, 64)))
        out.append(ds)
    return out


def _sg(flat):
    """SGHRNet's output from ``(seg_logits_1..N, keypoint_feature)``."""
    return SGHRNetOutput(flat[N:], flat[:N])


def _flat(feats):
    """``(seg_logits_1..N, keypoint_feature)`` of SGHRNet's output."""
    return tuple(feats.seg_logits) + tuple(feats)


def _feats(batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    segs = [torch.randn(batch, 1, H, W, generator=g) for _ in range(N)]
    return _sg(tuple(segs) + (torch.randn(batch, C, H, W, generator=g), ))


def test_loss_terms_and_logged_keys():
    head = _head()
    feats, samples = _feats(), _samples()
    losses = head.loss(feats, samples)
    assert set(losses) == {
        'loss_kpt', 'loss_seg', 'dwa_w_kpt', 'dwa_w_seg', 'acc_pose'
    }
    # first step: DWA weights are 1
    assert losses['dwa_w_kpt'].item() == losses['dwa_w_seg'].item() == 1.0

    gt_hm = torch.stack([d.gt_fields.heatmaps for d in samples])
    w = torch.cat([d.gt_instance_labels.keypoint_weights for d in samples])
    pred = head.forward(feats)
    assert tuple(pred.shape) == (2, K, H, W)
    mse = (((pred - gt_hm)**2) * w[..., None, None]).mean()  # MMPose's MSE
    torch.testing.assert_close(losses['loss_kpt'], mse)

    gt_seg = torch.stack([d.gt_fields.seg_masks for d in samples])
    bce = torch.stack([
        F.binary_cross_entropy_with_logits(
            s, gt_seg, reduction='none').sum(dim=(1, 2, 3))
        for s in _flat(feats)[:N]
    ])  # (N, B): per map, summed over pixels
    torch.testing.assert_close(losses['loss_seg'], LAMBDA * bce.mean())


def _targets(samples):
    """The batch's target heatmaps, keypoint weights and disk masks."""
    gt_hm = torch.stack([d.gt_fields.heatmaps for d in samples])
    w = torch.cat([d.gt_instance_labels.keypoint_weights for d in samples])
    gt_seg = torch.stack([d.gt_fields.seg_masks for d in samples])
    return gt_hm, w, gt_seg


def test_dwa_weights_in_the_head_follow_the_raw_task_losses():
    """Over five training steps the head applies w(t) = 2 softmax(r) with
    r = L(t-1) / L(t-2) of ITS OWN raw task losses (L_key, L_seg as defined
    by eqs. 5-6), 1 for the first two steps, and logs loss_kpt = w_k L_key,
    loss_seg = w_s lambda L_seg."""
    head = _head()
    raw, logged = [], []
    for step in range(5):
        feats = _feats(seed=10 + step)
        # vary the scale of the logits so L_seg moves unlike L_key
        feats = _sg(
            tuple(f * (1 + step) for f in _flat(feats)[:N]) + _flat(feats)[N:])
        samples = _samples(seed=step)
        gt_hm, w, gt_seg = _targets(samples)
        with torch.no_grad():
            pred = head.forward(feats)
        l_key = (((pred - gt_hm)**2) * w[..., None, None]).mean().item()
        l_seg = np.mean([
            F.binary_cross_entropy_with_logits(
                s, gt_seg, reduction='none').sum(dim=(1, 2, 3)).numpy()
            for s in _flat(feats)[:N]
        ])
        raw.append((l_key, l_seg))
        logged.append({
            k: v.item()
            for k, v in head.loss(feats, samples).items()
        })
    raw = np.asarray(raw, dtype=np.float64)
    for t in range(5):
        if t < 2:
            expected = np.ones(2)
        else:
            r = raw[t - 1] / raw[t - 2]
            expected = 2 * np.exp(r) / np.exp(r).sum()
        got = np.array([logged[t]['dwa_w_kpt'], logged[t]['dwa_w_seg']])
        np.testing.assert_allclose(got, expected, rtol=1e-5, err_msg=str(t))
        np.testing.assert_allclose(
            logged[t]['loss_kpt'], expected[0] * raw[t, 0], rtol=1e-5)
        np.testing.assert_allclose(
            logged[t]['loss_seg'], expected[1] * LAMBDA * raw[t, 1], rtol=1e-5)
    assert np.abs(
        np.array([[d['dwa_w_kpt'], d['dwa_w_seg']]
                  for d in logged[2:]]) - 1).min() > 1e-3


def test_sample_without_visible_keypoints_gives_finite_losses():
    head = _head()
    samples = _samples(visible=[np.zeros((1, K)), np.zeros((1, K))])
    assert all(d.gt_fields.seg_masks.sum() == 0 for d in samples)
    losses = head.loss(_feats(), samples)
    assert all(torch.isfinite(v).all() for v in losses.values())
    assert losses['loss_kpt'].item() == 0
    assert losses['loss_seg'].item() > 0  # BCE towards an all-zero mask


@pytest.mark.parametrize('flip', [False, True])
def test_predict_ignores_seg_maps_unless_asked(flip):
    head = _head().eval()
    samples = _samples()
    feats = [_feats(), _feats(seed=1)] if flip else _feats()
    test_cfg = dict(flip_test=flip, shift_heatmap=True)
    preds = head.predict(feats, samples, test_cfg=test_cfg)
    assert isinstance(preds, list) and len(preds) == 2
    assert preds[0].keypoints.shape == (1, K, 2)

    preds, fields = head.predict(
        feats, samples, test_cfg=dict(test_cfg, output_seg_maps=True))
    assert len(fields) == 2
    seg = fields[0].seg_maps
    assert tuple(seg.shape) == (N, H, W)
    assert 0 <= seg.min() and seg.max() <= 1
    if not flip:
        torch.testing.assert_close(
            seg, torch.sigmoid(torch.cat(_flat(feats)[:N], dim=1)[0]))

    _, fields = head.predict(
        feats,
        samples,
        test_cfg=dict(test_cfg, output_seg_maps=True, output_heatmaps=True))
    assert {'heatmaps', 'seg_maps'} <= set(fields[0].keys())


FLIP_INDICES = [0, 2, 1, 4, 3]  # a left/right permutation, not identity


def _randomise(module, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
        for name, b in module.named_buffers():
            if name.endswith('running_mean'):
                b.copy_(torch.randn(b.shape, generator=g) * 0.1)
            elif name.endswith('running_var'):
                b.copy_(torch.rand(b.shape, generator=g) + 0.5)


def _flip_w(x):
    return x.flip(-1)


def _pred_samples(batch=2):
    from mmpose.structures import PoseDataSample
    out = []
    for _ in range(batch):
        ds = PoseDataSample()
        ds.set_metainfo(dict(flip_indices=FLIP_INDICES, input_size=(48, 64)))
        out.append(ds)
    return out


@pytest.mark.parametrize('flip_test,shift', [(False, False), (True, False),
                                             (True, True)])
@pytest.mark.parametrize('layers', ['final_only', 'with_convs'])
@pytest.mark.parametrize('plain_decoder', ['same', 'msra'])
def test_keypoint_prediction_equals_plain_heatmap_head(flip_test, shift,
                                                       layers, plain_decoder):
    """Same weights, same keypoint feature: SGHeatmapHead's heatmaps (flip
    test with a non-trivial flip_indices and shift_heatmap included) and
    decoded keypoints/scores are exactly those of MMPose's HeatmapHead
    (with DiskSegHeatmap's or MSRAHeatmap's decoder), and asking for the
    seg maps does not change them. The plain head gets ONLY the keypoint
    feature, so this also pins that SGHeatmapHead reads feats[-1]."""
    from mmpose.models.heads import HeatmapHead
    kwargs = dict(in_channels=C, out_channels=K, deconv_out_channels=None)
    if layers == 'with_convs':
        kwargs.update(conv_out_channels=(C, ), conv_kernel_sizes=(3, ))
    plain_codec = CODEC if plain_decoder == 'same' else dict(
        CODEC, type='MSRAHeatmap')
    plain_codec = {k: v for k, v in plain_codec.items() if k != 'disk_radius'}
    sg = SGHeatmapHead(decoder=CODEC, **kwargs).eval()
    plain = HeatmapHead(decoder=plain_codec, **kwargs).eval()
    _randomise(sg, seed=3)
    shared = plain.state_dict().keys()
    assert set(sg.state_dict()) - set(shared) == {
        k
        for k in sg.state_dict() if k.startswith('multi_task_loss.')
    }
    plain.load_state_dict({k: sg.state_dict()[k] for k in shared}, strict=True)

    feats, feats_flip = _feats(seed=0), _feats(seed=1)
    if flip_test:
        sg_in = [feats, feats_flip]
        plain_in = [(feats[-1], ), (feats_flip[-1], )]
    else:
        sg_in, plain_in = feats, (feats[-1], )
    cfg = dict(flip_test=flip_test, shift_heatmap=shift, output_heatmaps=True)
    samples = _pred_samples()
    with torch.no_grad():
        ref, ref_fields = plain.predict(plain_in, samples, test_cfg=cfg)
        for extra in ({}, dict(output_seg_maps=True)):
            got, fields = sg.predict(
                sg_in, samples, test_cfg=dict(cfg, **extra))
            assert len(got) == len(ref) == 2
            for a, b, fa, fb in zip(got, ref, fields, ref_fields):
                np.testing.assert_array_equal(a.keypoints, b.keypoints)
                np.testing.assert_array_equal(a.keypoint_scores,
                                              b.keypoint_scores)
                assert torch.equal(fa.heatmaps, fb.heatmaps)
    # the comparison is not vacuous: flip test changes the heatmaps, and
    # the keypoints are not all at one place
    if flip_test:
        no_flip = plain.predict((feats[-1], ),
                                samples,
                                test_cfg=dict(output_heatmaps=True))[1]
        assert not torch.allclose(no_flip[0].heatmaps, ref_fields[0].heatmaps)
    assert len(np.unique(ref[0].keypoints.reshape(-1, 2), axis=0)) > 1


def _seg_of(head, feats, **test_cfg):
    _, fields = head.predict(
        feats, _pred_samples(), test_cfg=dict(test_cfg, output_seg_maps=True))
    return torch.stack([f.seg_maps for f in fields])  # (B, N, H, W)


def _mirror(feats):
    """Horizontally mirrored features (every map, keypoint feature too)."""
    return _sg(tuple(_flip_w(f) for f in _flat(feats)))


def test_seg_maps_of_mirrored_features_mirror_back():
    """Without flip test: the seg maps of mirrored features, mirrored back,
    are the original maps (exact: the head only applies a sigmoid to the
    SGM logits, a pointwise map; all the convolutions of the SGMs are in
    the backbone, which is not flip-equivariant with arbitrary weights)."""
    head = _head().eval()
    feats = _feats(seed=4)
    seg = _seg_of(head, feats)
    seg_m = _seg_of(head, _mirror(feats))
    assert torch.equal(_flip_w(seg_m), seg)
    assert not torch.equal(seg_m, seg)  # the maps are not symmetric
    torch.testing.assert_close(
        seg, torch.cat(_flat(feats)[:N], 1).sigmoid(), rtol=0, atol=0)


def test_flip_averaged_seg_maps_are_exact_without_shift():
    """Flip test with shift_heatmap=False: feats_flip are the features of
    the mirrored image; here they ARE the mirrored features, so the head
    must un-mirror their maps (flip back along W, channel order kept: the
    N maps are stages, not left/right parts) and average with the original
    maps, which gives the original maps exactly. With shift_heatmap=True
    the un-mirrored maps are also shifted one pixel right (MMPose's
    heatmap convention), which breaks exactness by design; that case is
    checked against its exact formula in the next test."""
    head = _head().eval()
    feats = _feats(seed=5)
    seg = torch.cat(_flat(feats)[:N], 1).sigmoid()
    averaged = _seg_of(
        head, [feats, _mirror(feats)], flip_test=True, shift_heatmap=False)
    torch.testing.assert_close(averaged, seg, rtol=0, atol=1e-7)
    # equivariance of the flip-averaged output: the mirrored image's
    # averaged maps are the mirror of the original's
    averaged_m = _seg_of(
        head, [_mirror(feats), feats], flip_test=True, shift_heatmap=False)
    torch.testing.assert_close(
        averaged_m, _flip_w(averaged), rtol=0, atol=1e-7)

    # symmetric construction: logits equal to their own mirror give
    # symmetric averaged maps equal to their sigmoid
    sym = _sg(tuple(0.5 * (f + _flip_w(f)) for f in _flat(feats)))
    averaged_sym = _seg_of(
        head, [sym, sym], flip_test=True, shift_heatmap=False)
    torch.testing.assert_close(
        averaged_sym,
        torch.cat(_flat(sym)[:N], 1).sigmoid(),
        rtol=0,
        atol=1e-7)
    torch.testing.assert_close(
        averaged_sym, _flip_w(averaged_sym), rtol=0, atol=1e-7)

    # an unrelated flipped input changes the average (the flip half is used)
    other = _seg_of(
        head, [feats, _mirror(_feats(seed=6))],
        flip_test=True,
        shift_heatmap=False)
    assert (other - seg).abs().max() > 1e-2


def test_flip_averaged_seg_maps_follow_shift_heatmap():
    """shift_heatmap=True: the un-mirrored maps are shifted one pixel to the
    right (column 0 kept), exactly as flip_heatmaps does for the keypoint
    heatmaps, then averaged: 0.5 * (s + shift(s)) for mirrored features."""
    head = _head().eval()
    feats = _feats(seed=7)
    seg = torch.cat(_flat(feats)[:N], 1).sigmoid()
    shifted = seg.clone()
    shifted[..., 1:] = seg[..., :-1]
    averaged = _seg_of(
        head, [feats, _mirror(feats)], flip_test=True, shift_heatmap=True)
    torch.testing.assert_close(
        averaged, 0.5 * (seg + shifted), rtol=0, atol=1e-7)


def test_bad_inputs_raise_value_error():
    head = _head()
    with pytest.raises(ValueError, match='seg_logits'):
        head.loss((torch.rand(2, C, H, W), ), _samples())
    small = _sg(
        tuple(torch.rand(2, 1, H // 2, W // 2)
              for _ in range(N)) + (torch.rand(2, C, H // 2, W // 2), ))
    with pytest.raises(ValueError, match='seg_masks'):
        head.loss(small, _samples())
    with pytest.raises(ValueError, match='in_channels'):
        head.forward(
            _sg(_flat(_feats())[:-1] + (torch.rand(2, C + 1, H, W), )))
    # an SGHRNet without any SGM gives the head nothing to supervise
    with pytest.raises(ValueError, match='at least one SGM'):
        head.loss(SGHRNetOutput((torch.rand(2, C, H, W), ), ()), _samples())


def _blob_batch(batch, seed):
    """Images with bright blobs at the keypoints: learnable masks."""
    from mmpose.registry import KEYPOINT_CODECS
    from mmpose.structures import PoseDataSample
    codec = KEYPOINT_CODECS.build(
        dict(
            type='DiskSegHeatmap',
            input_size=(64, 64),
            heatmap_size=(16, 16),
            sigma=2,
            disk_radius=3))
    rng = np.random.default_rng(seed)
    imgs, samples = [], []
    yy, xx = np.mgrid[0:64, 0:64]
    for _ in range(batch):
        kpts = rng.uniform(6, 58, size=(1, 3, 2))
        img = rng.normal(0, 0.2, size=(64, 64))
        for x, y in kpts[0]:
            img += np.exp(-((xx - x)**2 + (yy - y)**2) / 18.)
        imgs.append(torch.from_numpy(np.repeat(img[None], 3, 0)).float())
        enc = codec.encode(kpts, np.ones((1, 3)))
        ds = PoseDataSample()
        ds.gt_fields = PixelData(
            heatmaps=torch.from_numpy(enc['heatmaps']),
            seg_masks=torch.from_numpy(enc['seg_masks']))
        ds.gt_instance_labels = InstanceData(
            keypoint_weights=torch.from_numpy(enc['keypoint_weights']))
        samples.append(ds)
    return torch.stack(imgs), samples


def test_segmentation_loss_trains_the_sgms():
    from mmpose.registry import MODELS

    from mmpose_ext.devkit.testing import tiny_hrnet_extra
    torch.manual_seed(0)
    # lambda chosen as in the configs: pi sigma^2 / (ln2 (HW)^2), 16x16 maps
    lam = math.pi * 2**2 / (math.log(2) * (16 * 16)**2)
    model = MODELS.build(
        dict(
            type='TopdownPoseEstimator',
            backbone=dict(type='SGHRNet', extra=tiny_hrnet_extra(4)),
            head=dict(
                type='SGHeatmapHead',
                in_channels=4,
                out_channels=3,
                multi_task_loss=dict(
                    type='DWAMultiTaskLoss', task_scales=(1.0, lam)))))
    model.init_weights()
    sgm_before = {
        k: v.clone()
        for k, v in model.backbone.sgms.state_dict().items()
    }
    # a high lr: a handful of steps must show learning, not just drift
    optim = torch.optim.Adam(model.parameters(), lr=3e-2)
    imgs, samples = _blob_batch(4, seed=0)
    raw = []
    for _ in range(12):
        losses = model.loss(imgs, samples)
        raw.append(losses['loss_seg'].item() /
                   (losses['dwa_w_seg'].item() * lam))
        optim.zero_grad()
        sum(v for k, v in losses.items() if 'loss' in k).backward()
        optim.step()
    # the best constant prediction (each mask's foreground fraction p) costs
    # H(p) per pixel; beating it means the maps localise the keypoints
    masks = torch.stack([d.gt_fields.seg_masks for d in samples])
    p = masks.mean(dim=(1, 2, 3))
    entropy = -(p * p.log() + (1 - p) * (1 - p).log())
    best_constant = (entropy * masks[0].numel()).mean().item()
    assert raw[-1] < 0.9 * raw[0] and raw[-1] < best_constant, (raw,
                                                                best_constant)
    for k, v in model.backbone.sgms.state_dict().items():
        assert not torch.equal(v, sgm_before[k]), k
