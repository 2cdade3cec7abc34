# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Distribution Learning Module (DLM) head of SADI-Net.

From the SFM's pooled vector the head regresses, per keypoint, a mean mu and
a scale sigma (as RLE, Li et al. ICCV 2021); MMPose's 2-D ``RealNVP`` flow
learns the density G of the normalised residual ``z = (mu - x) / sigma``
(RLE's sign convention). From that distribution it renders a learnable
heatmap H_dlm of the size of the backbone's heatmaps H_rfm::

    log H_dlm(x) = log G(z) [+ log Q(z)] - max_x(...),   z = (mu - x) / sigma

(Q is RLE's residual base distribution, ``q_distribution``; the 1/(sx*sy)
factor of the density cancels in the peak normalisation to 1). Loss
(paper eqs. 6-8)::

    L = sum_stacks MSE(H_rfm_s, H_gt) + lambda_dlm * MSE(H_dlm, target)
        [+ rle_weight * RLE-NLL(mu, sigma, x_gt)]

Rendering is vectorised over batch, keypoints and grid, and cheap:

* ``render_mode='lattice'`` (default) evaluates the flow ONCE per forward on
  a ``lattice_size`` x ``lattice_size`` lattice of z in ``[-R, R]^2`` (one
  flow is shared by all keypoints and samples, so its density is a single
  2-D function) and interpolates ``log G - log N(0, I)`` (smooth, bounded;
  Catmull-Rom cubic by default). The heatmap grid of one keypoint is a
  tensor product of its z_x and z_y values, so with interpolation weight
  matrices Wy (H, n), Wx (W, n) the whole map is
  ``[Wy R, a_y, 1] @ [Wx, 1, a_x]^T``: one GEMM for all rows and one batched
  matmul for all B*K*H*W points, where a_x, a_y carry ``log N(0, I)`` and
  ``log Q`` in closed form. The flow costs ``lattice_size^2`` evaluations
  per batch instead of B*K*H*W.
* ``render_window=True`` computes only the pixels within ``render_radius``
  sigmas of mu, and the MSE of L_dlm is evaluated exactly from that window
  (:meth:`dlm_loss`), so the full H_dlm is not even built in training.
* ``'exact'`` runs the flow on every point (B*K*H*W points x 6 couplings;
  reference), ``'gaussian'``/``'laplace'`` use a closed form without the
  flow (it then learns only from the RLE term).

``tools/benchmark_sadi_net.py`` prints the head's time split.

Input contract (see :class:`RFMHourglassNet`, :class:`SpatialFusionModule`)::

    feats = (heatmaps, pooled)
        heatmaps: tuple of per-stack H_rfm (B, K, H, W); the last is final
        pooled:   (B, C) vector (from the neck); a (B, C, h, w) map or a
                  tuple of maps (backbone without neck) is average-pooled
                  from its last entry. Unused when ``with_dlm=False``.

``forward(feats)`` returns the final H_rfm (B, K, H, W), so ``mode='tensor'``
and MMPose's flip-test path work unchanged.
"""
import math
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.structures import InstanceData, PixelData
from mmpose.evaluation.functional import pose_pck_accuracy
from mmpose.models.heads.base_head import BaseHead
from mmpose.models.utils.realnvp import RealNVP
from mmpose.models.utils.tta import flip_coordinates, flip_heatmaps
from mmpose.registry import KEYPOINT_CODECS, MODELS
from mmpose.utils.tensor_utils import to_numpy
from mmpose.utils.typing import (ConfigType, OptConfigType, OptSampleList,
                                 Predictions)
from torch import Tensor, nn

RENDER_MODES = ('lattice', 'exact', 'gaussian', 'laplace')
PREDICT_MODES = ('heatmap', 'regression', 'average')
DLM_TARGETS = ('gt', 'rfm')
Q_DISTRIBUTIONS = (None, 'gaussian', 'laplace')
_LOG_2PI = math.log(2 * math.pi)


def _log_std_normal(z: Tensor) -> Tensor:
    """log N(z; 0, I) for z (..., 2) -> (...)."""
    return -0.5 * (z**2).sum(-1) - _LOG_2PI


@MODELS.register_module()
class DLMHead(BaseHead):
    """SADI-Net's Distribution Learning Module head.

    Args:
        num_keypoints (int): Number of keypoints K.
        in_channels (int): Length C of the pooled vector. Defaults to 2048.
        with_dlm (bool): Build the DLM (regression + flow + rendering). With
            ``False`` the head only supervises the backbone's H_rfm (the
            hourglass / RFM-only ablations); no pooled vector is needed.
            Defaults to True.
        lambda_dlm (float): Weight lambda of L_dlm (eq. 8; the paper's
            value is lost). Both terms are mean-reduced MSE over the same
            heatmap targets and start at the same magnitude, but 1.0 let
            the DLM gradient slow H_rfm's learning (PCKh 41 vs 64 at 0.1 on
            generated data, docs/sadi_net.md). 0 gives the "original MSE"
            loss variant (the DLM branch is then not run in training).
            Defaults to 0.1.
        dlm_target (str): Target of L_dlm: ``'gt'`` (MSE(H_dlm, H_gt), the
            default) or ``'rfm'`` (MSE(H_dlm, H_rfm), the learned heatmap as a
            soft target of the backbone's; use with ``rle_weight > 0`` so the
            distribution stays tied to the ground truth). Defaults to ``'gt'``.
        rle_weight (float): Weight of the RLE negative log-likelihood of the
            ground truth under (mu, sigma, flow) (MMPose's ``RLELoss``
            formula, ``residual=True``, averaged over the batch). 0 disables
            it. Defaults to 0.
        q_distribution (str, optional): RLE's residual base distribution Q
            (``'gaussian'``, ``'laplace'`` or None), used in rendering (the
            paper adds "a standard gaussian") and in the RLE term.
            Defaults to ``'gaussian'``.
        render_mode (str): ``'lattice'``, ``'exact'``, ``'gaussian'`` or
            ``'laplace'``; see the module docstring. Defaults to
            ``'lattice'``.
        lattice_size (int): Nodes per axis of the flow lattice (the flow
            runs on n^2 points per forward; spacing 2R / (n - 1) = 0.73 sigma
            for 12, which the cubic interpolation renders within ~2e-3 of
            the exact flow for a mildly non-Gaussian flow). Defaults to 12.
        lattice_range (float): Half-width R of the lattice in units of sigma
            (the flow residual is border-clamped beyond it). Defaults to 4.
        lattice_interp (str): ``'cubic'`` (Catmull-Rom) or ``'linear'``
            interpolation of the lattice. Defaults to ``'cubic'``.
        render_window (bool): Render only the pixels within
            ``render_radius`` sigmas of mu (a square window common to the
            batch, moved inside the map); the rest of H_dlm is 0. Defaults
            to True.
        render_radius (float, optional): Window radius in sigmas, at most
            ``lattice_range`` (None: ``lattice_range``). With the default 4,
            the cut-off values are below exp(-16) of the peak with a
            Gaussian Q, exp(-12) with a Laplace Q and ~exp(-8) without Q
            (then raise both ``lattice_range`` and ``render_radius``).
            Defaults to None.
        init_sigma (float): Initial sigma in normalised input coordinates
            (bias of the sigma output after the sigmoid); 0.05 renders a blob
            about as wide as the sigma=2 targets of a 64-pixel heatmap.
            Defaults to 0.05.
        predict_from (str): Default prediction: ``'heatmap'`` (decode H_rfm),
            ``'regression'`` (the regressed mu, as RLEHead) or ``'average'``
            (decode (H_rfm + H_dlm) / 2). ``test_cfg['predict_from']``
            overrides it. Defaults to ``'heatmap'``.
        loss (dict): Heatmap loss used for L_rfm and L_dlm. Defaults to
            ``KeypointMSELoss(use_target_weight=True)``.
        decoder (dict, optional): Heatmap codec (e.g. ``MSRAHeatmap``) used to
            decode heatmaps. Defaults to None.
        regression_decoder (dict, optional): Codec that decodes mu (normalised
            coordinates); defaults to ``RegressionLabel`` with the heatmap
            decoder's ``input_size``.
        init_cfg (dict, optional): Initialisation config. Defaults to None
            (the regression layer is initialised in :meth:`init_weights`).

    Training needs ``gt_fields.heatmaps`` (K, H, W),
    ``gt_instance_labels.keypoint_weights`` and, for ``rle_weight > 0``,
    ``gt_instance_labels.keypoint_labels`` (normalised coordinates): use
    ``GenerateTarget(encoder=dict(type='IntegralRegressionLabel', ...,
    normalize=False))``.
    """

    def __init__(self,
                 num_keypoints: int,
                 in_channels: int = 2048,
                 with_dlm: bool = True,
                 lambda_dlm: float = 0.1,
                 dlm_target: str = 'gt',
                 rle_weight: float = 0.0,
                 q_distribution: Optional[str] = 'gaussian',
                 render_mode: str = 'lattice',
                 lattice_size: int = 12,
                 lattice_range: float = 4.0,
                 lattice_interp: str = 'cubic',
                 render_window: bool = True,
                 render_radius: Optional[float] = None,
                 init_sigma: float = 0.05,
                 predict_from: str = 'heatmap',
                 loss: ConfigType = dict(
                     type='KeypointMSELoss', use_target_weight=True),
                 decoder: OptConfigType = None,
                 regression_decoder: OptConfigType = None,
                 init_cfg: OptConfigType = None):
        super().__init__(init_cfg)
        if not isinstance(num_keypoints, int) or num_keypoints < 1:
            raise ValueError(
                f'num_keypoints must be an int >= 1, got {num_keypoints!r}')
        if with_dlm and (not isinstance(in_channels, int) or in_channels < 1):
            raise ValueError(
                f'in_channels must be an int >= 1, got {in_channels!r}')
        if lambda_dlm < 0:
            raise ValueError(f'lambda_dlm must be >= 0, got {lambda_dlm}')
        if rle_weight < 0:
            raise ValueError(f'rle_weight must be >= 0, got {rle_weight}')
        if dlm_target not in DLM_TARGETS:
            raise ValueError(
                f'dlm_target must be one of {DLM_TARGETS}, got {dlm_target!r}')
        if q_distribution not in Q_DISTRIBUTIONS:
            raise ValueError(f'q_distribution must be one of '
                             f'{Q_DISTRIBUTIONS}, got {q_distribution!r}')
        if render_mode not in RENDER_MODES:
            raise ValueError(f'render_mode must be one of {RENDER_MODES}, '
                             f'got {render_mode!r}')
        self._check_predict_mode(predict_from, with_dlm)
        if not isinstance(lattice_size, int) or lattice_size < 2:
            raise ValueError(
                f'lattice_size must be an int >= 2, got {lattice_size!r}')
        if lattice_interp not in ('cubic', 'linear'):
            raise ValueError(f"lattice_interp must be 'cubic' or 'linear', "
                             f'got {lattice_interp!r}')
        if not lattice_range > 0:
            raise ValueError(
                f'lattice_range must be > 0, got {lattice_range!r}')
        if not 0 < init_sigma < 1:
            raise ValueError(f'init_sigma must be in (0, 1), got {init_sigma}')

        self.num_keypoints = num_keypoints
        self.in_channels = in_channels
        self.with_dlm = with_dlm
        self.lambda_dlm = float(lambda_dlm)
        self.dlm_target = dlm_target
        self.rle_weight = float(rle_weight)
        self.q_distribution = q_distribution
        self.render_mode = render_mode
        self.lattice_size = lattice_size
        self.lattice_range = float(lattice_range)
        self.lattice_interp = lattice_interp
        self.render_window = render_window
        if render_radius is None:
            render_radius = lattice_range
        if not render_radius > 0:
            raise ValueError(
                f'render_radius must be > 0, got {render_radius!r}')
        self.render_radius = float(min(render_radius, lattice_range))
        self.init_sigma = float(init_sigma)
        self.predict_from = predict_from

        self.loss_module = MODELS.build(loss)
        self.decoder = KEYPOINT_CODECS.build(decoder) \
            if decoder is not None else None
        if regression_decoder is None and self.decoder is not None \
                and hasattr(self.decoder, 'input_size'):
            regression_decoder = dict(
                type='RegressionLabel',
                input_size=tuple(self.decoder.input_size))
        self.regression_decoder = KEYPOINT_CODECS.build(regression_decoder) \
            if regression_decoder is not None else None

        if with_dlm:
            self.fc = nn.Linear(in_channels, num_keypoints * 4)
            self.flow = RealNVP()

    # ------------------------------------------------------------------ init
    def init_weights(self):
        """Init: fc weights N(0, 0.01) (as RLEHead); biases put mu at the crop
        centre (0.5) and sigma at ``init_sigma``; the flow keeps MMPose's
        RealNVP init (Xavier, gain 0.01: close to the identity)."""
        super().init_weights()
        if self.with_dlm:
            nn.init.normal_(self.fc.weight, std=0.01)
            bias = self.fc.bias.data.view(self.num_keypoints, 4)
            bias[:, :2] = 0.5
            bias[:, 2:] = math.log(self.init_sigma / (1 - self.init_sigma))

    # -------------------------------------------------------------- helpers
    @staticmethod
    def _check_predict_mode(mode: str, with_dlm: bool) -> None:
        if mode not in PREDICT_MODES:
            raise ValueError(
                f'predict_from must be one of {PREDICT_MODES}, got {mode!r}')
        if mode != 'heatmap' and not with_dlm:
            raise ValueError(
                f"predict_from={mode!r} needs the DLM (with_dlm=True)")

    def uses_neck_output(self, test_cfg: ConfigType = {}) -> bool:
        """Whether prediction with ``test_cfg`` reads the pooled vector (only
        ``predict_from='regression'``/``'average'`` do); estimators may skip
        the neck otherwise (see :class:`MultiScaleTopdownPoseEstimator`)."""
        mode = test_cfg.get('predict_from', self.predict_from)
        return self.with_dlm and mode != 'heatmap'

    @staticmethod
    def _pooled(x: Union[Tensor, Sequence[Tensor]]) -> Tensor:
        if isinstance(x, (tuple, list)):
            x = x[-1]
        if x.dim() == 4:
            x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return x

    def forward(self, feats: Tuple) -> Tensor:
        """The final stack's heatmap H_rfm.

        Args:
            feats (tuple): ``(heatmaps, pooled)``; see the module docstring.

        Returns:
            Tensor: H_rfm of the last stack, (B, K, H, W).
        """
        return feats[0][-1]

    def regress(self, feats: Tuple) -> Tuple[Tensor, Tensor]:
        """Regress the distribution parameters.

        Args:
            feats (tuple): ``(heatmaps, pooled)``.

        Returns:
            tuple: ``(mu, sigma)``, both (B, K, 2), in coordinates normalised
            by the input size (x / w, y / h); sigma in (0, 1).
        """
        x = self._pooled(feats[1])
        out = self.fc(x).view(x.shape[0], self.num_keypoints, 4)
        return out[..., :2], out[..., 2:].sigmoid()

    def _log_q(self, z: Tensor) -> Tensor:
        if self.q_distribution == 'gaussian':
            return -0.5 * (z**2).sum(-1)
        if self.q_distribution == 'laplace':
            return -z.abs().sum(-1)
        return z.new_zeros(z.shape[:-1])

    def flow_log_prob(self, z: Tensor, mode: Optional[str] = None) -> Tensor:
        """log G(z) of the flow for z (..., 2) -> (...).

        Args:
            z (Tensor): Points (..., 2) in the normalised residual space.
            mode (str, optional): ``'exact'`` (run the flow on every point)
                or ``'lattice'`` (interpolate a lattice evaluation, exact base
                tails). Defaults to :attr:`render_mode` when that is one of
                the two, else ``'exact'``.
        """
        mode = mode or (self.render_mode if self.render_mode in
                        ('lattice', 'exact') else 'exact')
        shape = z.shape[:-1]
        if mode == 'exact':
            flat = z.reshape(-1, 2)
            return (self._flow_residual(flat) +
                    _log_std_normal(flat)).view(shape)
        flat = z.reshape(-1, 2)
        resid = self._lattice_residual(z.dtype, z.device)[0, 0]
        value = ((self._hat_weights(flat[:, 1]) @ resid) *
                 self._hat_weights(flat[:, 0])).sum(-1)
        return value.view(shape) + _log_std_normal(z)

    def _lattice_residual(self, dtype, device) -> Tensor:
        """``log G - log N(0, I)`` of the flow on the lattice, (1, 1, n, n)
        (rows: z_y, columns: z_x, from -R to R). One flow evaluation of n^2
        points per call, shared by every sample and keypoint."""
        n, r = self.lattice_size, self.lattice_range
        t = torch.linspace(-r, r, n, device=device, dtype=dtype)
        gy, gx = torch.meshgrid(t, t, indexing='ij')
        lattice = torch.stack([gx, gy], -1).view(-1, 2)  # x fastest
        return self._flow_residual(lattice).view(1, 1, n, n)

    def _flow_residual(self, z: Tensor) -> Tensor:
        """``log G(z) - log N(z; 0, I)`` for z (P, 2) -> (P,). RealNVP's
        prior is N(0, I) (its ``loc``/``cov`` buffers), so its log-density
        is written in closed form instead of MultivariateNormal's solve."""
        latent, log_det = self.flow.backward_p(z)
        return (_log_std_normal(latent) + log_det) - _log_std_normal(z)

    def log_density(self, points: Tensor, mu: Tensor,
                    sigma: Tensor) -> Tensor:
        """log p(x | mu, sigma) = log G((mu - x) / sigma) - log(sx * sy) of
        the flow alone (a normalised density over x; no Q term).

        Args:
            points (Tensor): Locations x (P, 2), normalised coordinates.
            mu (Tensor): Means (B, K, 2).
            sigma (Tensor): Scales (B, K, 2).

        Returns:
            Tensor: (B, K, P).
        """
        z = (mu[:, :, None] - points[None, None]) / sigma[:, :, None]
        return self.flow_log_prob(z) - sigma.log().sum(-1, keepdim=True)

    def render(self, mu: Tensor, sigma: Tensor,
               heatmap_size: Tuple[int, int]) -> Tensor:
        """Render H_dlm, peak-normalised to 1 per heatmap.

        Heatmap pixel (u, v) sits at normalised coordinates (u / W, v / H),
        the frame of MSRA heatmaps (keypoint / stride) and of RegressionLabel
        (keypoint / input size). With ``render_window`` only the pixels
        within ``render_radius`` sigmas of mu are computed (a P x P window,
        P common to the batch) and the rest is 0.

        Args:
            mu (Tensor): Means (B, K, 2), normalised coordinates.
            sigma (Tensor): Scales (B, K, 2).
            heatmap_size (tuple): (H, W).

        Returns:
            Tensor: H_dlm, (B, K, H, W), values in [0, 1], max 1.
        """
        h, w = heatmap_size
        b, k = mu.shape[:2]
        values, index = self._render_patch(mu, sigma, heatmap_size)
        if index is None:
            return values
        out = mu.new_zeros(b, k, h * w)
        out.scatter_(2, index, values.flatten(2))
        return out.view(b, k, h, w)

    def _render_patch(self, mu: Tensor, sigma: Tensor,
                      heatmap_size: Tuple[int, int]
                      ) -> Tuple[Tensor, Optional[Tensor]]:
        """Render the window (or the whole map).

        Returns:
            tuple: ``(values, index)``: values (B, K, P, P) and the flat
            map indices (B, K, P * P) of the window, all inside the map and
            distinct; or the whole map (B, K, H, W) and None.
        """
        h, w = heatmap_size
        b, k = mu.shape[:2]
        sigma = sigma + 1e-9
        half = None
        if self.render_window:
            with torch.no_grad():
                spread = (sigma * sigma.new_tensor([w, h])).amax()
                half = int(math.ceil(float(spread) * self.render_radius))
            if 2 * half + 1 >= min(h, w):
                half = None
        if half is None:  # the whole map
            px = torch.arange(w, device=mu.device, dtype=mu.dtype)
            py = torch.arange(h, device=mu.device, dtype=mu.dtype)
            px, py = px.expand(b, k, w), py.expand(b, k, h)
        else:  # a P x P window (P = 2 half + 1) around round(mu), moved
            # inside the map: it still covers every pixel within R sigmas
            offs = torch.arange(2 * half + 1, device=mu.device,
                                dtype=mu.dtype)
            with torch.no_grad():
                start = (mu * mu.new_tensor([w, h])).round() - half
                start = torch.minimum(
                    start.clamp(min=0),
                    start.new_tensor([w - 2 * half - 1, h - 2 * half - 1]))
            px = start[..., 0, None] + offs  # (B, K, P)
            py = start[..., 1, None] + offs
        zx = (mu[..., 0, None] - px / w) / sigma[..., 0, None]
        zy = (mu[..., 1, None] - py / h) / sigma[..., 1, None]
        log_h = self._log_shape(zx, zy)  # (B, K, Py, Px)
        # peak normalisation; values below exp(-40) of the peak are clamped
        # there: exp() would otherwise produce denormal floats, which are
        # ~10x slower to compute with (in exp and in every backward
        # product) on CPUs
        values = (log_h - log_h.flatten(2).amax(-1)[..., None, None]).clamp(
            min=-40).exp()
        if half is None:
            return values, None
        index = (py[..., :, None] * w + px[..., None, :]).long().flatten(2)
        return values, index

    def dlm_loss(self, mu: Tensor, sigma: Tensor, target: Tensor,
                 target_weights: Tensor) -> Tensor:
        """L_dlm = loss(H_dlm, target, target_weights) (without lambda).

        With ``render_window`` and MMPose's ``KeypointMSELoss`` (no spatial
        mask) the MSE is computed from the window alone, exactly:
        ``sum_map (H - T)^2 = sum_win (H - T)^2 + sum_map T^2 -
        sum_win T^2`` (H is 0 outside the window), so the full H_dlm is
        never built; otherwise H_dlm is rendered and passed to the loss.

        Args:
            mu, sigma (Tensor): (B, K, 2).
            target (Tensor): (B, K, H, W).
            target_weights (Tensor): (B, K).

        Returns:
            Tensor: scalar loss.
        """
        lm = self.loss_module
        if type(lm).__name__ != 'KeypointMSELoss' or not self.render_window:
            return lm(self.render(mu, sigma, target.shape[-2:]), target,
                      target_weights)
        values, index = self._render_patch(mu, sigma, target.shape[-2:])
        if index is None:
            return lm(values, target, target_weights)
        flat = target.flatten(2)
        t_win = flat.gather(2, index)
        diff = values.flatten(2) - t_win

        def sq(x):  # (B, K, N) -> (B, K): sum of squares as a batched dot
            return (x.unsqueeze(-2) @ x.unsqueeze(-1))[..., 0, 0]

        per_map = sq(diff) + sq(flat) - sq(t_win)
        weights = target_weights.to(per_map.dtype)
        if lm.skip_empty_channel:
            weights = weights * (flat != 0).any(-1).to(per_map.dtype)
        return (per_map * weights).sum() / target.numel() * lm.loss_weight

    def _log_shape(self, zx: Tensor, zy: Tensor) -> Tensor:
        """Unnormalised log H_dlm on the tensor-product grid of zx (B, K, W)
        and zy (B, K, H) -> (B, K, H, W): separable closed-form part
        (``log N`` or the closed-form shape, plus ``log Q``) broadcast over
        the grid, plus the flow's residual ``log G - log N`` in the flow
        modes."""
        b, k, w = zx.shape
        h = zy.shape[-1]
        mode = self.render_mode
        if mode == 'laplace':
            ax, ay = -zx.abs(), -zy.abs()
        else:
            ax, ay = -0.5 * zx.square(), -0.5 * zy.square()
            if mode != 'gaussian' and self.q_distribution == 'gaussian':
                ax, ay = 2 * ax, 2 * ay
            elif mode != 'gaussian' and self.q_distribution == 'laplace':
                ax, ay = ax - zx.abs(), ay - zy.abs()
        if mode == 'lattice':
            # Lattice lookup, separably, as ONE batched matmul for all
            # B*K*H*W points: with interpolation weights Wy (H, n) and
            # Wx (W, n) of the lattice R (n, n),
            #   log_h = [Wy R, ay, 1] @ [Wx, 1, ax]^T
            # (border-clamped); the separable terms ride along as two
            # extra columns.
            resid = self._lattice_residual(zx.dtype, zx.device)[0, 0]
            n = self.lattice_size
            rows = (self._hat_weights(zy).reshape(-1, n) @ resid).view(
                b, k, h, n)
            left = torch.cat([rows, ay[..., None], torch.ones_like(
                ay)[..., None]], -1)
            right = torch.cat([self._hat_weights(zx), torch.ones_like(
                ax)[..., None], ax[..., None]], -1)
            return left @ right.transpose(-1, -2)
        log_h = ay[..., :, None] + ax[..., None, :]
        if mode == 'exact':
            z = torch.stack([
                zx[..., None, :].expand(b, k, h, w),
                zy[..., :, None].expand(b, k, h, w)
            ], -1)
            log_h = log_h + (
                self.flow_log_prob(z, 'exact') - _log_std_normal(z))
        return log_h

    def _hat_weights(self, z: Tensor) -> Tensor:
        """Interpolation weights of the lattice nodes for coordinates z
        (..., L) -> (..., L, n): Catmull-Rom cubic (4 non-zeros per row,
        ``lattice_interp='cubic'``) or linear (2 non-zeros). z outside
        [-R, R] is clamped to the border (zero gradient there); the cubic
        stencil replicates the border nodes."""
        n, r = self.lattice_size, self.lattice_range
        u = ((z / r + 1) * (n - 1) / 2).clamp(0, n - 1)
        i0 = u.detach().floor().clamp(max=n - 2)
        t = (u - i0)[..., None]
        i0 = i0.long()[..., None]
        weights = z.new_zeros(*z.shape, n)
        if self.lattice_interp == 'linear':
            weights.scatter_(-1, i0, 1 - t)
            weights.scatter_(-1, i0 + 1, t)
            return weights
        t2, t3 = t * t, t * t * t
        stencil = torch.cat([
            (-t3 + 2 * t2 - t) / 2, (3 * t3 - 5 * t2 + 2) / 2,
            (-3 * t3 + 4 * t2 + t) / 2, (t3 - t2) / 2
        ], -1)
        index = (i0 + torch.arange(-1, 3, device=z.device)).clamp(0, n - 1)
        return weights.scatter_add_(-1, index, stencil)

    def rle_nll(self, mu: Tensor, sigma: Tensor, target: Tensor,
                target_weight: Tensor) -> Tensor:
        """RLE negative log-likelihood, MMPose ``RLELoss`` formula
        (``residual = q_distribution is not None``, ``size_average=True``).

        Args:
            mu (Tensor): (B, K, 2). sigma (Tensor): (B, K, 2), in (0, 1).
            target (Tensor): Normalised ground truth (B, K, 2).
            target_weight (Tensor): (B, K).

        Returns:
            Tensor: Scalar loss.
        """
        b, k = target.shape[:2]
        error = (mu - target) / (sigma + 1e-9)
        log_phi = self.flow.log_prob(error.reshape(-1, 2)).view(b, k, 1)
        loss = torch.log(sigma) - log_phi
        if self.q_distribution == 'laplace':
            loss = loss + torch.log(sigma * 2) + error.abs()
        elif self.q_distribution == 'gaussian':
            loss = loss + torch.log(sigma * math.sqrt(2 * math.pi)) + \
                0.5 * error**2
        loss = loss * target_weight[..., None]
        return loss.sum() / b

    # --------------------------------------------------------------- predict
    def _view_heatmaps(self, feats: Tuple, mode: str) -> Tensor:
        heatmaps = self.forward(feats)
        if mode == 'average':
            mu, sigma = self.regress(feats)
            heatmaps = 0.5 * (
                heatmaps + self.render(mu, sigma, heatmaps.shape[-2:]))
        return heatmaps

    def predict_heatmaps(self,
                         feats,
                         batch_data_samples: OptSampleList,
                         test_cfg: ConfigType = {}) -> Tensor:
        """Test-time heatmaps (flip-averaged like ``HeatmapHead``).

        Args:
            feats: ``(heatmaps, pooled)``, or ``[feats, feats_flipped]`` with
                ``test_cfg['flip_test']``.
            batch_data_samples (list): Data samples (``flip_indices`` in
                their metainfo for flip test).
            test_cfg (dict): ``flip_test``, ``flip_mode``, ``shift_heatmap``,
                ``predict_from`` (``'heatmap'`` or ``'average'``).

        Returns:
            Tensor: (B, K, H, W).
        """
        mode = test_cfg.get('predict_from', self.predict_from)
        self._check_predict_mode(mode, self.with_dlm)
        if mode == 'regression':
            raise ValueError("predict_heatmaps needs predict_from 'heatmap' "
                             "or 'average', got 'regression'")
        if test_cfg.get('flip_test', False):
            assert isinstance(feats, list) and len(feats) == 2
            flip_indices = batch_data_samples[0].metainfo['flip_indices']
            _feats, _feats_flip = feats
            heatmaps = self._view_heatmaps(_feats, mode)
            heatmaps_flip = flip_heatmaps(
                self._view_heatmaps(_feats_flip, mode),
                flip_mode=test_cfg.get('flip_mode', 'heatmap'),
                flip_indices=flip_indices,
                shift_heatmap=test_cfg.get('shift_heatmap', False))
            return (heatmaps + heatmaps_flip) * 0.5
        return self._view_heatmaps(feats, mode)

    def predict_coordinates(self,
                            feats,
                            batch_data_samples: OptSampleList,
                            test_cfg: ConfigType = {}) -> Tensor:
        """Regressed (mu, sigma), flip-averaged like ``RLEHead``.

        Returns:
            Tensor: (B, K, 4): normalised x, y and sigma_x, sigma_y.
        """
        if not self.with_dlm:
            raise ValueError('predict_coordinates needs with_dlm=True')
        if test_cfg.get('flip_test', False):
            assert isinstance(feats, list) and len(feats) == 2
            flip_indices = batch_data_samples[0].metainfo['flip_indices']
            input_size = batch_data_samples[0].metainfo['input_size']
            _feats, _feats_flip = feats
            coords = torch.cat(self.regress(_feats), -1)
            coords_flip = flip_coordinates(
                torch.cat(self.regress(_feats_flip), -1),
                flip_indices=flip_indices,
                shift_coords=test_cfg.get('shift_coords', True),
                input_size=input_size)
            return (coords + coords_flip) * 0.5
        return torch.cat(self.regress(feats), -1)

    @staticmethod
    def _decode_with(decoder, batch_outputs: Tensor):
        preds = []
        for outputs in to_numpy(batch_outputs, unzip=True):
            keypoints, scores = decoder.decode(outputs)
            preds.append(
                InstanceData(keypoints=keypoints, keypoint_scores=scores))
        return preds

    def predict(self,
                feats,
                batch_data_samples: OptSampleList,
                test_cfg: ConfigType = {}) -> Predictions:
        """Predict keypoints.

        ``test_cfg['predict_from']`` (default :attr:`predict_from`) picks the
        source: ``'heatmap'`` decodes H_rfm with :attr:`decoder`,
        ``'average'`` decodes (H_rfm + H_dlm) / 2, ``'regression'`` decodes
        mu with :attr:`regression_decoder` (score = 1 - mean sigma, as
        ``RegressionLabel``). With ``output_heatmaps`` the heatmaps (for
        ``'regression'``: the rendered H_dlm) are returned too.

        Returns:
            list[InstanceData] | tuple: predictions with ``keypoints``
            (1, K, 2) and ``keypoint_scores`` (1, K) per sample, and
            ``PixelData(heatmaps=(K, H, W))`` per sample with
            ``output_heatmaps``.
        """
        mode = test_cfg.get('predict_from', self.predict_from)
        self._check_predict_mode(mode, self.with_dlm)
        if mode == 'regression':
            if self.regression_decoder is None:
                raise RuntimeError('regression_decoder is not set')
            coords = self.predict_coordinates(feats, batch_data_samples,
                                              test_cfg)
            preds = self._decode_with(self.regression_decoder,
                                      coords[:, None])
            if not test_cfg.get('output_heatmaps', False):
                return preds
            _feats = feats[0] if test_cfg.get('flip_test', False) else feats
            heatmaps = self.render(coords[..., :2], coords[..., 2:],
                                   self.forward(_feats).shape[-2:])
        else:
            heatmaps = self.predict_heatmaps(feats, batch_data_samples,
                                             test_cfg)
            preds = self.decode(heatmaps)
            if not test_cfg.get('output_heatmaps', False):
                return preds
        return preds, [PixelData(heatmaps=hm) for hm in heatmaps.detach()]

    # ------------------------------------------------------------------ loss
    def loss(self,
             feats: Tuple,
             batch_data_samples: OptSampleList,
             train_cfg: ConfigType = {}) -> dict:
        """Losses: ``loss_kpt`` (L_rfm, summed over stacks), ``loss_dlm``
        (lambda * L_dlm), ``loss_rle`` (optional) and ``acc_pose`` (heatmap
        PCK of the final H_rfm, logged only).

        Args:
            feats (tuple): ``(heatmaps, pooled)``.
            batch_data_samples (list): Data samples with ``gt_fields.heatmaps``
                and ``gt_instance_labels.keypoint_weights`` (and
                ``keypoint_labels`` for the RLE term).
            train_cfg (dict): ``compute_acc`` (default True).

        Returns:
            dict: losses and accuracy.
        """
        stack_heatmaps = feats[0]
        gt_heatmaps = torch.stack(
            [d.gt_fields.heatmaps for d in batch_data_samples])
        keypoint_weights = torch.cat([
            d.gt_instance_labels.keypoint_weights for d in batch_data_samples
        ])
        if keypoint_weights.dim() == 3:  # list-of-codecs form: (B, L, K)
            keypoint_weights = keypoint_weights[:, 0]

        losses = dict()
        losses['loss_kpt'] = sum(
            self.loss_module(h, gt_heatmaps, keypoint_weights)
            for h in stack_heatmaps)

        run_dlm = self.with_dlm and (self.lambda_dlm > 0
                                     or self.rle_weight > 0)
        if run_dlm:
            mu, sigma = self.regress(feats)
            if self.lambda_dlm > 0:
                target = gt_heatmaps if self.dlm_target == 'gt' \
                    else stack_heatmaps[-1]
                losses['loss_dlm'] = self.lambda_dlm * self.dlm_loss(
                    mu, sigma, target, keypoint_weights)
            if self.rle_weight > 0:
                if 'keypoint_labels' not in batch_data_samples[0].\
                        gt_instance_labels:
                    raise KeyError(
                        'rle_weight > 0 needs gt_instance_labels.'
                        'keypoint_labels: encode targets with '
                        "GenerateTarget(encoder=dict(type='Integral"
                        "RegressionLabel', ..., normalize=False))")
                labels = torch.cat([
                    d.gt_instance_labels.keypoint_labels
                    for d in batch_data_samples
                ])
                losses['loss_rle'] = self.rle_weight * self.rle_nll(
                    mu, sigma, labels, keypoint_weights)

        if train_cfg.get('compute_acc', True):
            _, avg_acc, _ = pose_pck_accuracy(
                output=to_numpy(stack_heatmaps[-1]),
                target=to_numpy(gt_heatmaps),
                mask=to_numpy(keypoint_weights) > 0)
            losses['acc_pose'] = torch.tensor(
                avg_acc, device=gt_heatmaps.device)
        return losses
