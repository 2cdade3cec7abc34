# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""The DLM's heatmap renderers: they draw exactly Q(z) G(z) of the flow,
sigma means the same in each, the lattice approximates the exact flow."""
import math

import pytest
import torch
from mmpose.models.utils.realnvp import RealNVP
from torch import nn

from mmpose_ext.models.utils import (BaseDensityRenderer, FlowExactRenderer,
                                     FlowLatticeRenderer)
from mmpose_ext.models.utils.flow_heatmap_renderer import log_std_normal

K, H, W = 4, 16, 16


def _flow(gain=0.2, bias=0.05, seed=0, identity=False):
    """A RealNVP with a clearly non-Gaussian (but contained) density, or
    exactly the identity (every last layer at 0)."""
    torch.manual_seed(seed)
    flow = RealNVP()
    g = torch.Generator().manual_seed(seed)
    for net in list(flow.s) + list(flow.t):
        for m in net:
            if isinstance(m, nn.Linear):
                with torch.no_grad():
                    m.weight.copy_(
                        torch.randn(m.weight.shape, generator=g) * gain /
                        math.sqrt(m.weight.shape[1]))
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * bias)
        if identity:
            last = net[-2] if isinstance(net[-1], nn.Tanh) else net[-1]
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
    return flow


def _grid(step, lo=-8, hi=8):
    t = torch.arange(lo, hi, step) + step / 2
    gy, gx = torch.meshgrid(t, t, indexing='ij')
    return torch.stack([gx, gy], -1)


@pytest.mark.parametrize('renderer', [
    FlowExactRenderer(),
    FlowLatticeRenderer(lattice_size=128, lattice_range=8.0)
])
def test_flow_density_integrates_to_one_and_is_not_gaussian(renderer):
    flow = _flow(gain=0.5, bias=0.2)
    z = _grid(0.08)
    with torch.no_grad():
        p = renderer.log_density(flow, z).exp()
    assert abs(float(p.sum()) * 0.08**2 - 1) < 0.02
    prior = log_std_normal(z).exp()
    assert (p - prior).abs().max() > 0.02  # the flow is used


def test_lattice_matches_the_exact_flow():
    flow = _flow()
    exact = FlowExactRenderer()
    lattice = FlowLatticeRenderer(lattice_size=128)
    z = torch.randn(1000, 2) * 2
    with torch.no_grad():
        pe = exact.log_density(flow, z).exp()
        pl = lattice.log_density(flow, z).exp()
    assert (pe - pl).abs().max() < 5e-3
    mu = torch.rand(2, K, 2) * 0.6 + 0.2
    sigma = torch.full((2, K, 2), 0.08)
    with torch.no_grad():
        assert (exact(flow, mu, sigma,
                      (H, W)) - lattice(flow, mu, sigma,
                                        (H, W))).abs().max() < 0.02


@pytest.mark.parametrize('interp,size', [('cubic', 12), ('linear', 24)])
def test_default_lattice_is_close_to_the_flow(interp, size):
    flow = _flow(gain=0.2, bias=0.05)  # mildly non-Gaussian
    mu = torch.rand(2, K, 2) * 0.6 + 0.2
    sigma = torch.rand(2, K, 2) * 0.03 + 0.03
    with torch.no_grad():
        exact = FlowExactRenderer()(flow, mu, sigma, (H, W))
        lattice = FlowLatticeRenderer(
            lattice_size=size, interp=interp)(flow, mu, sigma, (H, W))
    assert (exact - lattice).abs().max() < 5e-3


@pytest.mark.parametrize('q', ['gaussian', 'laplace', None])
def test_sigma_means_one_thing_in_every_renderer(q):
    """With the identity flow (G = N(0, I)) all three renderers draw the same
    map for the same sigma: Q(z) N(z), z = (mu - x) / sigma."""
    flow = _flow(identity=True)
    mu = torch.tensor([[[0.4, 0.55], [0.7, 0.3]]])
    sigma = torch.tensor([[[0.05, 0.08], [0.1, 0.04]]])
    maps = [
        r(flow, mu, sigma, (32, 32))
        for r in (BaseDensityRenderer(q_distribution=q),
                  FlowExactRenderer(q_distribution=q),
                  FlowLatticeRenderer(q_distribution=q))
    ]
    for m in maps[1:]:
        assert torch.allclose(m, maps[0], atol=1e-5)
    # ... and the drawing is Q(z) N(z) in closed form
    t = torch.arange(32.) / 32
    zx = (mu[0, 0, 0] - t) / sigma[0, 0, 0]
    zy = (mu[0, 0, 1] - t) / sigma[0, 0, 1]
    q_log = {
        'gaussian': lambda z: -0.5 * z**2,
        'laplace': lambda z: -z.abs(),
        None: lambda z: 0 * z
    }[q]
    ax, ay = -0.5 * zx**2 + q_log(zx), -0.5 * zy**2 + q_log(zy)
    expected = (ay[:, None] + ax[None, :])
    expected = (expected - expected.max()).clamp(min=-40).exp()
    window = maps[0][0, 0] > 0
    assert torch.allclose(maps[0][0, 0][window], expected[window], atol=1e-5)


def test_window_equals_the_full_map():
    flow = _flow()
    mu = torch.tensor([[[0.5, 0.5], [0.02, 0.97], [-0.1, 0.4], [0.8, 1.2]]])
    sigma = torch.full((1, K, 2), 0.04)
    windowed = FlowLatticeRenderer()
    full = FlowLatticeRenderer(window=False)
    with torch.no_grad():
        _, index = windowed.windowed(flow, mu, sigma, (32, 32))
        assert index is not None and index.shape[-1] < 32 * 32
        assert (windowed(flow, mu, sigma,
                         (32, 32)) - full(flow, mu, sigma,
                                          (32, 32))).abs().max() < 1e-6


def test_width_follows_sigma():
    r = BaseDensityRenderer()
    mu = torch.full((1, 1, 2), 0.5)
    narrow = r(None, mu, torch.full((1, 1, 2), 0.03), (H, W))
    wide = r(None, mu, torch.full((1, 1, 2), 0.2), (H, W))
    assert wide.sum() > 4 * narrow.sum()


@pytest.mark.parametrize('cls,kwargs,name', [
    (BaseDensityRenderer, dict(q_distribution='cauchy'), 'q_distribution'),
    (BaseDensityRenderer, dict(window_radius=0), 'window_radius'),
    (FlowLatticeRenderer, dict(lattice_size=1), 'lattice_size'),
    (FlowLatticeRenderer, dict(lattice_range=0), 'lattice_range'),
    (FlowLatticeRenderer, dict(interp='nearest'), 'interp'),
])
def test_invalid_arguments(cls, kwargs, name):
    with pytest.raises(ValueError, match=name):
        cls(**kwargs)
