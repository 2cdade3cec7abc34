# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Render the keypoint distribution of a RealNVP flow as a heatmap.

RLE (Li et al., ICCV 2021) models the position x of a keypoint given the
regressed mean mu and scale sigma through the normalised residual
``z = (mu - x) / sigma`` (RLE's sign: prediction minus truth) with the
density (its loss, eq. 4-5 of the SADI-Net paper)::

    log P(x) = log Q(z) + log G(z) - log(sigma_x sigma_y)

where G is the flow's density and Q the residual base distribution
(``'gaussian'`` or ``'laplace'``, ``None`` for none). A renderer draws
exactly this shape on a heatmap grid, peak-normalised to 1, so that sigma
means one thing in every renderer and in the likelihood: the scale of the
residual. Heatmap pixel (u, v) sits at normalised coordinates (u / W, v / H),
the frame of MSRA heatmaps (keypoint / stride) and of ``RegressionLabel``
(keypoint / input size).

Renderers (``renderer=dict(type=...)`` of :class:`DLMHead`):

* :class:`FlowLatticeRenderer` (default): ``log G - log N(0, I)`` is a
  single smooth 2-D function shared by all keypoints and samples; it is
  evaluated once per call on an n x n lattice of z and interpolated
  (Catmull-Rom cubic or linear), so the flow costs n^2 evaluations instead
  of B*K*H*W. The heatmap of one keypoint is a tensor product of its z_x
  and z_y values: with interpolation weight matrices Wy (H, n), Wx (W, n),
  ``log H = [Wy R, a_y, 1] @ [Wx, 1, a_x]^T`` (a_x, a_y carry the separable
  closed-form terms): one GEMM and one batched matmul for all pixels.
* :class:`FlowExactRenderer`: the flow at every pixel (reference).
* :class:`BaseDensityRenderer`: the flow replaced by its N(0, I) prior
  (closed form; what an untrained, identity-like flow renders).

With ``window=True`` only the pixels within ``window_radius`` sigmas of mu
are computed (a square window common to the batch, moved inside the map);
the rest is 0, and :meth:`windowed` returns the window itself so that a
loss can avoid building the full map.
"""
import math
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from mmpose.registry import MODELS
from torch import Tensor, nn

Q_DISTRIBUTIONS = (None, 'gaussian', 'laplace')


def log_std_normal(z: Tensor) -> Tensor:
    """log N(z; 0, I) for z (..., 2) -> (...)."""
    return -0.5 * (z**2).sum(-1) - math.log(2 * math.pi)


def flow_residual(flow: nn.Module, z: Tensor) -> Tensor:
    """``log G(z) - log N(z; 0, I)`` of a RealNVP flow for z (P, 2) -> (P,).
    Its prior is N(0, I) (the ``loc``/``cov`` buffers of MMPose's
    ``RealNVP``), written in closed form instead of MultivariateNormal's
    solve."""
    latent, log_det = flow.backward_p(z)
    return (log_std_normal(latent) + log_det) - log_std_normal(z)


class BaseDensityRenderer(nn.Module):
    """Render ``Q(z) N(z; 0, I)``: the flow replaced by its prior.

    Args:
        q_distribution (str, optional): Q, as the likelihood's
            (``'gaussian'``, ``'laplace'`` or None). Set by the head from
            its RLE loss. Defaults to ``'gaussian'``.
        window (bool): Compute only a window around mu. Defaults to True.
        window_radius (float): Its radius in sigmas (values beyond are below
            exp(-16) of the peak with a Gaussian Q). Defaults to 4.
    """

    def __init__(self,
                 q_distribution: Optional[str] = 'gaussian',
                 window: bool = True,
                 window_radius: float = 4.0):
        super().__init__()
        if q_distribution not in Q_DISTRIBUTIONS:
            raise ValueError(f'q_distribution must be one of '
                             f'{Q_DISTRIBUTIONS}, got {q_distribution!r}')
        if not window_radius > 0:
            raise ValueError(
                f'window_radius must be > 0, got {window_radius!r}')
        self.q_distribution = q_distribution
        self.window = bool(window)
        self.window_radius = float(window_radius)

    # -------------------------------------------------------------- public
    def forward(self, flow: Optional[nn.Module], mu: Tensor, sigma: Tensor,
                heatmap_size: Tuple[int, int]) -> Tensor:
        """Render the full heatmaps.

        Args:
            flow (nn.Module, optional): The RealNVP flow (unused here).
            mu (Tensor): Means (B, K, 2), normalised coordinates.
            sigma (Tensor): Scales (B, K, 2), normalised.
            heatmap_size (tuple): (H, W).

        Returns:
            Tensor: (B, K, H, W), values in [0, 1], max 1 per map.
        """
        h, w = heatmap_size
        values, index = self.windowed(flow, mu, sigma, heatmap_size)
        if index is None:
            return values
        b, k = mu.shape[:2]
        out = mu.new_zeros(b, k, h * w)
        out.scatter_(2, index, values.flatten(2))
        return out.view(b, k, h, w)

    def windowed(
            self, flow: Optional[nn.Module], mu: Tensor, sigma: Tensor,
            heatmap_size: Tuple[int, int]) -> Tuple[Tensor, Optional[Tensor]]:
        """Render the window around mu (or the whole map).

        Returns:
            tuple: ``(values, index)``: values (B, K, P, P) and the flat map
            indices (B, K, P * P) of the window pixels (inside the map,
            distinct); or the whole map (B, K, H, W) and None.
        """
        h, w = heatmap_size
        b, k = mu.shape[:2]
        sigma = sigma + 1e-9
        half = None
        if self.window:
            with torch.no_grad():
                spread = (sigma * sigma.new_tensor([w, h])).amax()
                half = int(math.ceil(float(spread) * self.window_radius))
            if 2 * half + 1 >= min(h, w):
                half = None
        if half is None:
            px = torch.arange(w, device=mu.device, dtype=mu.dtype)
            py = torch.arange(h, device=mu.device, dtype=mu.dtype)
            px, py = px.expand(b, k, w), py.expand(b, k, h)
        else:  # a P x P window (P = 2 half + 1) around round(mu), moved
            # inside the map: it still covers every pixel within R sigmas
            offs = torch.arange(2 * half + 1, device=mu.device, dtype=mu.dtype)
            with torch.no_grad():
                start = (mu * mu.new_tensor([w, h])).round() - half
                start = torch.minimum(
                    start.clamp(min=0),
                    start.new_tensor([w - 2 * half - 1, h - 2 * half - 1]))
            px = start[..., 0, None] + offs  # (B, K, P)
            py = start[..., 1, None] + offs
        zx = (mu[..., 0, None] - px / w) / sigma[..., 0, None]
        zy = (mu[..., 1, None] - py / h) / sigma[..., 1, None]
        log_h = self._separable(zx, zy) + self._residual(flow, zx, zy)
        # peak normalisation; values below exp(-40) of the peak are clamped
        # there: exp() would otherwise produce denormal floats, ~10x slower
        # to compute with on CPUs
        values = (log_h - log_h.flatten(2).amax(-1)[..., None, None]).clamp(
            min=-40).exp()
        if half is None:
            return values, None
        index = (py[..., :, None] * w + px[..., None, :]).long().flatten(2)
        return values, index

    def log_density(self, flow: Optional[nn.Module], z: Tensor) -> Tensor:
        """``log G(z)`` as this renderer evaluates it, for z (..., 2)."""
        return log_std_normal(z)

    def squared_error(self, flow: Optional[nn.Module], mu: Tensor,
                      sigma: Tensor, target: Tensor) -> Tensor:
        """``sum_pixels (H - T)^2`` per map, with mu's gradient from the
        overlap with the target only.

        Expanded as ``sum H^2 - 2 sum H T + sum T^2`` and evaluated from the
        window (H is 0 outside it), so the full map is never built; the
        blob's energy ``sum H^2`` is rendered at a DETACHED mu: its value is
        the same, but it falls as the blob leaves the map, which would push
        mu toward an edge. The gradient then only ever pulls mu toward the
        target (and is 0 where the blobs do not overlap).

        Args:
            flow (nn.Module, optional): The flow.
            mu, sigma (Tensor): (B, K, 2), normalised.
            target (Tensor): (B, K, H, W).

        Returns:
            Tensor: (B, K).
        """
        size = target.shape[-2:]
        values, index = self.windowed(flow, mu, sigma, size)
        energy, _ = self.windowed(flow, mu.detach(), sigma, size)
        flat = target.flatten(2)
        t_win = flat if index is None else flat.gather(2, index)

        def dot(x, y):  # (B, K, N) x2 -> (B, K), as a batched matmul
            return (x.unsqueeze(-2) @ y.unsqueeze(-1))[..., 0, 0]

        values, energy = values.flatten(2), energy.flatten(2)
        return dot(energy, energy) - 2 * dot(values, t_win) + dot(flat, flat)

    def heatmap_loss(self, flow: Optional[nn.Module], mu: Tensor,
                     sigma: Tensor, target: Tensor, target_weights: Tensor,
                     loss_module: nn.Module) -> Tensor:
        """``loss_module(H, target, target_weights)`` for the H rendered at
        mu, sigma. MMPose's ``KeypointMSELoss`` is computed from the window
        (:meth:`squared_error`: same value, mu's gradient from the target
        overlap only); any other loss gets the full rendered map.

        Args:
            flow (nn.Module, optional): The flow.
            mu, sigma (Tensor): (B, K, 2), normalised.
            target (Tensor): (B, K, H, W).
            target_weights (Tensor): (B, K).

        Returns:
            Tensor: The scalar loss (``loss_module.loss_weight`` applied).
        """
        if type(loss_module).__name__ != 'KeypointMSELoss':
            return loss_module(
                self(flow, mu, sigma, target.shape[-2:]), target,
                target_weights)
        per_map = self.squared_error(flow, mu, sigma, target)
        weights = target_weights.to(per_map.dtype)
        if loss_module.skip_empty_channel:
            weights = weights * (target.flatten(2) != 0).any(-1).to(
                per_map.dtype)
        return (per_map * weights).sum() / target.numel() * \
            loss_module.loss_weight

    # ----------------------------------------------------------- internals
    def _axis_terms(self, z: Tensor) -> Tensor:
        """Separable closed-form log terms of one axis: ``log N`` of the
        base density plus ``log Q`` (constants dropped)."""
        out = -0.5 * z.square()
        if self.q_distribution == 'gaussian':
            out = out - 0.5 * z.square()
        elif self.q_distribution == 'laplace':
            out = out - z.abs()
        return out

    def _separable(self, zx: Tensor, zy: Tensor) -> Tensor:
        """(B, K, W) and (B, K, H) -> (B, K, H, W)."""
        return self._axis_terms(zy)[..., :, None] + \
            self._axis_terms(zx)[..., None, :]

    def _residual(self, flow, zx: Tensor, zy: Tensor):
        return 0.


@MODELS.register_module()
class FlowExactRenderer(BaseDensityRenderer):
    """Render ``Q(z) G(z)``, running the flow at every pixel (B*K*H*W points
    through 6 couplings: the reference for :class:`FlowLatticeRenderer`).
    Arguments as :class:`BaseDensityRenderer`."""

    def log_density(self, flow: nn.Module, z: Tensor) -> Tensor:
        flat = z.reshape(-1, 2)
        return (flow_residual(flow, flat) + log_std_normal(flat)).view(
            z.shape[:-1])

    def _residual(self, flow, zx: Tensor, zy: Tensor) -> Tensor:
        b, k, w = zx.shape
        h = zy.shape[-1]
        z = torch.stack([
            zx[..., None, :].expand(b, k, h, w), zy[..., :, None].expand(
                b, k, h, w)
        ], -1)
        return flow_residual(flow, z.reshape(-1, 2)).view(b, k, h, w)


@MODELS.register_module()
class FlowLatticeRenderer(BaseDensityRenderer):
    """Render ``Q(z) G(z)`` with the flow evaluated once per call on a
    lattice (see the module docstring).

    Args:
        lattice_size (int): Nodes per axis (n; the flow runs on n^2 points
            per call; spacing 2R / (n - 1) = 0.73 sigma for 12, which the
            cubic interpolation renders within ~2e-3 of the exact flow for a
            mildly non-Gaussian flow). Defaults to 12.
        lattice_range (float): Half-width R of the lattice in sigmas (the
            residual is border-clamped beyond it). Defaults to 4.
        interp (str): ``'cubic'`` (Catmull-Rom) or ``'linear'``. Defaults
            to ``'cubic'``.
        **kwargs: :class:`BaseDensityRenderer` arguments; ``window_radius``
            is capped at ``lattice_range``.
    """

    def __init__(self,
                 lattice_size: int = 12,
                 lattice_range: float = 4.0,
                 interp: str = 'cubic',
                 **kwargs):
        super().__init__(**kwargs)
        if not isinstance(lattice_size, int) or lattice_size < 2:
            raise ValueError(
                f'lattice_size must be an int >= 2, got {lattice_size!r}')
        if not lattice_range > 0:
            raise ValueError(
                f'lattice_range must be > 0, got {lattice_range!r}')
        if interp not in ('cubic', 'linear'):
            raise ValueError(
                f"interp must be 'cubic' or 'linear', got {interp!r}")
        self.lattice_size = lattice_size
        self.lattice_range = float(lattice_range)
        self.interp = interp
        self.window_radius = min(self.window_radius, self.lattice_range)

    def lattice(self, flow: nn.Module, dtype, device) -> Tensor:
        """``log G - log N`` on the lattice, (n, n) (rows: z_y, columns:
        z_x, from -R to R)."""
        n, r = self.lattice_size, self.lattice_range
        t = torch.linspace(-r, r, n, device=device, dtype=dtype)
        gy, gx = torch.meshgrid(t, t, indexing='ij')
        nodes = torch.stack([gx, gy], -1).view(-1, 2)  # x fastest
        return flow_residual(flow, nodes).view(n, n)

    def log_density(self, flow: nn.Module, z: Tensor) -> Tensor:
        flat = z.reshape(-1, 2)
        resid = self.lattice(flow, z.dtype, z.device)
        value = ((self.weights(flat[:, 1]) @ resid) *
                 self.weights(flat[:, 0])).sum(-1)
        return value.view(z.shape[:-1]) + log_std_normal(z)

    def weights(self, z: Tensor) -> Tensor:
        """Interpolation weights of the lattice nodes for coordinates z
        (..., L) -> (..., L, n): Catmull-Rom (4 non-zeros per row) or
        linear (2). z outside [-R, R] is clamped to the border (zero
        gradient there); the cubic stencil replicates the border nodes."""
        n, r = self.lattice_size, self.lattice_range
        u = ((z / r + 1) * (n - 1) / 2).clamp(0, n - 1)
        i0 = u.detach().floor().clamp(max=n - 2)
        t = (u - i0)[..., None]
        i0 = i0.long()[..., None]
        weights = z.new_zeros(*z.shape, n)
        if self.interp == 'linear':
            weights.scatter_(-1, i0, 1 - t)
            weights.scatter_(-1, i0 + 1, t)
            return weights
        t2, t3 = t * t, t * t * t
        stencil = torch.cat([(-t3 + 2 * t2 - t) / 2, (3 * t3 - 5 * t2 + 2) / 2,
                             (-3 * t3 + 4 * t2 + t) / 2, (t3 - t2) / 2], -1)
        index = (i0 + torch.arange(-1, 3, device=z.device)).clamp(0, n - 1)
        return weights.scatter_add_(-1, index, stencil)

    def _separable(self, zx: Tensor, zy: Tensor) -> Tensor:
        return 0.  # rides along in _residual's matmul

    def _residual(self, flow, zx: Tensor, zy: Tensor) -> Tensor:
        # log_h = [Wy R, ay, 1] @ [Wx, 1, ax]^T: the separable terms ride
        # along as two extra columns of ONE batched matmul
        b, k, w = zx.shape
        h = zy.shape[-1]
        n = self.lattice_size
        ax, ay = self._axis_terms(zx), self._axis_terms(zy)
        resid = self.lattice(flow, zx.dtype, zx.device)
        rows = (self.weights(zy).reshape(-1, n) @ resid).view(b, k, h, n)
        left = torch.cat([rows, ay[..., None],
                          torch.ones_like(ay)[..., None]], -1)
        right = torch.cat(
            [self.weights(zx),
             torch.ones_like(ax)[..., None], ax[..., None]], -1)
        return left @ right.transpose(-1, -2)


MODELS.register_module(module=BaseDensityRenderer)


def blur_to_label(density: Tensor, sigma: float) -> Tensor:
    """The heatmap a keypoint drawn from ``density`` gives its label: the
    density normalised to unit mass over the grid, convolved with the
    label's Gaussian of ``sigma`` pixels, peak 1, zero beyond 3 sigma (as
    MSRA heatmaps), i.e. ``E_x[G(u - x)]``.

    Its peak is a confidence in the units of a predicted heatmap: 1 for a
    certain position, about s_t / sqrt(s_t^2 + s^2) per axis for a spread
    s; a collapsed density gives the label's own blob, not a spike.

    Args:
        density (Tensor): (B, K, H, W), non-negative.
        sigma (float): The label's Gaussian, in pixels.

    Returns:
        Tensor: (B, K, H, W).
    """
    density = density / density.sum((2, 3), keepdim=True).clamp(min=1e-12)
    r = int(math.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=density.dtype, device=density.device)
    g = torch.exp(-0.5 * (t / sigma)**2)
    b, k, h, w = density.shape
    x = density.reshape(b * k, 1, h, w)
    x = F.conv2d(x, g.view(1, 1, 1, -1), padding=(0, r))
    x = F.conv2d(x, g.view(1, 1, -1, 1), padding=(r, 0))
    return x.view(b, k, h, w)
