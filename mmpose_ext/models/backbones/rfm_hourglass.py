# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""RFM stacked hourglass: the SADI-Net backbone.

A Newell-style stacked hourglass (intermediate heatmap supervision per stack,
features and heatmaps re-injected into the next stack) whose residual units
are Receptive Fortified Modules (:class:`RFMBlock`). ``block='basic'`` builds
the same network from MMPose's ``BasicBlock`` (the paper's "Hourglass"
baseline of Table III).

Output contract (read by :class:`SpatialFusionModule` and :class:`DLMHead`)::

    backbone(x) -> HourglassOutput(heatmaps, features)
        heatmaps: tuple of num_stacks tensors (B, K, H/4, W/4)   # H_rfm
        features: tuple of num_out_scales tensors, the LAST stack's decoder
                  features; features[i] is (B, stage_channels[i],
                  H/2^(i+2), W/2^(i+2)), i.e. 1/4, 1/8, 1/16, 1/32 of the
                  input.
"""
from typing import List, NamedTuple, Optional, Sequence, Tuple

import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_conv_layer, build_norm_layer
from mmengine.model import BaseModule
from mmpose.models.backbones.base_backbone import BaseBackbone
from mmpose.models.backbones.resnet import BasicBlock
from mmpose.registry import MODELS
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..utils.checks import check_choice, check_positive_int
from .rfm_block import RFMBlock


class HourglassOutput(NamedTuple):
    """What :class:`RFMHourglassNet` returns (see the module docstring)."""
    heatmaps: Tuple[Tensor, ...]
    features: Tuple[Tensor, ...]


BLOCK_TYPES = ('rfm', 'basic')


def make_res_layer(
    block: str,
    num_blocks: int,
    in_channels: int,
    out_channels: int,
    stride: int = 1,
    block_cfg: Optional[dict] = None,
    conv_cfg: Optional[dict] = None,
    norm_cfg: dict = dict(type='BN')
) -> nn.Sequential:
    """A stack of ``num_blocks`` residual blocks; the first changes channels
    and applies the stride.

    Args:
        block (str): ``'rfm'`` (:class:`RFMBlock`) or ``'basic'`` (MMPose's
            ``BasicBlock``).
        num_blocks (int): Number of blocks (>= 1).
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        stride (int): Stride of the first block. Defaults to 1.
        block_cfg (dict, optional): Extra keyword arguments of
            :class:`RFMBlock` (``dilation``, ``se_ratio``, ...); ignored for
            ``'basic'``.
        conv_cfg (dict, optional): Conv layer config.
        norm_cfg (dict): Norm layer config.
    """
    check_choice('block', block, BLOCK_TYPES)
    check_positive_int('num_blocks (stage_blocks entry)', num_blocks)
    layers = []
    for i in range(num_blocks):
        cin = in_channels if i == 0 else out_channels
        s = stride if i == 0 else 1
        if block == 'rfm':
            layers.append(
                RFMBlock(
                    cin,
                    out_channels,
                    stride=s,
                    conv_cfg=conv_cfg,
                    norm_cfg=norm_cfg,
                    **(block_cfg or {})))
        else:
            downsample = None
            if s != 1 or cin != out_channels:
                downsample = nn.Sequential(
                    build_conv_layer(
                        conv_cfg, cin, out_channels, 1, stride=s, bias=False),
                    build_norm_layer(norm_cfg, out_channels)[1])
            layers.append(
                BasicBlock(
                    cin,
                    out_channels,
                    stride=s,
                    downsample=downsample,
                    conv_cfg=conv_cfg,
                    norm_cfg=norm_cfg))
    return nn.Sequential(*layers)


class RFMHourglassModule(BaseModule):
    """One recursive hourglass that returns its decoder features per scale.

    Args:
        depth (int): Number of down-samplings below this level (>= 1).
        stage_channels (Sequence[int]): Channels of this level and every level
            below it (length ``depth + 1``).
        stage_blocks (Sequence[int]): Blocks per residual layer at each level
            (length ``depth + 1``).
        block (str): ``'rfm'`` or ``'basic'``.
        block_cfg (dict, optional): Extra :class:`RFMBlock` arguments.
        conv_cfg (dict, optional): Conv layer config.
        norm_cfg (dict): Norm layer config.
        upsample_mode (str): ``F.interpolate`` mode of the decoder.
            Defaults to ``'nearest'`` (Newell et al.).

    Shapes:
        input (B, C_0, H, W) -> list of ``depth + 1`` tensors, entry i of
        shape (B, stage_channels[i], H/2^i, W/2^i) (rounded up): entry 0 is
        the merged output of this level, the last entry the bottleneck.
    """

    def __init__(self,
                 depth: int,
                 stage_channels: Sequence[int],
                 stage_blocks: Sequence[int],
                 block: str = 'rfm',
                 block_cfg: Optional[dict] = None,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 upsample_mode: str = 'nearest'):
        super().__init__()
        self.depth = depth
        self.upsample_mode = upsample_mode
        cur_c, next_c = stage_channels[0], stage_channels[1]
        cur_b, next_b = stage_blocks[0], stage_blocks[1]
        kw = dict(block_cfg=block_cfg, conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        self.up1 = make_res_layer(block, cur_b, cur_c, cur_c, **kw)
        self.low1 = make_res_layer(block, cur_b, cur_c, next_c, stride=2, **kw)
        if depth > 1:
            self.low2 = RFMHourglassModule(depth - 1, stage_channels[1:],
                                           stage_blocks[1:], block, block_cfg,
                                           conv_cfg, norm_cfg, upsample_mode)
        else:
            self.low2 = make_res_layer(block, next_b, next_c, next_c, **kw)
        self.low3 = make_res_layer(block, cur_b, next_c, cur_c, **kw)

    def forward(self, x: Tensor) -> List[Tensor]:
        up1 = self.up1(x)
        low = self.low2(self.low1(x))
        deeper = low if isinstance(low, list) else [low]
        low3 = self.low3(deeper[0])
        up2 = F.interpolate(low3, size=up1.shape[-2:], mode=self.upsample_mode)
        return [up1 + up2] + deeper


@MODELS.register_module()
class RFMHourglassNet(BaseBackbone):
    """Stacked hourglass built from Receptive Fortified Modules (SADI-Net).

    Stem (conv7x7/2, one block /2, one block) brings the input to 1/4
    resolution with ``stage_channels[0]`` channels. Each stack is an
    :class:`RFMHourglassModule`, one residual layer and a conv1x1-BN-ReLU
    (features) and a conv1x1 to ``num_keypoints`` heatmaps (H_rfm, supervised
    at every stack). Between stacks the features and the heatmaps are mapped
    back by 1x1 convs and added to the stack's input (Newell et al.).

    Args:
        num_keypoints (int): Number of heatmap channels K.
        num_stacks (int): Number of hourglasses (>= 1). Defaults to 2.
        downsample_times (int): Down-samplings inside one hourglass (its
            depth). Defaults to 3 (scales 1/4 .. 1/32 of the input).
        stage_channels (Sequence[int]): Channels at each hourglass scale,
            length ``downsample_times + 1``. Defaults to
            ``(64, 128, 256, 512)`` (the paper's SFM input channels).
        stage_blocks (Sequence[int]): Residual blocks per layer at each
            scale, length ``downsample_times + 1``. Defaults to ``(1,)*4``.
        stem_channels (int): Channels of the stem convs before the first
            hourglass. Defaults to 64.
        block (str): ``'rfm'`` (SADI-Net) or ``'basic'`` (the hourglass
            baseline with basic blocks). Defaults to ``'rfm'``.
        block_cfg (dict, optional): Extra :class:`RFMBlock` arguments, e.g.
            ``dict(dilation=2, se_ratio=16)``. Ignored for ``'basic'``.
        num_out_scales (int): Number of decoder scales returned for the neck
            (1 .. downsample_times + 1). Defaults to 4.
        conv_cfg (dict, optional): Conv layer config. Defaults to None.
        norm_cfg (dict): Norm layer config. Defaults to ``dict(type='BN')``.
        norm_eval (bool): Keep BN layers in eval mode while training.
            Defaults to False.
        init_cfg (dict | list[dict], optional): Initialisation; by default
            Normal(std=0.001) for convs and 1 for norms, as MMPose's
            ``HourglassNet``.

    Returns (forward):
        HourglassOutput: ``(heatmaps, features)``; see the module docstring.

    Example:
        >>> import torch
        >>> net = RFMHourglassNet(num_keypoints=16, num_stacks=2)
        >>> heatmaps, feats = net(torch.rand(1, 3, 256, 256))
        >>> [tuple(h.shape) for h in heatmaps]
        [(1, 16, 64, 64), (1, 16, 64, 64)]
        >>> [tuple(f.shape) for f in feats]
        [(1, 64, 64, 64), (1, 128, 32, 32), (1, 256, 16, 16), (1, 512, 8, 8)]
    """

    def __init__(self,
                 num_keypoints: int,
                 num_stacks: int = 2,
                 downsample_times: int = 3,
                 stage_channels: Sequence[int] = (64, 128, 256, 512),
                 stage_blocks: Sequence[int] = (1, 1, 1, 1),
                 stem_channels: int = 64,
                 block: str = 'rfm',
                 block_cfg: Optional[dict] = None,
                 num_out_scales: int = 4,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 norm_eval: bool = False,
                 init_cfg=[
                     dict(type='Normal', std=0.001, layer=['Conv2d']),
                     dict(
                         type='Constant',
                         val=1,
                         layer=['_BatchNorm', 'GroupNorm'])
                 ]):
        super().__init__(init_cfg=init_cfg)
        check_positive_int('num_keypoints', num_keypoints)
        check_positive_int('num_stacks', num_stacks)
        check_positive_int('downsample_times', downsample_times)
        check_positive_int('stem_channels', stem_channels)
        check_choice('block', block, BLOCK_TYPES)
        stage_channels = tuple(stage_channels)
        stage_blocks = tuple(stage_blocks)
        if len(stage_channels) != downsample_times + 1:
            raise ValueError(
                f'stage_channels needs downsample_times + 1 = '
                f'{downsample_times + 1} entries (one per scale), got '
                f'{len(stage_channels)}: {stage_channels}')
        if len(stage_blocks) != len(stage_channels):
            raise ValueError(
                f'stage_blocks needs one entry per scale like stage_channels '
                f'({len(stage_channels)}), got {len(stage_blocks)}: '
                f'{stage_blocks}')
        for c in stage_channels:
            check_positive_int('stage_channels entry', c)
        for b in stage_blocks:
            check_positive_int('stage_blocks entry', b)
        if not 1 <= num_out_scales <= downsample_times + 1:
            raise ValueError(
                f'num_out_scales must be in [1, downsample_times + 1 = '
                f'{downsample_times + 1}], got {num_out_scales}')
        block_cfg = dict(block_cfg or {})
        if block == 'rfm':
            # Validate eagerly so the error names the argument.
            check_positive_int('dilation', block_cfg.get('dilation', 2))
            check_positive_int('se_ratio', block_cfg.get('se_ratio', 16))

        self.num_keypoints = num_keypoints
        self.num_stacks = num_stacks
        self.stage_channels = stage_channels
        self.num_out_scales = num_out_scales
        self.block = block
        self.norm_eval = norm_eval
        kw = dict(block_cfg=block_cfg, conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        c0 = stage_channels[0]

        self.stem = nn.Sequential(
            ConvModule(
                3,
                stem_channels,
                7,
                stride=2,
                padding=3,
                bias=False,
                conv_cfg=conv_cfg,
                norm_cfg=norm_cfg),
            make_res_layer(
                block, 1, stem_channels, stem_channels, stride=2, **kw),
            make_res_layer(block, 1, stem_channels, c0, **kw))
        self.hourglass_modules = nn.ModuleList([
            RFMHourglassModule(downsample_times, stage_channels, stage_blocks,
                               block, block_cfg, conv_cfg, norm_cfg)
            for _ in range(num_stacks)
        ])
        self.out_layers = nn.ModuleList([
            nn.Sequential(
                make_res_layer(block, 1, c0, c0, **kw),
                ConvModule(c0, c0, 1, conv_cfg=conv_cfg, norm_cfg=norm_cfg))
            for _ in range(num_stacks)
        ])
        self.heatmap_convs = nn.ModuleList(
            [nn.Conv2d(c0, num_keypoints, 1) for _ in range(num_stacks)])
        self.remap_feats = nn.ModuleList(
            [nn.Conv2d(c0, c0, 1) for _ in range(num_stacks - 1)])
        self.remap_heatmaps = nn.ModuleList(
            [nn.Conv2d(num_keypoints, c0, 1) for _ in range(num_stacks - 1)])

    def forward(self, x: Tensor) -> HourglassOutput:
        """Forward.

        Args:
            x (Tensor): Images (B, 3, H, W).

        Returns:
            HourglassOutput: ``heatmaps``, a tuple of ``num_stacks`` tensors
            (B, K, H/4, W/4); ``features``, the last stack's decoder
            features, ``num_out_scales`` tensors (B, stage_channels[i],
            H/2^(i+2), W/2^(i+2)).
        """
        inter = self.stem(x)
        heatmaps = []
        dec_feats = None
        for i in range(self.num_stacks):
            dec_feats = self.hourglass_modules[i](inter)
            feat = self.out_layers[i](dec_feats[0])
            heatmap = self.heatmap_convs[i](feat)
            heatmaps.append(heatmap)
            if i < self.num_stacks - 1:
                inter = inter + self.remap_feats[i](feat) + \
                    self.remap_heatmaps[i](heatmap)
        return HourglassOutput(
            tuple(heatmaps), tuple(dec_feats[:self.num_out_scales]))

    def train(self, mode: bool = True):
        """Set train mode; keep norm layers in eval mode if ``norm_eval``."""
        super().train(mode)
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
