# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""DLMHead: the regressed mean learns from anywhere, H_dlm follows it, the
losses are what they claim, and every prediction mode is flip-consistent."""
import copy
import math

import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData, PixelData
from mmpose.codecs import IntegralRegressionLabel
from mmpose.models.losses import KeypointMSELoss, RLELoss
from mmpose.structures import PoseDataSample
from torch import nn

from mmpose_ext.models.heads.dlm_head import DLMHead
from mmpose_ext.models.necks.sfm import SFMOutput

K, C, H, W = 4, 32, 16, 16
S = 64  # input size
FLIP = [1, 0, 3, 2]
CODEC = dict(
    type='MSRAHeatmap', input_size=(S, S), heatmap_size=(W, H), sigma=2)


def _head(**kwargs):
    args = dict(num_keypoints=K, in_channels=C, decoder=CODEC)
    args.update(kwargs)
    head = DLMHead(**args)
    head.init_weights()
    return head


def _perturb_flow(head, gain=0.2, bias=0.05, seed=0):
    """Give the flow a clearly non-Gaussian (but well contained) density."""
    g = torch.Generator().manual_seed(seed)
    for m in head.flow.modules():
        if isinstance(m, nn.Linear):
            with torch.no_grad():
                m.weight.copy_(
                    torch.randn(m.weight.shape, generator=g) * gain /
                    math.sqrt(m.weight.shape[1]))
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * bias)


def _feats(b=2, stacks=2, seed=0, c=C):
    g = torch.Generator().manual_seed(seed)
    heatmaps = tuple(
        torch.rand(b, K, H, W, generator=g) for _ in range(stacks))
    return SFMOutput(heatmaps, torch.randn(b, c, generator=g))


def _samples(keypoints):
    """Data samples with MMPose's training targets for (B, K, 2) input-pixel
    keypoints (heatmaps + normalised labels, as the configs encode them)."""
    codec = IntegralRegressionLabel(
        input_size=(S, S), heatmap_size=(W, H), sigma=2, normalize=False)
    out = []
    for kpts in keypoints:
        enc = codec.encode(kpts[None].astype(np.float32),
                           np.ones((1, len(kpts)), np.float32))
        ds = PoseDataSample(
            metainfo=dict(flip_indices=FLIP, input_size=(S, S)))
        ds.gt_fields = PixelData(heatmaps=torch.from_numpy(enc['heatmaps']))
        ds.gt_instance_labels = InstanceData(
            keypoint_labels=torch.from_numpy(enc['keypoint_labels']),
            keypoint_weights=torch.from_numpy(enc['keypoint_weights']))
        out.append(ds)
    return out


def _random_samples(b=2, seed=0):
    rng = np.random.default_rng(seed)
    return _samples(rng.uniform(8, 56, (b, K, 2)))


# ----------------------------------------------- the mean learns (issue 12)
def _train_head_alone(head, steps=300, b=8, seed=0):
    """Adam on the head alone, on fixed features; returns the mean keypoint
    error (input pixels) of mu before and after."""
    rng = np.random.default_rng(seed)
    kpts = rng.uniform(4, S - 4, (b, K, 2))
    samples = _samples(kpts)
    truth = torch.from_numpy(kpts).float()
    feats = SFMOutput(
        (torch.zeros(b, K, H, W), ),
        torch.randn(b, C, generator=torch.Generator().manual_seed(seed)))
    opt = torch.optim.Adam(head.parameters(), lr=1e-3)

    def error():
        with torch.no_grad():
            mu, _ = head.regress(feats)
        return float((mu * S - truth).norm(dim=-1).mean())

    before = error()
    for _ in range(steps):
        losses = head.loss(feats, samples, dict(compute_acc=False))
        loss = sum(v for k, v in losses.items() if k.startswith('loss'))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return before, error()


def test_mu_converges_from_far_away_with_the_default_losses():
    """mu starts at the crop centre, >= 15 px from the truth on average, and
    must reach it: the RLE likelihood pulls from anywhere."""
    torch.manual_seed(0)
    head = _head()
    before, after = _train_head_alone(head)
    assert before >= 15
    assert after < 1.0, (before, after)


def test_without_the_likelihood_mu_does_not_learn_from_afar():
    """The heatmap MSE alone (the paper's words, rle_weight=0) gives mu a
    gradient only where the blobs overlap: from 15+ px it stays far. (What
    the default's likelihood term is for.)"""
    torch.manual_seed(0)
    head = _head(rle_weight=0.0)
    before, after = _train_head_alone(head)
    assert before >= 15 and after > 8, (before, after)


def test_dlm_loss_never_pushes_mu_toward_an_edge():
    """L_dlm's gradient on mu comes from the overlap with the target only:
    zero for a blob that does not touch the target even when it is cut by
    the map's border (its energy would fall as it leaves the map), and
    pointing at the target when they overlap."""
    head = _head()
    target = torch.zeros(1, 1, H, W)
    target[0, 0, 12, 12] = 1.0  # a target near the bottom-right
    weights = torch.ones(1, 1)
    sigma = torch.full((1, 1, 2), 0.06)
    far = torch.tensor([[[0.05, 0.05]]], requires_grad=True)  # cut by border
    grad, = torch.autograd.grad(
        head.dlm_loss(far, sigma, target, weights), far)
    assert torch.all(grad == 0)
    near = torch.tensor([[[10.5 / W, 10.5 / H]]], requires_grad=True)
    grad, = torch.autograd.grad(
        head.dlm_loss(near, sigma, target, weights), near)
    assert torch.all(grad < 0)  # descending moves mu toward (12, 12)


def test_dlm_loss_value_is_the_heatmap_mse():
    """The split into energy and overlap terms leaves the value unchanged:
    it equals KeypointMSELoss on the fully rendered H_dlm."""
    torch.manual_seed(0)
    head = _head()
    _perturb_flow(head)
    samples = _random_samples()
    gt = torch.stack([d.gt_fields.heatmaps for d in samples])
    weights = torch.ones(2, K)
    weights[1, 2] = 0
    mu = torch.rand(2, K, 2) * 0.8 + 0.1
    sigma = torch.full((2, K, 2), 0.04)
    ref = KeypointMSELoss(use_target_weight=True)(head.render(
        mu, sigma, (H, W)), gt, weights)
    assert torch.allclose(
        head.dlm_loss(mu, sigma, gt, weights), ref, rtol=1e-5, atol=1e-9)


def test_dlm_loss_does_not_train_sigma():
    """sigma keeps the likelihood's meaning: L_dlm renders it detached."""
    torch.manual_seed(0)
    head = _head(rle_weight=0.0, lambda_dlm=1.0)
    pooled = torch.randn(2, C, requires_grad=True)
    losses = head.loss(
        SFMOutput((torch.zeros(2, K, H, W), ), pooled), _random_samples())
    losses['loss_dlm'].backward()
    grad = head.fc.weight.grad.view(K, 4, C)
    assert grad[:, :2].abs().sum() > 0  # mu rows
    assert torch.all(grad[:, 2:] == 0)  # sigma rows


def test_rle_term_is_mmposes_rle_loss_on_the_heads_flow():
    torch.manual_seed(0)
    head = _head(rle_weight=0.5, lambda_dlm=0.0)
    _perturb_flow(head)
    feats, samples = _feats(), _random_samples()
    losses = head.loss(feats, samples)
    ref = RLELoss(use_target_weight=True, q_distribution='gaussian')
    ref.flow_model.load_state_dict(head.flow.state_dict())
    mu_raw = head.fc(feats.pooled).view(2, K, 4)
    labels = torch.cat([d.gt_instance_labels.keypoint_labels for d in samples])
    expected = 0.5 * ref(mu_raw[..., :2], mu_raw[..., 2:], labels,
                         torch.ones(2, K, 1))
    assert torch.allclose(losses['loss_rle'], expected)
    assert head.flow is head.loss_rle.flow_model


def test_loss_kpt_is_exactly_the_sum_of_the_stacks():
    torch.manual_seed(0)
    head = _head(with_dlm=False)
    feats, samples = _feats(stacks=3), _random_samples()
    gt = torch.stack([d.gt_fields.heatmaps for d in samples])
    mse = KeypointMSELoss(use_target_weight=True)
    expected = sum(mse(h, gt, torch.ones(2, K)) for h in feats.heatmaps)
    assert torch.equal(head.loss(feats, samples)['loss_kpt'], expected)
    assert set(head.loss(feats, samples)) == {'loss_kpt', 'acc_pose'}


def test_every_term_reaches_its_parameters():
    torch.manual_seed(0)
    head = _head()
    heatmaps = tuple(h.requires_grad_() for h in _feats().heatmaps)
    losses = head.loss(
        SFMOutput(heatmaps, torch.randn(2, C)), _random_samples())
    assert set(losses) == {'loss_kpt', 'loss_rle', 'loss_dlm', 'acc_pose'}
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    assert sum(float(p.grad.abs().sum()) for p in head.flow.parameters()) > 0
    assert head.fc.weight.grad.abs().sum() > 0
    assert all(h.grad.abs().sum() > 0 for h in heatmaps)  # every stack


def test_rle_needs_its_labels():
    head = _head()
    samples = _random_samples()
    for d in samples:
        del d.gt_instance_labels.keypoint_labels
    with pytest.raises(KeyError, match='IntegralRegressionLabel'):
        head.loss(_feats(), samples)


# ------------------------------------------------------------- rendering
def test_rendered_peak_follows_mu():
    head = _head()
    _perturb_flow(head, gain=0.05, bias=0.0)  # nearly symmetric
    sigma = torch.full((1, 1, 2), 0.05)
    for u, v in [(3.0, 12.0), (7.25, 7.4), (11.6, 2.3)]:
        mu = torch.tensor([[[u / W, v / H]]])
        with torch.no_grad():
            hm = head.render(mu, sigma, (H, W))[0, 0]
        assert float(hm.max()) == pytest.approx(1.0)
        iy, ix = divmod(int(hm.argmax()), W)
        assert (ix, iy) == (round(u), round(v))
        # and the blob's centre of mass sits at mu, sub-pixel
        ys, xs = torch.meshgrid(
            torch.arange(H, dtype=torch.float32),
            torch.arange(W, dtype=torch.float32),
            indexing='ij')
        cx = float((hm * xs).sum() / hm.sum())
        cy = float((hm * ys).sum() / hm.sum())
        assert (cx, cy) == pytest.approx((u, v), abs=0.15)


def test_expected_target_heatmap_is_the_label_blob_when_sigma_collapses():
    """A collapsed sigma renders the label's own Gaussian at mu (peak 1,
    the decoder's sigma), not a one-pixel spike; a wide sigma lowers the
    peak (the DLM's confidence in H_rfm's units)."""
    head = _head()
    mu = torch.tensor([[[6 / W, 9 / H]]])
    sharp = head.expected_target_heatmaps(mu, torch.full((1, 1, 2), 1e-6),
                                          (H, W))[0, 0]
    ys, xs = torch.meshgrid(
        torch.arange(H, dtype=torch.float32),
        torch.arange(W, dtype=torch.float32),
        indexing='ij')
    # MSRAHeatmap's label: sigma 2, zero outside +-3 sigma
    label = torch.exp(-((xs - 6)**2 + (ys - 9)**2) / (2 * 2.0**2))
    label = label * ((xs - 6).abs() <= 6) * ((ys - 9).abs() <= 6)
    assert torch.allclose(sharp, label, atol=1e-5)
    wide = head.expected_target_heatmaps(mu, torch.full((1, 1, 2), 0.2),
                                         (H, W))[0, 0]
    assert float(wide.max()) < 0.5
    assert divmod(int(wide.argmax()), W) == (9, 6)


def test_average_weights_the_dlm_by_its_confidence():
    """predict_from='average': an uncertain DLM cannot move H_rfm's peak and
    lowers the score; a certain one agreeing with H_rfm keeps its score."""
    torch.manual_seed(0)
    head = _head()
    h_rfm = torch.zeros(1, K, H, W)
    h_rfm[0, :, 5, 5] = 0.8  # H_rfm is sure: (5, 5) for every keypoint
    samples = _random_samples(b=1)
    pooled = torch.zeros(1, C)
    with torch.no_grad():  # mu at (12, 12), sigma wide (uncertain)
        head.fc.weight.zero_()
        bias = head.fc.bias.view(K, 4)
        bias[:, :2] = 12 / W
        bias[:, 2:] = math.log(0.3 / 0.7)
    cfg = dict(predict_from='average', output_heatmaps=True)
    preds, fields = head.predict(SFMOutput((h_rfm, ), pooled), samples, cfg)
    peaks = fields[0].heatmaps.flatten(1).argmax(-1)
    assert torch.all(peaks == 5 * W + 5)
    # (the decoder's quarter-pixel refinement may lean toward the DLM)
    assert np.allclose(preds[0].keypoints[0], 5 * S / W, atol=1.0 + 1e-4)
    assert (preds[0].keypoint_scores < 0.45).all()
    # a certain DLM (sigma collapsed) at H_rfm's peak: score 0.5 (0.8 + 1)
    with torch.no_grad():
        bias[:, :2] = 5 / W
        bias[:, 2:] = -20.0
    preds = head.predict(
        SFMOutput((h_rfm, ), pooled), samples, dict(predict_from='average'))
    assert np.allclose(preds[0].keypoint_scores, 0.9, atol=1e-4)


# ------------------------------------------------------------- prediction
def _mirror_pooled(head, pooled, shift_width):
    """A pooled vector whose regression is the mirror image of ``pooled``'s
    (mu_x -> 1 - mu_x - 1/w, keypoints swapped, same sigma): what a
    mirrored image gives an equivariant network. Solved through the fc.

    ``w`` is the width of the grid the prediction flips on: the input
    (``flip_coordinates``, RLEHead's rule) for mu, the heatmap
    (``flip_heatmaps`` without shift, HeatmapHead's rule) for maps drawn
    from mu."""
    with torch.no_grad():
        out = head.fc(pooled).view(-1, K, 4)
        mirrored = out[:, FLIP].clone()
        mirrored[..., 0] = 1 - mirrored[..., 0] - 1 / shift_width
        rhs = (mirrored.reshape(len(pooled), -1) - head.fc.bias).T
        sol = torch.linalg.lstsq(head.fc.weight, rhs).solution
        return sol.T.contiguous()


def _mirror_heatmaps(heatmaps):
    return tuple(h.flip(-1)[:, FLIP] for h in heatmaps)


@pytest.mark.parametrize('mode', ['heatmap', 'regression', 'average'])
def test_flip_of_mirrored_features_equals_the_unflipped_prediction(mode):
    torch.manual_seed(0)
    head = _head(in_channels=64)
    # a mirror-symmetric density (the flow's identity: its last layers at
    # 0), as an equivariant model has; a learned flow need not be one
    for net in list(head.flow.s) + list(head.flow.t):
        last = net[-2] if isinstance(net[-1], nn.Tanh) else net[-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
    heatmaps, pooled = _feats(c=64)
    feats = SFMOutput(heatmaps, pooled)
    grid = S if mode == 'regression' else W
    mirrored = SFMOutput(
        _mirror_heatmaps(heatmaps), _mirror_pooled(head, pooled, grid))
    samples = _random_samples()
    base = dict(predict_from=mode, output_heatmaps=True, shift_heatmap=False)
    plain, plain_fields = head.predict(feats, samples, base)
    flipped, flip_fields = head.predict([feats, mirrored], samples,
                                        dict(base, flip_test=True))
    for a, b in zip(plain, flipped):
        assert np.allclose(a.keypoints, b.keypoints, atol=1e-4), mode
        assert np.allclose(a.keypoint_scores, b.keypoint_scores, atol=1e-5)
    for a, b in zip(plain_fields, flip_fields):
        assert torch.allclose(a.heatmaps, b.heatmaps, atol=1e-5)


def test_regression_prediction_decodes_mu_with_rle_scores():
    torch.manual_seed(0)
    head = _head()
    feats, samples = _feats(), _random_samples()
    preds = head.predict(feats, samples, dict(predict_from='regression'))
    mu, sigma = head.regress(feats)
    assert np.allclose(
        preds[0].keypoints, mu[0].detach().numpy() * S, atol=1e-4)
    assert np.allclose(
        preds[0].keypoint_scores,
        1 - sigma[0].detach().numpy().mean(-1),
        atol=1e-5)


def test_heatmap_prediction_is_the_final_stack():
    head = _head()
    feats = _feats()
    assert head.forward(feats) is feats.heatmaps[-1]
    preds = head.predict(feats, _random_samples(), {})
    ref = head.decode(feats.heatmaps[-1])
    assert np.allclose(preds[0].keypoints, ref[0].keypoints)
    assert not head.uses_neck_output({})
    assert head.uses_neck_output(dict(predict_from='average'))


@pytest.mark.parametrize('kwargs,name', [
    (dict(num_keypoints=0), 'num_keypoints'),
    (dict(lambda_dlm=-1), 'lambda_dlm'),
    (dict(rle_weight=-1), 'rle_weight'),
    (dict(dlm_target='pred'), 'dlm_target'),
    (dict(predict_from='mean'), 'predict_from'),
    (dict(predict_from='regression', with_dlm=False), 'predict_from'),
    (dict(init_sigma=1.5), 'init_sigma'),
    (dict(renderer=dict(type='FlowLatticeRenderer', lattice_size=1)),
     'lattice_size'),
])
def test_invalid_arguments(kwargs, name):
    args = dict(num_keypoints=K, in_channels=C)
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        DLMHead(**args)


# ------------------------------------------------------- mixed precision
def _confident_far_off(head):
    """fc giving mu at the crop's corner (0, 0) with sigma ~ 9e-4 (sigmoid
    of -7): a label near the centre is z ~ 500 sigmas away, and z^2 ~ 2.5e5
    overflows float16 (max 65504)."""
    with torch.no_grad():
        head.fc.weight.zero_()
        bias = head.fc.bias.view(K, 4)
        bias[:, :2] = 0.0
        bias[:, 2:] = -7.0


def test_fp16_inputs_to_the_dlm_flow_stay_finite():
    from mmpose_ext.models.utils.flow_heatmap_renderer import flow_residual
    head = _head(rle_weight=1.0, lambda_dlm=1.0)
    _perturb_flow(head)
    _confident_far_off(head)
    samples = _samples(np.full((2, K, 2), S / 2.0))
    feats = _feats()
    half = SFMOutput(
        tuple(h.half() for h in feats.heatmaps), feats.pooled.half())

    # what the fp32 islands prevent: the flow and likelihood in float16
    labels = torch.cat([d.gt_instance_labels.keypoint_labels for d in samples])
    mu = torch.zeros(2, K, 2)
    raw = torch.full((2, K, 2), -7.0)
    z = ((labels - mu) / raw.sigmoid()).reshape(-1, 2)
    flow16 = copy.deepcopy(head.flow).half()
    assert not torch.isfinite(flow_residual(flow16, z.half())).all()
    assert torch.isfinite(flow_residual(head.flow, z)).all()

    ref = head.loss(feats, samples, dict(compute_acc=False))
    for dtype in (torch.float16, torch.bfloat16):
        with torch.autocast('cpu', dtype=dtype):
            got = head.loss(half, samples, dict(compute_acc=True))
            rendered = head.render(mu.half(), raw.sigmoid().half(), (H, W))
        for k in ('loss_kpt', 'loss_rle', 'loss_dlm'):
            assert got[k].dtype == torch.float32, k
            assert torch.isfinite(got[k]), (dtype, k)
            # float16 features (inputs rounded), float32 computation
            assert torch.allclose(
                got[k], ref[k], rtol=2e-2), (k, got[k], ref[k])
        assert rendered.dtype == torch.float32
        assert torch.isfinite(rendered).all()
        assert float(rendered.amax()) <= 1 + 1e-6
    # the likelihood term is large (z ~ 500) but finite
    assert float(ref['loss_rle']) > 1e3
    # predictions decode from half-precision features too
    with torch.autocast('cpu', dtype=torch.float16):
        preds = head.predict(half, samples, dict(predict_from='regression'))
    assert np.isfinite(preds[0].keypoints).all()
