# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Spatial Fusion Module (SFM), the neck of SADI-Net.

Three parts (paper section III-C, Fig. 5):

1. **Global attention.** Each scale F_i (C_i channels) is brought to
   ``fuse_channels`` by a 1x1 conv and upsampled to the highest resolution
   (U_i); a 3x3 conv per scale projects U_i to one channel (A_i); a softmax
   across the scales gives per-pixel weights W_i (sum_i W_i = 1, eqs. 2-3);
   the fused map is sum_i W_i * U_i. It is resized back to every scale
   (adaptive average pooling) and a 1x1 conv-BN-ReLU gives C_i channels
   again (G_i). The output of scale i is ``F_i + G_i`` (``global_residual``,
   the default) or ``G_i``.
2. **Classification head** (HRNet's, Sun et al. 2019): a bottleneck per
   scale raises the channels to ``head_channels`` (128/256/512/1024); a
   stride-2 conv3x3-BN-ReLU folds each scale into the next lower one; a 1x1
   conv gives ``out_channels`` (2048) and global average pooling the vector.
3. **Local attention** at each fold: ``S = down(high) + low``, a softmax of
   S along its columns (over H, for every channel and column: ``'h'``) gives
   a weighting map that multiplies S. ``local_rescale`` multiplies the
   weights by the length of the softmax axis so their mean is 1 and the
   feature magnitude is kept (a plain softmax would shrink the features by
   that length at every fold).

Input/output contract (see :class:`RFMHourglassNet`)::

    neck(HourglassOutput(heatmaps, features)) -> SFMOutput(heatmaps, pooled)
        heatmaps: passed through unchanged (tuple of (B, K, H, W))
        pooled:   (B, out_channels)
"""
from typing import NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmpose.models.backbones.resnet import Bottleneck
from mmpose.registry import MODELS
from torch import Tensor, nn

from ..backbones.rfm_hourglass import HourglassOutput
from ..utils.checks import check_choice, check_non_negative, check_positive_int
from ..utils.grad_scale import scale_grad


class SFMOutput(NamedTuple):
    """What :class:`SpatialFusionModule` returns: the backbone's per-stack
    heatmaps (B, K, H, W), unchanged, and the pooled vector (B, C)."""
    heatmaps: Tuple[Tensor, ...]
    pooled: Tensor


SOFTMAX_DIMS = {'h': 2, 'w': 3, 'hw': (2, 3), 'c': 1}


@MODELS.register_module()
class SpatialFusionModule(BaseModule):
    """SADI-Net's Spatial Fusion Module (global + local attention + HRNet
    classification head -> pooled vector).

    Args:
        in_channels (Sequence[int]): Channels C_i of the input scales, highest
            resolution first. Defaults to ``(64, 128, 256, 512)``.
        fuse_channels (int): Channels of the global-attention fusion.
            Defaults to 256.
        head_channels (Sequence[int]): Channels of the classification head at
            each scale. Defaults to ``(128, 256, 512, 1024)``.
        out_channels (int): Length of the pooled vector. Defaults to 2048.
        with_global_attn (bool): Use the global attention (ablation switch).
            Defaults to True.
        global_residual (bool): Output ``F_i + G_i`` instead of ``G_i``.
            Defaults to True.
        with_local_attn (bool): Use the local attention at each fold.
            Defaults to True.
        local_softmax_dim (str): Axis of the local softmax: ``'h'`` (along
            the columns, the paper's wording), ``'w'``, ``'hw'`` (spatial) or
            ``'c'`` (channels). Defaults to ``'h'``.
        local_rescale (bool): Scale the local weights to mean 1.
            Defaults to True.
        backbone_grad_scale (float): Factor on the gradient the SFM passes
            back into the backbone's decoder features (identity in the
            forward pass; the heatmaps passed through are untouched). It
            decouples how fast the DLM learns (its loss weights, which train
            the SFM, fc and flow) from how hard the DLM pulls on the shared
            hourglass (weight x this scale). 1 leaves the gradient alone, 0
            detaches the features (the DLM then never changes the
            hourglass). Defaults to 1.0; SADI-Net's configs set it
            (docs/sadi_net.md, "Loss weights").
        conv_cfg (dict, optional): Conv layer config. Defaults to None.
        norm_cfg (dict): Norm layer config. Defaults to ``dict(type='BN')``.
        init_cfg (dict, optional): Initialisation config. Defaults to
            Kaiming for convs and constant 1 for norms.
    """

    def __init__(self,
                 in_channels: Sequence[int] = (64, 128, 256, 512),
                 fuse_channels: int = 256,
                 head_channels: Sequence[int] = (128, 256, 512, 1024),
                 out_channels: int = 2048,
                 with_global_attn: bool = True,
                 global_residual: bool = True,
                 with_local_attn: bool = True,
                 local_softmax_dim: str = 'h',
                 local_rescale: bool = True,
                 backbone_grad_scale: float = 1.0,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 init_cfg=[
                     dict(type='Kaiming', layer='Conv2d'),
                     dict(
                         type='Constant',
                         val=1,
                         layer=['_BatchNorm', 'GroupNorm'])
                 ]):
        super().__init__(init_cfg=init_cfg)
        in_channels = tuple(in_channels)
        head_channels = tuple(head_channels)
        if len(in_channels) < 1:
            raise ValueError('in_channels must list at least one scale')
        for c in in_channels:
            check_positive_int('in_channels entry', c)
        if len(head_channels) != len(in_channels):
            raise ValueError(
                f'head_channels needs one entry per input scale '
                f'({len(in_channels)}, from in_channels={in_channels}), got '
                f'{head_channels}')
        for c in head_channels:
            check_positive_int('head_channels entry', c)
        check_positive_int('fuse_channels', fuse_channels)
        check_positive_int('out_channels', out_channels)
        check_choice('local_softmax_dim', local_softmax_dim, SOFTMAX_DIMS)
        check_non_negative('backbone_grad_scale', backbone_grad_scale)
        self.backbone_grad_scale = float(backbone_grad_scale)
        self.in_channels = in_channels
        self.num_scales = len(in_channels)
        self.with_global_attn = with_global_attn
        self.global_residual = global_residual
        self.with_local_attn = with_local_attn
        self.local_softmax_dim = local_softmax_dim
        self.local_rescale = local_rescale
        kw = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg)

        if with_global_attn:
            self.laterals = nn.ModuleList(
                [ConvModule(c, fuse_channels, 1, **kw) for c in in_channels])
            self.score_convs = nn.ModuleList([
                nn.Conv2d(fuse_channels, 1, 3, padding=1) for _ in in_channels
            ])
            self.redistribute = nn.ModuleList(
                [ConvModule(fuse_channels, c, 1, **kw) for c in in_channels])

        self.incre_modules = nn.ModuleList()
        for c, h in zip(in_channels, head_channels):
            downsample = None if c == h else ConvModule(
                c, h, 1, act_cfg=None, **kw)
            self.incre_modules.append(
                Bottleneck(c, h, expansion=4, downsample=downsample, **kw))
        self.downsample_modules = nn.ModuleList([
            ConvModule(
                head_channels[i],
                head_channels[i + 1],
                3,
                stride=2,
                padding=1,
                **kw) for i in range(self.num_scales - 1)
        ])
        self.final_layer = ConvModule(head_channels[-1], out_channels, 1, **kw)

    def _check_inputs(self, feats: Sequence[Tensor]) -> None:
        if len(feats) != self.num_scales:
            raise ValueError(
                f'SpatialFusionModule got {len(feats)} scales, in_channels '
                f'has {self.num_scales}')
        got = tuple(f.shape[1] for f in feats)
        if got != self.in_channels:
            raise ValueError(f'in_channels={self.in_channels} does not match '
                             f'the channels of the input scales {got}')

    def global_attention(self,
                         feats: Sequence[Tensor]) -> Tuple[Tensor, Tensor]:
        """Global attention fusion at the highest resolution.

        Args:
            feats (Sequence[Tensor]): Scales F_i (B, C_i, H_i, W_i), highest
                resolution first.

        Returns:
            tuple: ``(fused, weights)``: fused (B, fuse_channels, H_0, W_0)
            and the softmax weights (B, num_scales, H_0, W_0), which sum to 1
            over the scale axis.
        """
        size = feats[0].shape[-2:]
        ups = []
        for i, f in enumerate(feats):
            u = self.laterals[i](f)
            if u.shape[-2:] != size:
                u = F.interpolate(
                    u, size=size, mode='bilinear', align_corners=False)
            ups.append(u)
        scores = torch.cat([conv(u) for conv, u in zip(self.score_convs, ups)],
                           dim=1)
        weights = scores.softmax(dim=1)
        fused = sum(weights[:, i:i + 1] * u for i, u in enumerate(ups))
        return fused, weights

    def local_attention(self, x: Tensor) -> Tensor:
        """Weight ``x`` (B, C, H, W) by a softmax of itself along
        ``local_softmax_dim``; same shape out."""
        dim = SOFTMAX_DIMS[self.local_softmax_dim]
        if isinstance(dim, tuple):
            b, c, h, w = x.shape
            weights = x.flatten(2).softmax(-1).view(b, c, h, w)
            n = h * w
        else:
            weights = x.softmax(dim)
            n = x.shape[dim]
        if self.local_rescale:
            weights = weights * n
        return x * weights

    def forward(self, inputs: HourglassOutput) -> SFMOutput:
        """Forward.

        Args:
            inputs (HourglassOutput): ``(heatmaps, features)`` from the
                backbone.

        Returns:
            SFMOutput: ``heatmaps`` unchanged and the ``pooled`` vector
            (B, out_channels).
        """
        heatmaps, feats = inputs
        self._check_inputs(feats)
        # only the DLM's path back into the hourglass is scaled; H_rfm's
        # own loss never passes through here
        feats = [scale_grad(f, self.backbone_grad_scale) for f in feats]
        if self.with_global_attn:
            fused, _ = self.global_attention(feats)
            outs = []
            for i, f in enumerate(feats):
                g = fused
                if g.shape[-2:] != f.shape[-2:]:
                    g = F.adaptive_avg_pool2d(g, f.shape[-2:])
                g = self.redistribute[i](g)
                outs.append(f + g if self.global_residual else g)
            feats = outs

        y = self.incre_modules[0](feats[0])
        for i in range(1, self.num_scales):
            y = self.incre_modules[i](feats[i]) + \
                self.downsample_modules[i - 1](y)
            if self.with_local_attn:
                y = self.local_attention(y)
        y = self.final_layer(y)
        pooled = F.adaptive_avg_pool2d(y, 1).flatten(1)
        return SFMOutput(heatmaps, pooled)
