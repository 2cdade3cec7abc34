# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Distribution Learning Module (DLM) head of SADI-Net.

From the SFM's pooled vector the head regresses, per keypoint, a mean mu and
a scale sigma, and learns the residual distribution with a RealNVP flow,
exactly as RLE (Li et al., ICCV 2021; the paper's eq. 4 is RLE's likelihood,
computed by MMPose's ``RLELoss``). From that distribution a registered
renderer (``renderer=dict(type=...)``) draws a heatmap H_dlm of the size of
the backbone's H_rfm (eq. 5). The loss::

    L = sum_stacks MSE(H_rfm_s, H_gt)                     (L_rfm, eq. 6)
        + rle_weight * RLE-NLL(x_gt | mu, sigma, flow)    (eq. 4, RLELoss)
        + lambda_dlm * MSE(H_dlm(mu, sg(sigma)), H_gt)    (L_dlm, eq. 7)

The likelihood trains mu from any starting point and makes sigma the
residual's scale; L_dlm (sigma detached, ``sg``; mu's gradient from the
target overlap only) refines mu and shapes the flow. The heatmap MSE alone
would shrink sigma and push mu to an edge (docs/sadi_net.md, "DLM").

Inputs: ``feats`` is an :class:`SFMOutput` (``heatmaps``: per-stack H_rfm
(B, K, H, W), the last is final; ``pooled``: (B, C)) or, without a neck, the
backbone's :class:`HourglassOutput` (the last decoder feature is pooled).
``forward(feats)`` returns the final H_rfm, so ``mode='tensor'`` and MMPose's
flip test work unchanged.
"""
import math
from typing import Callable, Dict, Tuple

import torch
import torch.nn.functional as F
from mmengine.structures import InstanceData, PixelData
from mmpose.evaluation.functional import pose_pck_accuracy
from mmpose.models.heads.base_head import BaseHead
from mmpose.registry import KEYPOINT_CODECS, MODELS
from mmpose.utils.tensor_utils import to_numpy
from mmpose.utils.typing import (ConfigType, OptConfigType, OptSampleList,
                                 Predictions)
from torch import Tensor, nn

from ..necks.sfm import SFMOutput
from ..utils.checks import check_choice, check_non_negative, check_positive_int
from ..utils.flow_heatmap_renderer import blur_to_label
from ..utils.precision import full_precision, to_float32
from .interface import TopdownHeadInterface, flip_merge

PREDICT_MODES = ('heatmap', 'regression', 'average')
DLM_TARGETS = ('gt', 'rfm')


@MODELS.register_module()
class DLMHead(TopdownHeadInterface, BaseHead):
    """SADI-Net's Distribution Learning Module head.

    Args:
        num_keypoints (int): Number of keypoints K.
        in_channels (int): Length C of the pooled vector. Defaults to 2048.
        with_dlm (bool): Build the DLM (regression, flow, rendering); False
            only supervises H_rfm (the hourglass / RFM ablations). Defaults
            to True.
        lambda_dlm (float): Weight of L_dlm (the paper's value is lost). 0
            skips it. Defaults to 100.0 (100 x ``rle_weight``: with the
            SFM's ``backbone_grad_scale=1e-7`` the hourglass feels L_dlm
            x1e-5, ~5e-4 of L_rfm's pull).
        dlm_target (str): L_dlm's target: ``'gt'`` (H_gt) or ``'rfm'`` (the
            final H_rfm, a soft target). Defaults to ``'gt'``.
        rle_weight (float): Weight of the likelihood (``loss_rle``); 0 turns
            it off (an ablation: nothing then trains mu from afar or sigma).
            Defaults to 1.0 (RLE's own). The weights set how fast the DLM's
            own parameters (SFM, fc, flow) learn; how hard the DLM pulls on
            the shared hourglass is weight x the SFM's
            ``backbone_grad_scale`` (SADI-Net's configs: 1e-7, which puts
            the likelihood's gradient there at 0.4-2x L_rfm's at
            initialisation; ``tools/benchmark.py grad-balance``,
            docs/sadi_net.md, "Loss weights"). Without a neck nothing
            scales it: the hourglass then feels the weights as they are.
        loss (dict): Heatmap loss of L_rfm and L_dlm. Defaults to
            ``KeypointMSELoss(use_target_weight=True)``.
        loss_rle (dict): MMPose's ``RLELoss``, whose ``flow_model``
            (RealNVP) is the DLM's flow. Defaults to a Gaussian Q (the paper
            adds "a standard gaussian").
        renderer (dict): How H_dlm is drawn. Defaults to
            ``dict(type='FlowLatticeRenderer')``.
        init_sigma (float): Initial sigma, normalised (0.05: a blob about
            as wide as the sigma=2 labels of a 64-pixel heatmap). Defaults to
            0.05.
        predict_from (str): ``'heatmap'`` (decode H_rfm), ``'regression'``
            (decode mu, as ``RLEHead``) or ``'average'`` (decode the mean of
            H_rfm and the DLM's expected label heatmap,
            :func:`blur_to_label`, whose peak is the DLM's confidence);
            ``test_cfg['predict_from']`` overrides it. Defaults to
            ``'heatmap'``.
        decoder (dict, optional): Heatmap codec (``MSRAHeatmap``).
        regression_decoder (dict, optional): Decodes mu; defaults to
            ``RegressionLabel`` with the decoder's input size.
        init_cfg (dict, optional): Initialisation config.

    Training needs ``gt_fields.heatmaps`` (K, H, W) and
    ``gt_instance_labels.keypoint_weights`` and ``keypoint_labels``
    (``GenerateTarget(encoder=dict(type='IntegralRegressionLabel', ...,
    normalize=False))`` gives all).
    """

    def __init__(self,
                 num_keypoints: int,
                 in_channels: int = 2048,
                 with_dlm: bool = True,
                 lambda_dlm: float = 100.0,
                 dlm_target: str = 'gt',
                 rle_weight: float = 1.0,
                 loss: ConfigType = dict(
                     type='KeypointMSELoss', use_target_weight=True),
                 loss_rle: ConfigType = dict(
                     type='RLELoss',
                     use_target_weight=True,
                     q_distribution='gaussian'),
                 renderer: ConfigType = dict(type='FlowLatticeRenderer'),
                 init_sigma: float = 0.05,
                 predict_from: str = 'heatmap',
                 decoder: OptConfigType = None,
                 regression_decoder: OptConfigType = None,
                 init_cfg: OptConfigType = None):
        super().__init__(init_cfg)
        check_positive_int('num_keypoints', num_keypoints)
        if with_dlm:
            check_positive_int('in_channels', in_channels)
        check_non_negative('lambda_dlm', lambda_dlm)
        check_non_negative('rle_weight', rle_weight)
        check_choice('dlm_target', dlm_target, DLM_TARGETS)
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
            q = self.loss_rle.q_distribution if self.loss_rle.residual \
                else None
            self.renderer = MODELS.build(dict(renderer, q_distribution=q))

    @property
    def flow(self) -> nn.Module:
        """The RealNVP flow (owned by the RLE loss, as in MMPose)."""
        return self.loss_rle.flow_model

    def init_weights(self):
        """fc weights N(0, 0.01) (as ``RLEHead``); biases put mu at the crop
        centre and sigma at ``init_sigma``; the flow keeps RealNVP's init
        (Xavier, gain 0.01: close to the identity)."""
        super().init_weights()
        if self.with_dlm:
            nn.init.normal_(self.fc.weight, std=0.01)
            bias = self.fc.bias.data.view(self.num_keypoints, 4)
            bias[:, :2] = 0.5
            bias[:, 2:] = math.log(self.init_sigma / (1 - self.init_sigma))

    @staticmethod
    def _check_predict_mode(mode: str, with_dlm: bool) -> None:
        check_choice('predict_from', mode, PREDICT_MODES)
        if mode != 'heatmap' and not with_dlm:
            raise ValueError(
                f'predict_from={mode!r} needs the DLM (with_dlm=True)')

    def _mode(self, test_cfg: ConfigType) -> str:
        mode = test_cfg.get('predict_from', self.predict_from)
        self._check_predict_mode(mode, self.with_dlm)
        return mode

    # ---------------------------------------------------- head interface
    def prediction_source(self, test_cfg: ConfigType = {}) -> str:
        return 'coordinate' if self._mode(test_cfg) == 'regression' \
            else 'heatmap'

    def coordinate_decoder(self, test_cfg: ConfigType = {}):
        return self.regression_decoder \
            if self._mode(test_cfg) == 'regression' else self.decoder

    def forward_is_prediction(self, test_cfg: ConfigType = {}) -> bool:
        return self._mode(test_cfg) == 'heatmap'

    def uses_neck_output(self, test_cfg: ConfigType = {}) -> bool:
        return self.with_dlm and self._mode(test_cfg) != 'heatmap'

    def extra_maps(self,
                   feats,
                   test_cfg: ConfigType = {}) -> Dict[str, Tensor]:
        """``h_rfm`` (B, S, K, H, W) of every stack and, with the DLM,
        ``h_dlm`` (B, K, H, W) rendered at the regressed mu and sigma."""
        out = dict(h_rfm=torch.stack(list(feats.heatmaps), 1))
        if self.with_dlm:
            mu, sigma = self.regress(feats)
            out['h_dlm'] = self.render(mu, sigma,
                                       feats.heatmaps[-1].shape[-2:])
        return out

    # --------------------------------------------------------------- model
    def forward(self, feats) -> Tensor:
        """The final stack's H_rfm, (B, K, H, W); float32 under autocast
        (decoding and the losses need it)."""
        return to_float32(feats.heatmaps[-1])[0]

    def _regress_raw(self, feats) -> Tuple[Tensor, Tensor]:
        if isinstance(feats, SFMOutput):
            x = feats.pooled
        else:  # no neck: pool the backbone's last decoder feature
            x = F.adaptive_avg_pool2d(feats.features[-1], 1).flatten(1)
        # float32 under autocast: bfloat16 would resolve mu to ~1/256 of
        # the input size, and the flow after it needs float32 anyway
        with full_precision(x):
            out = self.fc(to_float32(x)[0])
        out = out.view(x.shape[0], self.num_keypoints, 4)
        return out[..., :2], out[..., 2:]

    def regress(self, feats) -> Tuple[Tensor, Tensor]:
        """``(mu, sigma)``, both (B, K, 2), normalised by the input size
        (x / w, y / h); sigma in (0, 1)."""
        mu, raw = self._regress_raw(feats)
        return mu, raw.sigmoid()

    def render(self, mu: Tensor, sigma: Tensor,
               heatmap_size: Tuple[int, int]) -> Tensor:
        """H_dlm (B, K, H, W), peak-normalised to 1, from mu and sigma
        (B, K, 2), with this head's flow and Q."""
        with full_precision(mu):  # the flow and exp(log density)
            return self.renderer(self.flow, *to_float32(mu, sigma),
                                 heatmap_size)

    def expected_target_heatmaps(self, mu: Tensor, sigma: Tensor,
                                 heatmap_size: Tuple[int, int]) -> Tensor:
        """The heatmap the DLM expects the label to have (B, K, H, W):
        H_dlm blurred by the decoder's label Gaussian (:func:`blur_to_label`).
        """
        return blur_to_label(
            self.render(mu, sigma, heatmap_size),
            float(getattr(self.decoder, 'sigma', 2.0)))

    # -------------------------------------------------------------- losses
    def dlm_loss(self, mu: Tensor, sigma: Tensor, target: Tensor,
                 target_weights: Tensor) -> Tensor:
        """L_dlm without lambda: ``loss(H_dlm, target, target_weights)``,
        mu, sigma (B, K, 2), target (B, K, H, W), weights (B, K); see
        ``renderer.heatmap_loss``."""
        with full_precision(mu):
            return self.renderer.heatmap_loss(
                self.flow, *to_float32(mu, sigma, target, target_weights),
                self.loss_module)

    def loss(self,
             feats,
             batch_data_samples: OptSampleList,
             train_cfg: ConfigType = {}) -> dict:
        """``loss_kpt`` (L_rfm, the sum over stacks), ``loss_rle``,
        ``loss_dlm`` and ``acc_pose`` (heatmap PCK of the final H_rfm)."""
        stack_heatmaps = feats.heatmaps
        gt_heatmaps = torch.stack(
            [d.gt_fields.heatmaps for d in batch_data_samples])
        weights = torch.cat([
            d.gt_instance_labels.keypoint_weights for d in batch_data_samples
        ])
        if weights.dim() == 3:  # list-of-codecs form: (B, L, K)
            weights = weights[:, 0]

        losses = dict(
            loss_kpt=sum(
                self.loss_module(*to_float32(h, gt_heatmaps, weights))
                for h in stack_heatmaps))
        if self.with_dlm and (self.lambda_dlm > 0 or self.rle_weight > 0):
            mu, raw_sigma = self._regress_raw(feats)
            if self.rle_weight > 0:
                if 'keypoint_labels' not in \
                        batch_data_samples[0].gt_instance_labels:
                    raise KeyError(
                        'DLMHead with rle_weight > 0 needs gt_instance_labels'
                        '.keypoint_labels: encode targets with GenerateTarget'
                        "(encoder=dict(type='IntegralRegressionLabel', ..., "
                        'normalize=False))')
                labels = torch.cat([
                    d.gt_instance_labels.keypoint_labels
                    for d in batch_data_samples
                ])
                # the flow's log-determinant and the likelihood: float32
                with full_precision(mu):
                    losses['loss_rle'] = self.rle_weight * self.loss_rle(
                        *to_float32(mu, raw_sigma, labels, weights.unsqueeze(
                            -1)))
            if self.lambda_dlm > 0:
                target = gt_heatmaps if self.dlm_target == 'gt' \
                    else stack_heatmaps[-1]
                losses['loss_dlm'] = self.lambda_dlm * self.dlm_loss(
                    mu,
                    raw_sigma.detach().sigmoid(), target, weights)

        if train_cfg.get('compute_acc', True):
            _, avg_acc, _ = pose_pck_accuracy(
                output=to_numpy(to_float32(stack_heatmaps[-1])[0]),
                target=to_numpy(gt_heatmaps),
                mask=to_numpy(weights) > 0)
            losses['acc_pose'] = torch.tensor(
                avg_acc, device=gt_heatmaps.device)
        return losses

    # ------------------------------------------------------------- predict
    def _heatmap_view(self, mode: str) -> Callable:
        if mode == 'heatmap':
            return self.forward

        def average(feats):
            h_rfm = self.forward(feats)
            mu, sigma = self.regress(feats)
            return 0.5 * (
                h_rfm +
                self.expected_target_heatmaps(mu, sigma, h_rfm.shape[-2:]))

        return average

    def predict_heatmaps(self,
                         feats,
                         batch_data_samples: OptSampleList,
                         test_cfg: ConfigType = {}) -> Tensor:
        """Heatmaps (B, K, H, W) of ``predict_from`` ``'heatmap'`` or
        ``'average'``, flip-merged as ``HeatmapHead`` merges them."""
        mode = self._mode(test_cfg)
        if mode == 'regression':
            raise ValueError("predict_heatmaps needs predict_from 'heatmap' "
                             "or 'average', got 'regression'")
        return flip_merge(
            self._heatmap_view(mode), feats, batch_data_samples, test_cfg)

    def predict_coordinates(self,
                            feats,
                            batch_data_samples: OptSampleList,
                            test_cfg: ConfigType = {}) -> Tensor:
        """mu and sigma flip-merged as ``RLEHead`` merges them: (B, K, 4),
        normalised x, y and sigma_x, sigma_y."""
        if not self.with_dlm:
            raise ValueError('predict_coordinates needs with_dlm=True')
        return flip_merge(
            lambda f: torch.cat(self.regress(f), -1),
            feats,
            batch_data_samples,
            test_cfg,
            coords=True)

    def predict(self,
                feats,
                batch_data_samples: OptSampleList,
                test_cfg: ConfigType = {}) -> Predictions:
        """Keypoints (1, K, 2) and scores (1, K) per sample: ``'heatmap'``
        and ``'average'`` decode their heatmaps with :attr:`decoder`,
        ``'regression'`` decodes mu with :attr:`regression_decoder` (score 1
        - mean sigma, as RLE). With ``output_heatmaps`` also
        ``PixelData(heatmaps=(K, H, W))`` per sample (for ``'regression'``:
        H_dlm rendered at the merged mu)."""
        if self._mode(test_cfg) == 'regression':
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
