# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""DLMHead: regression, RealNVP density, heatmap rendering, losses,
prediction modes."""
import math

import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData, PixelData
from mmpose.models.losses import RLELoss
from mmpose.structures import PoseDataSample
from torch import nn

from mmpose_ext.models.heads.dlm_head import DLMHead

K, C, H, W = 4, 32, 16, 16
CODEC = dict(type='MSRAHeatmap', input_size=(64, 64), heatmap_size=(W, H),
             sigma=2)


def _head(**kwargs):
    args = dict(num_keypoints=K, in_channels=C, decoder=CODEC)
    args.update(kwargs)
    head = DLMHead(**args)
    head.init_weights()
    return head


def _perturb_flow(head, gain=0.5, bias=0.2, seed=0):
    """Give the flow a clearly non-Gaussian (but well contained) density."""
    g = torch.Generator().manual_seed(seed)
    for m in head.flow.modules():
        if isinstance(m, nn.Linear):
            with torch.no_grad():
                m.weight.copy_(
                    torch.randn(m.weight.shape, generator=g) * gain /
                    math.sqrt(m.weight.shape[1]))
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * bias)


def _feats(b=2, stacks=2):
    heatmaps = tuple(torch.rand(b, K, H, W) for _ in range(stacks))
    return heatmaps, torch.randn(b, C)


def _data_samples(b=2, seed=0):
    rng = np.random.default_rng(seed)
    from mmpose.codecs import IntegralRegressionLabel
    codec = IntegralRegressionLabel(
        input_size=(64, 64), heatmap_size=(W, H), sigma=2, normalize=False)
    samples = []
    for _ in range(b):
        kpts = rng.uniform(8, 56, (1, K, 2)).astype(np.float32)
        enc = codec.encode(kpts, np.ones((1, K), np.float32))
        ds = PoseDataSample(metainfo=dict(
            flip_indices=[1, 0, 3, 2], input_size=(64, 64)))
        ds.gt_fields = PixelData(heatmaps=torch.from_numpy(enc['heatmaps']))
        ds.gt_instance_labels = InstanceData(
            keypoint_labels=torch.from_numpy(enc['keypoint_labels']),
            keypoint_weights=torch.from_numpy(enc['keypoint_weights']))
        ds.gt_instances = InstanceData(keypoints=kpts)
        samples.append(ds)
    return samples


# ------------------------------------------------------------- the density
@pytest.mark.parametrize('mode', ['exact', 'lattice'])
def test_flow_density_integrates_to_one(mode):
    torch.manual_seed(0)
    head = _head()
    _perturb_flow(head)
    step = 0.08
    t = torch.arange(-8, 8, step) + step / 2
    gy, gx = torch.meshgrid(t, t, indexing='ij')
    z = torch.stack([gx, gy], -1)
    with torch.no_grad():
        p = head.flow_log_prob(z, mode=mode).exp()
    assert abs(float(p.sum()) * step**2 - 1) < 0.02
    # the perturbed flow is not the standard normal
    prior = torch.exp(-0.5 * (z**2).sum(-1)) / (2 * math.pi)
    assert (p - prior).abs().max() > 0.02


def test_shifted_scaled_density_integrates_to_one_in_image_space():
    torch.manual_seed(0)
    head = _head()
    _perturb_flow(head)
    step = 0.004
    t = torch.arange(-0.5, 1.5, step) + step / 2
    gy, gx = torch.meshgrid(t, t, indexing='ij')
    pts = torch.stack([gx, gy], -1).view(-1, 2)
    mu = torch.tensor([[[0.5, 0.4], [0.3, 0.6]]])
    sigma = torch.tensor([[[0.05, 0.08], [0.1, 0.04]]])
    with torch.no_grad():
        logp = head.log_density(pts, mu, sigma)
    integral = logp.exp().sum(-1) * step**2
    assert torch.allclose(integral, torch.ones(1, 2), atol=0.02)


def test_lattice_matches_exact_flow_evaluation():
    torch.manual_seed(0)
    head = _head(lattice_size=128)
    _perturb_flow(head)
    z = torch.randn(1000, 2) * 2
    with torch.no_grad():
        exact = head.flow_log_prob(z, mode='exact')
        lattice = head.flow_log_prob(z, mode='lattice')
    p_exact, p_lattice = exact.exp(), lattice.exp()
    assert (p_exact - p_lattice).abs().max() < 5e-3
    # rendered heatmaps agree as well
    mu = torch.rand(2, K, 2) * 0.6 + 0.2
    sigma = torch.full((2, K, 2), 0.08)
    with torch.no_grad():
        head.render_mode = 'exact'
        h_exact = head.render(mu, sigma, (H, W))
        head.render_mode = 'lattice'
        h_lattice = head.render(mu, sigma, (H, W))
    assert (h_exact - h_lattice).abs().max() < 0.02


@pytest.mark.parametrize('interp,size', [('cubic', 12), ('linear', 24)])
def test_default_lattice_is_close_to_the_flow(interp, size):
    torch.manual_seed(0)
    head = _head(lattice_interp=interp, lattice_size=size)
    _perturb_flow(head, gain=0.2, bias=0.05)  # mildly non-Gaussian
    mu = torch.rand(2, K, 2) * 0.6 + 0.2
    sigma = torch.rand(2, K, 2) * 0.03 + 0.03
    with torch.no_grad():
        head.render_mode = 'exact'
        exact = head.render(mu, sigma, (H, W))
        head.render_mode = 'lattice'
        lattice = head.render(mu, sigma, (H, W))
    assert (exact - lattice).abs().max() < 5e-3


# ------------------------------------------------------------- rendering
def test_window_render_equals_full_render():
    torch.manual_seed(0)
    head = _head()
    _perturb_flow(head, gain=0.2, bias=0.05)
    mu = torch.tensor([[[0.5, 0.5], [0.02, 0.97], [-0.1, 0.4], [0.8, 1.2]]])
    sigma = torch.full((1, K, 2), 0.04)
    with torch.no_grad():
        head.render_window = False
        full = head.render(mu, sigma, (32, 32))
        head.render_window = True
        _, index = head._render_patch(mu, sigma, (32, 32))
        window = head.render(mu, sigma, (32, 32))
    assert index is not None and index.shape[-1] < 32 * 32  # a real window
    assert (full - window).abs().max() < 1e-6


@pytest.mark.parametrize('target', ['gt', 'rfm'])
@pytest.mark.parametrize('skip_empty', [False, True])
def test_windowed_loss_equals_full_map_loss(target, skip_empty):
    torch.manual_seed(0)
    loss = dict(type='KeypointMSELoss', use_target_weight=True,
                skip_empty_channel=skip_empty)
    head = _head(loss=loss)
    _perturb_flow(head, gain=0.2, bias=0.05)
    samples = _data_samples()
    gt = torch.stack([d.gt_fields.heatmaps for d in samples])
    gt[0, 1] = 0  # an empty channel
    weights = torch.ones(2, K)
    weights[1, 2] = 0
    tgt = gt if target == 'gt' else torch.rand(2, K, H, W)
    mu = (torch.rand(2, K, 2) * 0.8 + 0.1).requires_grad_()
    sigma = torch.full((2, K, 2), 0.03).requires_grad_()

    results = []
    for window in (True, False):
        head.render_window = window
        head.zero_grad()
        t = tgt.clone().requires_grad_()
        value = head.dlm_loss(mu, sigma, t, weights)
        grads = torch.autograd.grad(
            value, [mu, sigma, t] + list(head.flow.parameters()))
        results.append((value, grads))
    (v1, g1), (v2, g2) = results
    assert torch.allclose(v1, v2, rtol=1e-5, atol=1e-8)
    for a, b in zip(g1, g2):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize('mode', ['lattice', 'exact', 'gaussian', 'laplace'])
def test_rendered_heatmap_peaks_at_regressed_mean(mode):
    head = _head(render_mode=mode)
    us = torch.tensor([[3, 12], [7, 7], [0, 15], [10, 2]])
    mu = (us.float() / torch.tensor([W, H])).unsqueeze(0)  # pixel centres
    sigma = torch.full((1, K, 2), 0.06)
    with torch.no_grad():
        hm = head.render(mu, sigma, (H, W))
    assert hm.shape == (1, K, H, W)
    flat = hm.view(K, -1).argmax(-1)
    assert torch.equal(torch.stack([flat % W, flat // W], -1), us)
    assert torch.allclose(hm.amax((2, 3)), torch.ones(1, K))
    assert (hm >= 0).all() and (hm <= 1).all()


def test_render_width_follows_sigma():
    head = _head(render_mode='gaussian')
    mu = torch.full((1, 1, 2), 0.5)
    narrow = head.render(mu, torch.full((1, 1, 2), 0.03), (H, W))
    wide = head.render(mu, torch.full((1, 1, 2), 0.2), (H, W))
    assert wide.sum() > 4 * narrow.sum()


def test_regress_initialisation():
    head = _head(init_sigma=0.05)
    mu, sigma = head.regress(_feats())
    assert mu.shape == sigma.shape == (2, K, 2)
    assert torch.allclose(mu, torch.full_like(mu, 0.5), atol=0.2)
    assert torch.allclose(sigma, torch.full_like(sigma, 0.05), atol=0.03)


# ----------------------------------------------------------------- losses
def test_loss_terms_and_gradients_reach_the_flow():
    torch.manual_seed(0)
    head = _head(lambda_dlm=1.0, rle_weight=0.0)
    heatmaps = tuple(h.requires_grad_() for h in _feats()[0])
    feats = (heatmaps, torch.randn(2, C))
    losses = head.loss(feats, _data_samples())
    assert set(losses) == {'loss_kpt', 'loss_dlm', 'acc_pose'}
    total = losses['loss_kpt'] + losses['loss_dlm']
    total.backward()
    flow_grads = [p.grad for p in head.flow.parameters()]
    assert all(g is not None for g in flow_grads)
    assert sum(float(g.abs().sum()) for g in flow_grads) > 0
    assert head.fc.weight.grad.abs().sum() > 0
    assert all(h.grad.abs().sum() > 0 for h in heatmaps)  # every stack


def test_rle_term_gives_flow_gradient_without_rendering():
    torch.manual_seed(0)
    head = _head(lambda_dlm=0.0, rle_weight=1.0)
    losses = head.loss(_feats(), _data_samples())
    assert 'loss_dlm' not in losses and 'loss_rle' in losses
    losses['loss_rle'].backward()
    assert sum(float(p.grad.abs().sum()) for p in head.flow.parameters()) > 0


def test_original_mse_variant_skips_the_dlm():
    head = _head(lambda_dlm=0.0, rle_weight=0.0)
    losses = head.loss(_feats(), _data_samples())
    assert set(losses) == {'loss_kpt', 'acc_pose'}


def test_loss_rfm_sums_stacks():
    head = _head(with_dlm=False)
    feats = _feats(stacks=3)
    samples = _data_samples()
    losses = head.loss(feats, samples)
    one = _head(with_dlm=False).loss(((feats[0][0], ), None), samples)
    assert losses['loss_kpt'] > one['loss_kpt']


def test_dlm_target_rfm_pulls_toward_the_backbone_heatmap():
    torch.manual_seed(0)
    head = _head(dlm_target='rfm')
    heatmaps, pooled = _feats()
    final = heatmaps[-1].clone().requires_grad_()
    losses = head.loss((heatmaps[:-1] + (final, ), pooled), _data_samples())
    grad, = torch.autograd.grad(losses['loss_dlm'], final)
    assert grad.abs().sum() > 0


@pytest.mark.parametrize('q', ['laplace', 'gaussian'])
def test_rle_nll_matches_mmpose_rle_loss(q):
    torch.manual_seed(0)
    head = _head(q_distribution=q)
    _perturb_flow(head, gain=0.2)
    ref = RLELoss(use_target_weight=True, residual=True, q_distribution=q)
    ref.flow_model.load_state_dict(head.flow.state_dict())
    mu = torch.rand(3, K, 2)
    raw_sigma = torch.randn(3, K, 2)
    target = torch.rand(3, K, 2)
    weight = torch.ones(3, K)
    weight[0, 1] = 0
    ours = head.rle_nll(mu, raw_sigma.sigmoid(), target, weight)
    theirs = ref(mu, raw_sigma, target, weight.unsqueeze(-1))
    assert torch.allclose(ours, theirs, rtol=1e-4, atol=1e-5)


def test_default_lambda_balances_the_terms_at_init():
    torch.manual_seed(0)
    head = _head(lambda_dlm=1.0)
    heatmaps = tuple(torch.zeros(2, K, H, W) for _ in range(1))
    losses = head.loss((heatmaps, torch.randn(2, C)), _data_samples())
    ratio = float((losses['loss_dlm'] / losses['loss_kpt']).detach())
    assert 0.3 < ratio < 3


# -------------------------------------------------------------- predict
def test_forward_returns_final_stack_heatmap():
    head = _head()
    feats = _feats()
    assert head.forward(feats) is feats[0][-1]


def test_predict_modes_and_flip():
    torch.manual_seed(0)
    head = _head()
    samples = _data_samples()
    feats = _feats()
    preds = head.predict(feats, samples, dict(predict_from='heatmap'))
    ref = head.decode(feats[0][-1])
    assert np.allclose(preds[0].keypoints, ref[0].keypoints)

    preds = head.predict(feats, samples, dict(predict_from='regression'))
    mu, sigma = head.regress(feats)
    assert np.allclose(preds[0].keypoints, mu[0].detach().numpy() * 64,
                       atol=1e-4)
    assert preds[0].keypoints.shape == (1, K, 2)
    assert np.allclose(preds[0].keypoint_scores,
                       1 - sigma[0].detach().numpy().mean(-1), atol=1e-5)

    preds, fields = head.predict(
        feats, samples, dict(predict_from='average', output_heatmaps=True))
    avg = 0.5 * (feats[0][-1] + head.render(mu, sigma, (H, W)))
    assert torch.allclose(fields[0].heatmaps, avg[0].detach(), atol=1e-6)

    # flip test: [orig, flipped] features
    flipped = _feats()
    for mode in ('heatmap', 'regression', 'average'):
        out = head.predict([feats, flipped], samples,
                           dict(flip_test=True, predict_from=mode,
                                shift_heatmap=True))
        assert out[0].keypoints.shape == (1, K, 2)


def test_predict_heatmaps_flip_equals_heatmaphead_rule():
    from mmpose.models.utils.tta import flip_heatmaps
    head = _head()
    samples = _data_samples()
    feats, flipped = _feats(), _feats()
    got = head.predict_heatmaps([feats, flipped], samples,
                                dict(flip_test=True, shift_heatmap=True))
    expected = (feats[0][-1] + flip_heatmaps(
        flipped[0][-1], flip_indices=[1, 0, 3, 2], shift_heatmap=True)) * 0.5
    assert torch.equal(got, expected)


@pytest.mark.parametrize('kwargs,name', [
    (dict(num_keypoints=0), 'num_keypoints'),
    (dict(lambda_dlm=-1), 'lambda_dlm'),
    (dict(rle_weight=-1), 'rle_weight'),
    (dict(render_mode='grid'), 'render_mode'),
    (dict(q_distribution='cauchy'), 'q_distribution'),
    (dict(dlm_target='pred'), 'dlm_target'),
    (dict(predict_from='mean'), 'predict_from'),
    (dict(predict_from='regression', with_dlm=False), 'predict_from'),
    (dict(init_sigma=1.5), 'init_sigma'),
    (dict(lattice_size=1), 'lattice_size'),
    (dict(lattice_interp='nearest'), 'lattice_interp'),
])
def test_invalid_arguments(kwargs, name):
    args = dict(num_keypoints=K, in_channels=C)
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        DLMHead(**args)
