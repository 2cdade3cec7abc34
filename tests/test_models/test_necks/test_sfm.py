# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""SpatialFusionModule (SADI-Net neck)."""
import pytest
import torch

from mmpose_ext.models.necks.sfm import SpatialFusionModule

IN = (8, 16, 32, 64)
TINY = dict(in_channels=IN, fuse_channels=16, head_channels=(16, 32, 64, 128),
            out_channels=64)


def _feats(b=2, h=16, w=16, channels=IN, requires_grad=False):
    return tuple(
        torch.randn(b, c, -(-h // 2**i), -(-w // 2**i),
                    requires_grad=requires_grad)
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
        n = SpatialFusionModule(**TINY, local_softmax_dim=dim,
                                local_rescale=False)
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
