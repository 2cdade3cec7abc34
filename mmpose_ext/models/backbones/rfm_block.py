# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Receptive Fortified Module (RFM) of SADI-Net (Gao et al., IEEE Access 2023).

The RFM is a basic residual block (conv3x3-BN-ReLU-conv3x3-BN) with a parallel
dilated conv3x3 branch on the block input; the two branches are summed, gated
by squeeze-and-excitation (SE) channel attention, added to the (projected)
identity shortcut and passed through ReLU::

    x --conv3x3(s)-BN-ReLU-conv3x3-BN--+
    |                                  (+)--SE gate--(+)--ReLU--> y
    +--conv3x3(s, dilation=d)-BN-------+             |
    +---------- shortcut (identity or 1x1 conv-BN) --+
"""
from typing import Optional

import torch
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor, nn

from ..utils.checks import check_positive_int


class SqueezeExcitation(BaseModule):
    """Squeeze-and-excitation channel gate (Hu et al., TPAMI 2020).

    ``gate = sigmoid(W2 relu(W1 avgpool(x)))``; ``forward`` returns
    ``x * gate``.

    Args:
        channels (int): Number of channels C of the input.
        ratio (int): Channel reduction ratio of the bottleneck; the hidden
            width is ``max(1, C // ratio)``. Defaults to 16.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 channels: int,
                 ratio: int = 16,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        check_positive_int('channels', channels)
        check_positive_int('se_ratio', ratio)
        hidden = max(1, channels // ratio)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def gate(self, x: Tensor) -> Tensor:
        """The channel gate.

        Args:
            x (Tensor): Features (B, C, H, W).

        Returns:
            Tensor: Gate values in (0, 1), shape (B, C, 1, 1).
        """
        return torch.sigmoid(self.fc2(torch.relu(self.fc1(self.pool(x)))))

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, C, H, W), channels re-weighted by the gate."""
        return x * self.gate(x)


class RFMBlock(BaseModule):
    """Receptive Fortified Module: basic block + parallel dilated conv + SE.

    Args:
        in_channels (int): Input channels C_in.
        out_channels (int): Output channels C_out.
        stride (int): Stride of the first conv and of the dilated branch
            (1 or 2). Defaults to 1.
        dilation (int): Dilation of the parallel conv3x3 branch (>= 1; 1 makes
            it an ordinary conv3x3). Defaults to 2 (the paper's value is lost
            in the extracted text; 2 is the usual choice).
        se_ratio (int): SE reduction ratio. Defaults to 16.
        with_dilated_branch (bool): Build the parallel dilated branch. With
            ``False`` and ``with_se=False`` the block is a plain basic block.
            Defaults to True.
        with_se (bool): Apply the SE gate to the summed branches.
            Defaults to True.
        conv_cfg (dict, optional): Conv layer config. Defaults to None.
        norm_cfg (dict): Norm layer config. Defaults to ``dict(type='BN')``.
        init_cfg (dict, optional): Initialisation config. Defaults to None.

    Shapes:
        input (B, C_in, H, W) -> output (B, C_out, ceil(H/stride),
        ceil(W/stride)).
    """

    expansion = 1

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 stride: int = 1,
                 dilation: int = 2,
                 se_ratio: int = 16,
                 with_dilated_branch: bool = True,
                 with_se: bool = True,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        check_positive_int('in_channels', in_channels)
        check_positive_int('out_channels', out_channels)
        check_positive_int('dilation', dilation)
        check_positive_int('se_ratio', se_ratio)
        if stride not in (1, 2):
            raise ValueError(f'stride must be 1 or 2, got {stride!r}')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.stride = stride
        self.dilation = dilation

        self.conv1 = ConvModule(
            in_channels,
            out_channels,
            3,
            stride=stride,
            padding=1,
            bias=False,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg)
        self.conv2 = ConvModule(
            out_channels,
            out_channels,
            3,
            padding=1,
            bias=False,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            act_cfg=None)
        self.dilated = ConvModule(
            in_channels,
            out_channels,
            3,
            stride=stride,
            padding=dilation,
            dilation=dilation,
            bias=False,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            act_cfg=None) if with_dilated_branch else None
        self.se = SqueezeExcitation(out_channels, se_ratio) \
            if with_se else None
        if stride != 1 or in_channels != out_channels:
            self.shortcut = ConvModule(
                in_channels,
                out_channels,
                1,
                stride=stride,
                bias=False,
                conv_cfg=conv_cfg,
                norm_cfg=norm_cfg,
                act_cfg=None)
        else:
            self.shortcut = nn.Identity()
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C_in, H, W) -> (B, C_out, H', W')."""
        out = self.conv2(self.conv1(x))
        if self.dilated is not None:
            out = out + self.dilated(x)
        if self.se is not None:
            out = self.se(out)
        return self.relu(out + self.shortcut(x))
