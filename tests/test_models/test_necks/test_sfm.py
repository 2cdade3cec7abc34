# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""SpatialFusionModule (SADI-Net neck)."""
import pytest
import torch

from mmpose_ext.models.necks.sfm import SpatialFusionModule

IN = (8, 16, 32, 64)
TINY = dict(
    in_channels=IN,
    fuse_channels=16,
    head_channels=(16, 32, 64, 128),
    out_channels=64)


def _feats(b=2, h=16, w=16, channels=IN, requires_grad=False):
    return tuple(
        torch.randn(
            b, c, -(-h // 2**i), -(-w // 2**i), requires_grad=requires_grad)
        for i, c in enumerate(channels))


def _heatmaps(b=2):
    return (torch.randn(b, 5, 16, 16), torch.randn(b, 5, 16, 16))


def test_global_attention_weights_sum_to_one_over_scales():
    torch.manual_seed(0)
    neck = SpatialFusionModule(**TINY)
    neck.init_weights()
    fused, weights = neck.global_attention(_feats())
    assert weights.shape == (2, 4, 16, 16)
    assert torch.allclose(weights.sum(1), torch.ones(2, 16, 16), atol=1e-6)
    assert (weights > 0).all() and (weights < 1).all()
    assert fused.shape == (2, 16, 16, 16)
    # weights are not uniform: they depend on the input per pixel
    assert weights.std() > 1e-4


def test_fused_map_is_the_weighted_sum():
    torch.manual_seed(0)
    neck = SpatialFusionModule(**TINY).eval()
    feats = _feats()
    fused, weights = neck.global_attention(feats)
    ups = [
        torch.nn.functional.interpolate(
            lat(f), size=(16, 16), mode='bilinear', align_corners=False)
        for lat, f in zip(neck.laterals, feats)
    ]
    expected = sum(weights[:, i:i + 1] * u for i, u in enumerate(ups))
    assert torch.allclose(fused, expected, atol=1e-5)


def test_forward_passes_heatmaps_and_returns_pooled_vector():
    neck = SpatialFusionModule(**TINY)
    heatmaps = _heatmaps()
    out_heatmaps, pooled = neck((heatmaps, _feats()))
    assert out_heatmaps is heatmaps
    assert pooled.shape == (2, 64)


def test_pooled_vector_depends_on_every_scale():
    neck = SpatialFusionModule(**TINY)
    feats = _feats(requires_grad=True)
    _, pooled = neck((_heatmaps(), feats))
    grads = torch.autograd.grad(pooled.sum(), feats)
    assert all(g.abs().sum() > 0 for g in grads)


def test_local_attention_softmax_along_columns():
    neck = SpatialFusionModule(**TINY, local_rescale=False)
    x = torch.randn(2, 3, 5, 7)
    weights = neck.local_attention(x) / x
    assert torch.allclose(weights.sum(2), torch.ones(2, 3, 7), atol=1e-5)
    rescaled = SpatialFusionModule(**TINY, local_rescale=True)
    w2 = rescaled.local_attention(x) / x
    assert torch.allclose(w2.mean(2), torch.ones(2, 3, 7), atol=1e-5)
    for dim, axis in (('w', 3), ('c', 1)):
        n = SpatialFusionModule(
            **TINY, local_softmax_dim=dim, local_rescale=False)
        w = n.local_attention(x) / x
        assert torch.allclose(w.sum(axis), torch.ones(()), atol=1e-5)


@pytest.mark.parametrize('switches', [
    dict(with_global_attn=False),
    dict(with_local_attn=False),
    dict(with_global_attn=False, with_local_attn=False),
    dict(global_residual=False),
    dict(local_softmax_dim='hw'),
])
def test_ablation_switches(switches):
    neck = SpatialFusionModule(**TINY, **switches)
    if not switches.get('with_global_attn', True):
        assert not hasattr(neck, 'laterals')
    _, pooled = neck((_heatmaps(), _feats(h=16, w=12)))
    assert pooled.shape == (2, 64)


def test_switches_change_the_output():
    torch.manual_seed(0)
    full = SpatialFusionModule(**TINY).eval()
    torch.manual_seed(0)
    no_local = SpatialFusionModule(**TINY, with_local_attn=False).eval()
    feats = _feats()
    _, a = full((_heatmaps(), feats))
    _, b = no_local((_heatmaps(), feats))
    assert not torch.allclose(a, b)


def test_mismatched_scale_channels_raise():
    neck = SpatialFusionModule(**TINY)
    with pytest.raises(ValueError, match='in_channels'):
        neck((_heatmaps(), _feats(channels=(8, 16, 32, 32))))
    with pytest.raises(ValueError, match='scales'):
        neck((_heatmaps(), _feats()[:3]))
    with pytest.raises(ValueError, match='head_channels'):
        SpatialFusionModule(in_channels=IN, head_channels=(16, 32, 64))
    with pytest.raises(ValueError, match='in_channels'):
        SpatialFusionModule(in_channels=(8, 0, 32, 64))
    with pytest.raises(ValueError, match='local_softmax_dim'):
        SpatialFusionModule(**TINY, local_softmax_dim='x')


def _pair_with(switches):
    """A full SFM and one with ``switches``, sharing every weight the second
    has (the global-attention layers are absent without global attention),
    both initialised and in eval mode (BN with running statistics 0 / 1)."""
    torch.manual_seed(0)
    full = SpatialFusionModule(**TINY)
    full.init_weights()
    other = SpatialFusionModule(**TINY, **switches)
    keys = other.state_dict().keys()
    other.load_state_dict({
        k: v
        for k, v in full.state_dict().items() if k in keys
    })
    return full.eval(), other.eval()


def _zero_redistribution(neck):
    """G_i = ReLU(BN(conv(fused))) with zero conv weights is exactly 0."""
    with torch.no_grad():
        for m in neck.redistribute:
            m.conv.weight.zero_()
            if m.conv.bias is not None:
                m.conv.bias.zero_()


def test_global_attention_switch_removes_exactly_the_global_branch():
    full, no_global = _pair_with(dict(with_global_attn=False))
    assert not hasattr(no_global, 'score_convs')
    feats = _feats()
    with torch.no_grad():
        _, a = full((_heatmaps(), feats))
        _, b = no_global((_heatmaps(), feats))
    # same weights otherwise: the global branch changes the output ...
    assert not torch.allclose(a, b, atol=1e-4)
    # ... and it is the only difference: with G_i = 0, F_i + G_i = F_i
    _zero_redistribution(full)
    with torch.no_grad():
        _, c = full((_heatmaps(), feats))
    assert torch.allclose(c, b, atol=1e-6)


def test_global_residual_switch_drops_the_input_features():
    full, no_res = _pair_with(dict(global_residual=False))
    feats = _feats()
    with torch.no_grad():
        _, a = full((_heatmaps(), feats))
        _, b = no_res((_heatmaps(), feats))
    assert not torch.allclose(a, b, atol=1e-4)
    # without the residual the scales reach the head only through G_i: with
    # G_i = 0 the output no longer depends on the input at all, while the
    # residual model still does
    _zero_redistribution(full)
    _zero_redistribution(no_res)
    other = _feats()
    with torch.no_grad():
        _, r1 = no_res((_heatmaps(), feats))
        _, r2 = no_res((_heatmaps(), other))
        _, f1 = full((_heatmaps(), feats))
        _, f2 = full((_heatmaps(), other))
    assert torch.allclose(r1, r2, atol=1e-6)
    assert not torch.allclose(f1, f2, atol=1e-4)


@pytest.mark.parametrize('chosen', [0, 2])
def test_forced_attention_makes_the_fused_map_one_scales_map(chosen):
    """Score convs with zero weights and a bias of +50 for one scale give
    softmax weights ~1 / ~e-50: the fused map is that scale's lateral
    (upsampled) and ignores every other scale."""
    torch.manual_seed(0)
    neck = SpatialFusionModule(**TINY)
    neck.init_weights()
    neck.eval()
    with torch.no_grad():
        for i, conv in enumerate(neck.score_convs):
            conv.weight.zero_()
            conv.bias.fill_(50.0 if i == chosen else 0.0)
    feats = list(_feats())
    with torch.no_grad():
        fused, weights = neck.global_attention(feats)
        assert torch.allclose(weights[:, chosen], torch.ones(2, 16, 16))
        lateral = torch.nn.functional.interpolate(
            neck.laterals[chosen](feats[chosen]),
            size=(16, 16),
            mode='bilinear',
            align_corners=False)
        assert torch.allclose(fused, lateral, atol=1e-6)
        for k in range(len(feats)):
            perturbed = list(feats)
            perturbed[k] = feats[k] + 3 * torch.randn_like(feats[k])
            fused_k, _ = neck.global_attention(perturbed)
            if k == chosen:
                assert not torch.allclose(fused_k, fused, atol=1e-3)
            else:
                assert torch.allclose(fused_k, fused, atol=1e-6)


@pytest.mark.parametrize('scale', [0.0, 1e-3, 0.25])
def test_backbone_grad_scale_scales_only_the_backbone_bound_gradient(scale):
    """The features' gradient is exactly ``scale`` times the unscaled one;
    the SFM's own parameter gradients and the outputs are unchanged, and
    the passed-through heatmaps are not scaled."""

    def run(s):
        torch.manual_seed(0)
        neck = SpatialFusionModule(**TINY, backbone_grad_scale=s)
        neck.init_weights()
        torch.manual_seed(1)
        feats = _feats(requires_grad=True)
        heatmaps = tuple(h.requires_grad_() for h in _heatmaps())
        out_heatmaps, pooled = neck((heatmaps, feats))
        loss = (pooled**2).sum() + sum((h * 3).sum() for h in out_heatmaps)
        loss.backward()
        own = {n: p.grad.clone() for n, p in neck.named_parameters()}
        return pooled.detach(), feats, heatmaps, own

    ref_pooled, ref_feats, ref_hms, ref_own = run(1.0)
    pooled, feats, hms, own = run(scale)
    torch.testing.assert_close(pooled, ref_pooled)
    for f, rf in zip(feats, ref_feats):
        assert rf.grad.abs().max() > 0
        if scale == 0:
            assert f.grad is None
        else:
            torch.testing.assert_close(f.grad, scale * rf.grad)
    for h, rh in zip(hms, ref_hms):
        torch.testing.assert_close(h.grad, rh.grad)
    assert own.keys() == ref_own.keys()
    for n in own:
        torch.testing.assert_close(own[n], ref_own[n], msg=n)


def test_negative_backbone_grad_scale_raises():
    with pytest.raises(ValueError, match='backbone_grad_scale'):
        SpatialFusionModule(**TINY, backbone_grad_scale=-1.0)
