# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Distribution Learning Module (DLM) head of SADI-Net.

From the SFM's pooled vector the head regresses, per keypoint, a mean mu and
a scale sigma, and learns the residual distribution with a RealNVP flow,
exactly as RLE (Li et al., ICCV 2021): the SADI-Net paper's eqs. 4-5 are
RLE's likelihood, and where the paper is vague this follows RLE's code
(MMPose's port, ``RLELoss``). From that distribution it renders a learnable
heatmap H_dlm of the size of the backbone's heatmaps H_rfm (eq. 5: "shift
and rescale the distribution"). The loss (eqs. 6-8 plus eq. 4)::

    L = sum_stacks MSE(H_rfm_s, H_gt)                     (L_rfm, eq. 6)
        + rle_weight * RLE-NLL(x_gt | mu, sigma, flow)    (eq. 4, RLELoss)
        + lambda_dlm * MSE(H_dlm(mu, sg(sigma)), H_gt)    (L_dlm, eq. 7)

Why each term:

* The RLE likelihood trains mu and sigma from ANY starting point: its
  gradient pulls mu toward the truth wherever it is, and it makes sigma
  the scale of the residual (the model's uncertainty). Without it, the
  heatmap MSE alone gives mu a gradient only where the rendered and the
  target blobs overlap, and minimising it shrinks sigma and pushes mu
  toward an edge (measured: 49 -> 1378 px on real MPII crops;
  tests/test_models/test_heads/test_dlm_head.py trains mu from a 15-pixel
  offset).
* L_dlm renders H_dlm with sigma DETACHED (``sg``): it trains mu and the
  flow's shape against the target heatmap, but not sigma, which keeps ONE
  meaning, the likelihood's, in every renderer (an MSE on the rendered
  width would pin sigma to the label's 2-pixel blob while the likelihood
  wants the error scale: the two pulled sigma apart).
* H_dlm is drawn by a registered renderer (``renderer=dict(type=...)``,
  :mod:`mmpose_ext.models.utils.flow_heatmap_renderer`) from the same
  ``Q(z) G(z)`` the likelihood scores; Q is the RLE loss's
  ``q_distribution``.

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
from typing import Callable, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.structures import InstanceData, PixelData
from mmpose.evaluation.functional import pose_pck_accuracy
from mmpose.models.heads.base_head import BaseHead
from mmpose.models.utils.tta import flip_coordinates, flip_heatmaps
from mmpose.registry import KEYPOINT_CODECS, MODELS
from mmpose.utils.tensor_utils import to_numpy
from mmpose.utils.typing import (ConfigType, OptConfigType, OptSampleList,
                                 Predictions)
from torch import Tensor, nn

PREDICT_MODES = ('heatmap', 'regression', 'average')
DLM_TARGETS = ('gt', 'rfm')


@MODELS.register_module()
class DLMHead(BaseHead):
    """SADI-Net's Distribution Learning Module head.

    Args:
        num_keypoints (int): Number of keypoints K.
        in_channels (int): Length C of the pooled vector. Defaults to 2048.
        with_dlm (bool): Build the DLM (regression, flow, rendering). With
            ``False`` the head only supervises the backbone's H_rfm (the
            hourglass / RFM-only ablations). Defaults to True.
        lambda_dlm (float): Weight of L_dlm (eq. 8; the paper's value is
            lost). 0 skips it. Defaults to 1e-5 (see ``rle_weight``).
        dlm_target (str): Target of L_dlm: ``'gt'`` (H_gt) or ``'rfm'`` (the
            backbone's final H_rfm, as a soft target). Defaults to ``'gt'``.
        rle_weight (float): Weight of the RLE likelihood term (``loss_rle``).
            0 turns it off, and then nothing trains mu from afar or sigma at
            all (an ablation). Defaults to 1e-7. The DLM's own parameters
            (SFM, fc, flow) learn at Adam's pace whatever the scale; the
            weights decide how hard the DLM pulls on the hourglass it shares
            with H_rfm: at the defaults, at initialisation, the likelihood's
            gradient on the hourglass is about L_rfm's (1.4x at full size,
            0.3x at the learning benchmark's width) and L_dlm's 1e-3 of it,
            and lambda / rle_weight = 100 keeps the likelihood in charge of
            mu (docs/sadi_net.md, "Loss weights").
        loss (dict): Heatmap loss of L_rfm and L_dlm. Defaults to
            ``KeypointMSELoss(use_target_weight=True)``.
        loss_rle (dict): The likelihood: MMPose's ``RLELoss``, whose
            ``flow_model`` (RealNVP) is the DLM's flow and whose
            ``q_distribution`` is the renderer's Q. Defaults to
            ``RLELoss(use_target_weight=True, q_distribution='gaussian')``
            (the paper adds "a standard gaussian").
        renderer (dict): How H_dlm is drawn. Defaults to
            ``dict(type='FlowLatticeRenderer')``.
        init_sigma (float): Initial sigma, normalised (0.05 draws a blob
            about as wide as the sigma=2 targets of a 64-pixel heatmap).
            Defaults to 0.05.
        predict_from (str): ``'heatmap'`` (decode H_rfm), ``'regression'``
            (decode mu, as ``RLEHead``) or ``'average'`` (decode
            ``(H_rfm + E[H_gt | DLM]) / 2``, see
            :meth:`expected_target_heatmaps`); ``test_cfg['predict_from']``
            overrides it. Defaults to ``'heatmap'``.
        decoder (dict, optional): Heatmap codec (e.g. ``MSRAHeatmap``).
        regression_decoder (dict, optional): Codec that decodes mu;
            defaults to ``RegressionLabel`` with the decoder's input size.
        init_cfg (dict, optional): Initialisation config. Defaults to None.

    Training needs ``gt_fields.heatmaps`` (K, H, W),
    ``gt_instance_labels.keypoint_weights`` and ``keypoint_labels``
    (normalised coordinates; ``GenerateTarget(encoder=dict(
    type='IntegralRegressionLabel', ..., normalize=False))`` gives all).
    """

    def __init__(self,
                 num_keypoints: int,
                 in_channels: int = 2048,
                 with_dlm: bool = True,
                 lambda_dlm: float = 1e-5,
                 dlm_target: str = 'gt',
                 rle_weight: float = 1e-7,
                 loss: ConfigType = dict(
                     type='KeypointMSELoss', use_target_weight=True),
                 loss_rle: ConfigType = dict(
                     type='RLELoss', use_target_weight=True,
                     q_distribution='gaussian'),
                 renderer: ConfigType = dict(type='FlowLatticeRenderer'),
                 init_sigma: float = 0.05,
                 predict_from: str = 'heatmap',
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
        for name, value in (('lambda_dlm', lambda_dlm),
                            ('rle_weight', rle_weight)):
            if not value >= 0:
                raise ValueError(f'{name} must be >= 0, got {value!r}')
        if dlm_target not in DLM_TARGETS:
            raise ValueError(
                f'dlm_target must be one of {DLM_TARGETS}, got {dlm_target!r}')
        if not 0 < init_sigma < 1:
            raise ValueError(f'init_sigma must be in (0, 1), got {init_sigma}')
        self._check_predict_mode(predict_from, with_dlm)
        self.num_keypoints = num_keypoints
        self.in_channels = in_channels
        self.with_dlm = with_dlm
        self.lambda_dlm = float(lambda_dlm)
        self.dlm_target = dlm_target
        self.rle_weight = float(rle_weight)
        self.init_sigma = float(init_sigma)
        self.predict_from = predict_from

        self.loss_module = MODELS.build(loss)
        self.decoder = KEYPOINT_CODECS.build(decoder) \
            if decoder is not None else None
        if regression_decoder is None and self.decoder is not None:
            regression_decoder = dict(
                type='RegressionLabel',
                input_size=tuple(self.decoder.input_size))
        self.regression_decoder = KEYPOINT_CODECS.build(regression_decoder) \
            if regression_decoder is not None else None
        if with_dlm:
            self.fc = nn.Linear(in_channels, num_keypoints * 4)
            self.loss_rle = MODELS.build(loss_rle)
            self.renderer = MODELS.build(
                dict(renderer, q_distribution=self.loss_rle.q_distribution
                     if self.loss_rle.residual else None))

    @property
    def flow(self) -> nn.Module:
        """The RealNVP flow (owned by the RLE loss, as in MMPose)."""
        return self.loss_rle.flow_model

    def init_weights(self):
        """fc weights N(0, 0.01) (as ``RLEHead``); biases put mu at the crop
        centre (0.5) and sigma at ``init_sigma``; the flow keeps RealNVP's
        init (Xavier, gain 0.01: close to the identity)."""
        super().init_weights()
        if self.with_dlm:
            nn.init.normal_(self.fc.weight, std=0.01)
            bias = self.fc.bias.data.view(self.num_keypoints, 4)
            bias[:, :2] = 0.5
            bias[:, 2:] = math.log(self.init_sigma / (1 - self.init_sigma))

    @staticmethod
    def _check_predict_mode(mode: str, with_dlm: bool) -> None:
        if mode not in PREDICT_MODES:
            raise ValueError(
                f'predict_from must be one of {PREDICT_MODES}, got {mode!r}')
        if mode != 'heatmap' and not with_dlm:
            raise ValueError(
                f'predict_from={mode!r} needs the DLM (with_dlm=True)')

    def uses_neck_output(self, test_cfg: ConfigType = {}) -> bool:
        """Whether prediction with ``test_cfg`` reads the pooled vector (only
        ``predict_from='regression'``/``'average'`` do)."""
        mode = test_cfg.get('predict_from', self.predict_from)
        return self.with_dlm and mode != 'heatmap'

    # --------------------------------------------------------------- model
    def forward(self, feats: Tuple) -> Tensor:
        """The final stack's H_rfm, (B, K, H, W)."""
        return feats[0][-1]

    def _regress_raw(self, feats: Tuple) -> Tuple[Tensor, Tensor]:
        x = feats[1]
        if isinstance(x, (tuple, list)):
            x = x[-1]
        if x.dim() == 4:
            x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        out = self.fc(x).view(x.shape[0], self.num_keypoints, 4)
        return out[..., :2], out[..., 2:]

    def regress(self, feats: Tuple) -> Tuple[Tensor, Tensor]:
        """``(mu, sigma)``, both (B, K, 2), normalised by the input size
        (x / w, y / h); sigma in (0, 1)."""
        mu, raw = self._regress_raw(feats)
        return mu, raw.sigmoid()

    def render(self, mu: Tensor, sigma: Tensor,
               heatmap_size: Tuple[int, int]) -> Tensor:
        """H_dlm (B, K, H, W), peak-normalised to 1, from mu and sigma
        (B, K, 2), with this head's flow and Q."""
        return self.renderer(self.flow, mu, sigma, heatmap_size)

    def expected_target_heatmaps(self, mu: Tensor, sigma: Tensor,
                                 heatmap_size: Tuple[int, int]) -> Tensor:
        """The heatmap the DLM expects the label to have: its distribution
        (H_dlm normalised to unit mass over the grid) blurred by the label's
        Gaussian (the decoder's ``sigma``, peak 1), i.e. ``E_x[G(u - x)]``.

        Its peak is the DLM's confidence in the units of H_rfm: 1 for a
        certain prediction, about s_t / sqrt(s_t^2 + s^2) per axis for a
        spread s; a collapsed sigma gives the label's blob at mu, not a
        one-pixel spike. (B, K, H, W).
        """
        density = self.render(mu, sigma, heatmap_size)
        density = density / density.sum((2, 3), keepdim=True).clamp(
            min=1e-12)
        s = float(getattr(self.decoder, 'sigma', 2.0))
        r = int(math.ceil(3 * s))
        t = torch.arange(-r, r + 1, dtype=density.dtype,
                         device=density.device)
        g = torch.exp(-0.5 * (t / s)**2)
        b, k, h, w = density.shape
        x = density.reshape(b * k, 1, h, w)
        x = F.conv2d(x, g.view(1, 1, 1, -1), padding=(0, r))
        x = F.conv2d(x, g.view(1, 1, -1, 1), padding=(r, 0))
        return x.view(b, k, h, w)

    # -------------------------------------------------------------- losses
    def dlm_loss(self, mu: Tensor, sigma: Tensor, target: Tensor,
                 target_weights: Tensor) -> Tensor:
        """``loss(H_dlm, target, target_weights)`` without lambda.

        With MMPose's ``KeypointMSELoss`` (no spatial mask) the MSE is
        expanded as ``sum (H - T)^2 = sum H^2 - 2 sum H T + sum T^2`` and
        evaluated exactly from the window a windowed renderer draws (H is 0
        outside it), so the full H_dlm is never built; and the blob's
        energy ``sum H^2`` is rendered at a DETACHED mu. Its value is
        unchanged, but the energy falls when the blob leaves the map, which
        would push mu toward an edge; so mu's gradient comes from the
        overlap ``sum H T`` alone and only ever pulls mu toward the target.

        Args:
            mu, sigma (Tensor): (B, K, 2).
            target (Tensor): (B, K, H, W).
            target_weights (Tensor): (B, K).
        """
        lm = self.loss_module
        size = target.shape[-2:]
        if type(lm).__name__ != 'KeypointMSELoss':
            return lm(self.render(mu, sigma, size), target, target_weights)
        values, index = self.renderer.windowed(self.flow, mu, sigma, size)
        energy, _ = self.renderer.windowed(self.flow, mu.detach(), sigma,
                                           size)
        flat = target.flatten(2)
        t_win = flat if index is None else flat.gather(2, index)

        def dot(x, y):  # (B, K, N) x2 -> (B, K), as a batched matmul
            return (x.unsqueeze(-2) @ y.unsqueeze(-1))[..., 0, 0]

        values, energy = values.flatten(2), energy.flatten(2)
        per_map = dot(energy, energy) - 2 * dot(values, t_win) + dot(
            flat, flat)
        weights = target_weights.to(per_map.dtype)
        if lm.skip_empty_channel:
            weights = weights * (flat != 0).any(-1).to(per_map.dtype)
        return (per_map * weights).sum() / target.numel() * lm.loss_weight

    def loss(self,
             feats: Tuple,
             batch_data_samples: OptSampleList,
             train_cfg: ConfigType = {}) -> dict:
        """``loss_kpt`` (L_rfm, the sum over stacks), ``loss_rle``,
        ``loss_dlm`` and ``acc_pose`` (heatmap PCK of the final H_rfm)."""
        stack_heatmaps = feats[0]
        gt_heatmaps = torch.stack(
            [d.gt_fields.heatmaps for d in batch_data_samples])
        weights = torch.cat([
            d.gt_instance_labels.keypoint_weights for d in batch_data_samples
        ])
        if weights.dim() == 3:  # list-of-codecs form: (B, L, K)
            weights = weights[:, 0]

        losses = dict(loss_kpt=sum(
            self.loss_module(h, gt_heatmaps, weights) for h in stack_heatmaps))
        if self.with_dlm and (self.lambda_dlm > 0 or self.rle_weight > 0):
            mu, raw_sigma = self._regress_raw(feats)
            if self.rle_weight > 0:
                labels = batch_data_samples[0].gt_instance_labels
                if 'keypoint_labels' not in labels:
                    raise KeyError(
                        'DLMHead with rle_weight > 0 needs gt_instance_labels'
                        '.keypoint_labels: encode targets with GenerateTarget'
                        "(encoder=dict(type='IntegralRegressionLabel', ..., "
                        'normalize=False))')
                labels = torch.cat([
                    d.gt_instance_labels.keypoint_labels
                    for d in batch_data_samples
                ])
                losses['loss_rle'] = self.rle_weight * self.loss_rle(
                    mu, raw_sigma, labels, weights.unsqueeze(-1))
            if self.lambda_dlm > 0:
                target = gt_heatmaps if self.dlm_target == 'gt' \
                    else stack_heatmaps[-1]
                losses['loss_dlm'] = self.lambda_dlm * self.dlm_loss(
                    mu, raw_sigma.detach().sigmoid(), target, weights)

        if train_cfg.get('compute_acc', True):
            _, avg_acc, _ = pose_pck_accuracy(
                output=to_numpy(stack_heatmaps[-1]),
                target=to_numpy(gt_heatmaps),
                mask=to_numpy(weights) > 0)
            losses['acc_pose'] = torch.tensor(
                avg_acc, device=gt_heatmaps.device)
        return losses

    # ------------------------------------------------------------- predict
    @staticmethod
    def _flip_merge(view: Callable, feats, batch_data_samples,
                    test_cfg: ConfigType, coords: bool = False) -> Tensor:
        """``view(feats)``, or under ``flip_test`` the average of the views
        of ``feats = [orig, flipped]`` with the flipped one mirrored back
        by MMPose's own rules (``flip_heatmaps`` as ``HeatmapHead``,
        ``flip_coordinates`` as ``RLEHead``)."""
        if not test_cfg.get('flip_test', False):
            return view(feats)
        assert isinstance(feats, list) and len(feats) == 2
        meta = batch_data_samples[0].metainfo
        _feats, _feats_flip = feats
        if coords:
            flipped = flip_coordinates(
                view(_feats_flip).clone(),
                flip_indices=meta['flip_indices'],
                shift_coords=test_cfg.get('shift_coords', True),
                input_size=meta['input_size'])
        else:
            flipped = flip_heatmaps(
                view(_feats_flip),
                flip_mode=test_cfg.get('flip_mode', 'heatmap'),
                flip_indices=meta['flip_indices'],
                shift_heatmap=test_cfg.get('shift_heatmap', False))
        return (view(_feats) + flipped) * 0.5

    def _heatmap_view(self, mode: str) -> Callable:
        if mode == 'heatmap':
            return self.forward

        def average(feats):
            h_rfm = self.forward(feats)
            mu, sigma = self.regress(feats)
            return 0.5 * (h_rfm + self.expected_target_heatmaps(
                mu, sigma, h_rfm.shape[-2:]))

        return average

    def predict_heatmaps(self,
                         feats,
                         batch_data_samples: OptSampleList,
                         test_cfg: ConfigType = {}) -> Tensor:
        """Test-time heatmaps (B, K, H, W) of ``predict_from`` ``'heatmap'``
        or ``'average'``, flip-averaged like ``HeatmapHead``."""
        mode = test_cfg.get('predict_from', self.predict_from)
        self._check_predict_mode(mode, self.with_dlm)
        if mode == 'regression':
            raise ValueError("predict_heatmaps needs predict_from 'heatmap' "
                             "or 'average', got 'regression'")
        return self._flip_merge(
            self._heatmap_view(mode), feats, batch_data_samples, test_cfg)

    def predict_coordinates(self,
                            feats,
                            batch_data_samples: OptSampleList,
                            test_cfg: ConfigType = {}) -> Tensor:
        """Regressed mu and sigma, flip-averaged like ``RLEHead``: (B, K, 4),
        normalised x, y and sigma_x, sigma_y."""
        if not self.with_dlm:
            raise ValueError('predict_coordinates needs with_dlm=True')
        return self._flip_merge(lambda f: torch.cat(self.regress(f), -1),
                                feats, batch_data_samples, test_cfg,
                                coords=True)

    def predict(self,
                feats,
                batch_data_samples: OptSampleList,
                test_cfg: ConfigType = {}) -> Predictions:
        """Keypoints (1, K, 2) and scores (1, K) per sample from
        ``predict_from``: ``'heatmap'`` and ``'average'`` decode their
        heatmaps with :attr:`decoder`, ``'regression'`` decodes mu with
        :attr:`regression_decoder` (score 1 - mean sigma, as RLE). With
        ``output_heatmaps`` also ``PixelData(heatmaps=(K, H, W))`` per
        sample (for ``'regression'``: H_dlm rendered at the merged mu)."""
        mode = test_cfg.get('predict_from', self.predict_from)
        self._check_predict_mode(mode, self.with_dlm)
        if mode == 'regression':
            if self.regression_decoder is None:
                raise RuntimeError('regression_decoder is not set')
            coords = self.predict_coordinates(feats, batch_data_samples,
                                              test_cfg)
            preds = []
            for c in to_numpy(coords[:, None], unzip=True):
                keypoints, scores = self.regression_decoder.decode(c)
                preds.append(
                    InstanceData(keypoints=keypoints, keypoint_scores=scores))
            if not test_cfg.get('output_heatmaps', False):
                return preds
            one = feats[0] if test_cfg.get('flip_test', False) else feats
            heatmaps = self.render(coords[..., :2], coords[..., 2:],
                                   self.forward(one).shape[-2:])
        else:
            heatmaps = self.predict_heatmaps(feats, batch_data_samples,
                                             test_cfg)
            preds = self.decode(heatmaps)
            if not test_cfg.get('output_heatmaps', False):
                return preds
        return preds, [PixelData(heatmaps=hm) for hm in heatmaps.detach()]
