# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""SG-HRNet: HRNet with segmentation guided modules (Tang et al. 2024)."""
import copy
import math
from typing import List, Optional, Sequence, Tuple

import torch.nn as nn
from mmcv.cnn import ConvModule, build_conv_layer
from mmengine.model import BaseModule, ModuleDict
from mmpose.models.backbones import HRNet
from mmpose.models.backbones.resnet import get_expansion
from mmpose.registry import MODELS
from torch import Tensor

from ..utils.checks import check_choice


class SGHRNetOutput(tuple):
    """What :class:`SGHRNet` returns: HRNet's outputs, a tuple exactly as
    :class:`HRNet` returns them (with the default
    ``stage4.multiscale_output=False`` one keypoint feature (B, C, H/4, W/4),
    which heads read as ``feats[-1]``), and the segmentation LOGITS of the
    SGMs by name, ``seg_logits``: a tuple of N (B, 1, H/4, W/4) in network
    order (stage 2, 3, 4, final; the enabled ones).

    Args:
        feats (Sequence[Tensor]): HRNet's outputs.
        seg_logits (Sequence[Tensor]): The SGM logits. Defaults to none.
    """

    def __new__(cls, feats: Sequence[Tensor], seg_logits=()):
        out = super().__new__(cls, feats)
        out.seg_logits = tuple(seg_logits)
        return out

    def __reduce__(self):
        return type(self), (tuple(self), self.seg_logits)


class SegmentationGuidedModule(BaseModule):
    """Segmentation guided module (SGM), SG-HRNet eq. 4.

    ``conv3x3 (C -> M) -> activation -> conv1x1 (M -> 1)`` gives the
    segmentation logits ``z``; the features are re-weighted by the map
    ``s = sigmoid(z)``: ``y = f * s``. The map is supervised by the keypoint
    disk mask (see :class:`SGHeatmapHead`), so it acts as a spatial attention
    with a prior. The paper names the two convolutions and the sigmoid; the
    activation between them (ReLU by default, ``act_cfg=None`` for none)
    keeps the pair from collapsing into one linear conv, at no cost.

    Args:
        in_channels (int): Channels ``C`` of the features.
        mid_channels (int, optional): Output channels ``M`` of the 3x3 conv.
            ``None`` means ``C``. Defaults to ``None``.
        conv_cfg (dict, optional): Config of the conv layers.
            Defaults to ``None``.
        norm_cfg (dict, optional): Config of a norm layer after the 3x3 conv;
            the paper has none. Defaults to ``None``.
        act_cfg (dict, optional): Activation after the 3x3 conv.
            Defaults to ``dict(type='ReLU')``.
        init_prob (float): The map value ``s`` the module starts from: the
            1x1 conv gets a Normal(std=0.001) init and the bias
            ``logit(init_prob)``. The paper does not say; 0.5 (bias 0, a BCE
            of ln 2 per pixel at init) by default. Near 1 the guided
            features start close to the unguided ones (an ablation of what
            halving the high-resolution features at the start costs).
            Defaults to 0.5.
        init_cfg (dict, optional): Initialization config. Defaults to the
            ``init_prob`` init of the 1x1 conv above, applied whatever
            initialises the backbone (ImageNet weights do not cover the
            SGMs); the 3x3 conv gets ``ConvModule``'s Kaiming init.

    Shapes:
        - input ``x``: (B, C, H, W)
        - outputs: ``(x * sigmoid(z), z)`` with shapes (B, C, H, W) and
          (B, 1, H, W).
    """

    def __init__(self,
                 in_channels: int,
                 mid_channels: Optional[int] = None,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: Optional[dict] = None,
                 act_cfg: Optional[dict] = dict(type='ReLU'),
                 init_prob: float = 0.5,
                 init_cfg: Optional[dict] = None):
        if not 0 < init_prob < 1:
            raise ValueError(f'init_prob must be in (0, 1), got {init_prob!r}')
        if init_cfg is None:
            init_cfg = dict(
                type='Normal',
                std=0.001,
                bias=math.log(init_prob / (1 - init_prob)),
                override=dict(name='conv2'))
        super().__init__(init_cfg=init_cfg)
        if not (isinstance(in_channels, int) and in_channels > 0):
            raise ValueError(
                f'in_channels must be a positive int, got {in_channels!r}')
        if mid_channels is None:
            mid_channels = in_channels
        if not (isinstance(mid_channels, int) and mid_channels > 0):
            raise ValueError(
                f'mid_channels must be a positive int, got {mid_channels!r}')
        self.in_channels = in_channels
        self.mid_channels = mid_channels
        self.conv1 = ConvModule(
            in_channels,
            mid_channels,
            kernel_size=3,
            padding=1,
            conv_cfg=conv_cfg,
            norm_cfg=copy.deepcopy(norm_cfg),
            act_cfg=copy.deepcopy(act_cfg))
        self.conv2 = build_conv_layer(
            conv_cfg, mid_channels, 1, kernel_size=1, bias=True)

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """Return the guided features and the segmentation logits."""
        if x.shape[1] != self.in_channels:
            raise ValueError(f'SegmentationGuidedModule expects '
                             f'{self.in_channels} channels, got {x.shape[1]}')
        logits = self.conv2(self.conv1(x))
        return x * logits.sigmoid(), logits


@MODELS.register_module()
class SGHRNet(HRNet):
    """HRNet with segmentation guided modules on its high-resolution branch.

    `Segmentation Guided Attention Networks for Human Pose Estimation
    <https://doi.org/10.18280/ts.410522>`_ (SG-HRNet). One
    :class:`SegmentationGuidedModule` (SGM) on the high-resolution branch of
    each of the stages in ``sgm_stages`` and, with ``final_sgm``, one on the
    fused stage-4 output that feeds the keypoint head. Each SGM predicts a
    one-channel segmentation map at the resolution of that branch (1/4 of the
    input, i.e. the heatmap size) and multiplies the branch's features by it.

    Where a stage's SGM sits (``sgm_position``):

    - ``'pre_fuse'`` (default): on the high-resolution branch output of the
      stage's LAST HRModule, after its residual blocks and before that
      module's multi-resolution fusion, so the guided features are what gets
      exchanged with the lower resolutions at the end of the stage. This
      follows the paper's eq. 4 ("f_s: the output features of the
      high-resolution branch of stage s") and section 3.3 (the map is
      multiplied with the stage's high-resolution features, "finally" these
      are downsampled and fused).
    - ``'stage_input'``: on the high-resolution input of the stage (the
      previous stage's fused output), before the stage's first HRModule.

    Both cost the same: for W32 at 256x192 four SGMs add 37.1K parameters
    (0.13% of 28.54M) and ~0.12 GFLOPs.

    With ``sgm_stages=()`` and ``final_sgm=False`` the network, its state
    dict keys and its outputs are exactly :class:`HRNet`'s.

    Args:
        extra (dict): HRNet's stage configuration (see :class:`HRNet`).
        sgm_stages (Sequence[int]): Stages, among 2, 3 and 4, that get an
            SGM. Defaults to ``(2, 3, 4)``.
        final_sgm (bool): Add the SGM on the fused stage-4 output.
            Defaults to ``True``.
        sgm_position (str): ``'pre_fuse'`` or ``'stage_input'`` (see above).
            Defaults to ``'pre_fuse'``.
        sgm_mid_channels (int, optional): Channels of the SGMs' 3x3 conv;
            ``None`` keeps the branch width. Defaults to ``None``.
        sgm_norm_cfg (dict, optional): Norm after the SGMs' 3x3 conv.
            Defaults to ``None``.
        sgm_act_cfg (dict, optional): Activation after the SGMs' 3x3 conv.
            Defaults to ``dict(type='ReLU')``.
        sgm_init_prob (float): Initial map value of every SGM
            (:class:`SegmentationGuidedModule` ``init_prob``). Defaults to
            0.5.
        **kwargs: Every other :class:`HRNet` argument (``in_channels``,
            ``conv_cfg``, ``norm_cfg``, ``norm_eval``, ``with_cp``,
            ``zero_init_residual``, ``frozen_stages``, ``init_cfg``).

    Returns (forward):
        :class:`SGHRNetOutput`: HRNet's outputs as a tuple (with the default
        ``stage4.multiscale_output=False``: one keypoint feature map (B, C,
        H/4, W/4), so heads that read ``feats[-1]``, ``HeatmapHead`` and
        :class:`SGHeatmapHead`, just work), and ``.seg_logits``: the N
        segmentation LOGITS (``sigmoid`` gives the maps), each (B, 1, H/4,
        W/4), in network order: stage 2, 3, 4, final (only the enabled ones;
        ``N = len(sgm_stages) + final_sgm = self.num_seg_outputs``).

    Example:
        >>> import torch
        >>> extra = dict(
        ...     stage1=dict(num_modules=1, num_branches=1, block='BOTTLENECK',
        ...                 num_blocks=(4, ), num_channels=(64, )),
        ...     stage2=dict(num_modules=1, num_branches=2, block='BASIC',
        ...                 num_blocks=(4, 4), num_channels=(32, 64)),
        ...     stage3=dict(num_modules=4, num_branches=3, block='BASIC',
        ...                 num_blocks=(4, 4, 4), num_channels=(32, 64, 128)),
        ...     stage4=dict(num_modules=3, num_branches=4, block='BASIC',
        ...                 num_blocks=(4, 4, 4, 4),
        ...                 num_channels=(32, 64, 128, 256)))
        >>> model = SGHRNet(extra, init_cfg=None).eval()
        >>> outs = model(torch.rand(1, 3, 256, 192))
        >>> [tuple(o.shape) for o in outs]
        [(1, 32, 64, 48)]
        >>> [tuple(o.shape) for o in outs.seg_logits]
        [(1, 1, 64, 48), (1, 1, 64, 48), (1, 1, 64, 48), (1, 1, 64, 48)]
    """

    _positions = ('pre_fuse', 'stage_input')

    def __init__(self,
                 extra: dict,
                 sgm_stages: Sequence[int] = (2, 3, 4),
                 final_sgm: bool = True,
                 sgm_position: str = 'pre_fuse',
                 sgm_mid_channels: Optional[int] = None,
                 sgm_norm_cfg: Optional[dict] = None,
                 sgm_act_cfg: Optional[dict] = dict(type='ReLU'),
                 sgm_init_prob: float = 0.5,
                 **kwargs):
        self._check_extra(extra)
        try:
            stages = tuple(sorted(int(s) for s in sgm_stages))
        except (TypeError, ValueError):
            raise ValueError('sgm_stages must be a sequence of stage numbers '
                             f'among 2, 3, 4, got {sgm_stages!r}') from None
        if any(s not in (2, 3, 4)
               for s in stages) or len(set(stages)) != len(stages):
            raise ValueError('sgm_stages must hold distinct stage numbers '
                             f'among 2, 3, 4, got {sgm_stages!r}')
        check_choice('sgm_position', sgm_position, self._positions)
        if sgm_mid_channels is not None and not (isinstance(
                sgm_mid_channels, int) and sgm_mid_channels > 0):
            raise ValueError('sgm_mid_channels must be a positive int or '
                             f'None, got {sgm_mid_channels!r}')

        super().__init__(extra, **kwargs)
        self.sgm_stages = stages
        self.final_sgm = bool(final_sgm)
        self.sgm_position = sgm_position

        conv_cfg = kwargs.get('conv_cfg', None)
        sgm_names = [f'stage{s}' for s in stages]
        if self.final_sgm:
            sgm_names.append('final')
        # MMEngine's ModuleDict, so init_weights() reaches the SGMs' init_cfg
        self.sgms = ModuleDict()
        for name in sgm_names:
            stage = 'stage4' if name == 'final' else name
            self.sgms[name] = SegmentationGuidedModule(
                self._hr_channels(stage),
                mid_channels=sgm_mid_channels,
                conv_cfg=conv_cfg,
                norm_cfg=sgm_norm_cfg,
                act_cfg=sgm_act_cfg,
                init_prob=sgm_init_prob)
        self.num_seg_outputs = len(sgm_names)
        self._freeze_stages()

    # ------------------------------------------------------------ helpers
    @staticmethod
    def _check_extra(extra: dict) -> None:
        """Raise ValueError for inconsistent stage configs, naming them."""
        for i in range(1, 5):
            key = f'stage{i}'
            if key not in extra:
                raise ValueError(f'extra lacks {key!r}')
            cfg = extra[key]
            nb = cfg['num_branches']
            for arg in ('num_blocks', 'num_channels'):
                if len(cfg[arg]) != nb:
                    raise ValueError(
                        f"extra['{key}']['{arg}'] has {len(cfg[arg])} "
                        f'values but num_branches is {nb}')
            if any(int(c) <= 0 for c in cfg['num_channels']):
                raise ValueError(f"extra['{key}']['num_channels'] must be "
                                 f'positive, got {cfg["num_channels"]}')

    def _hr_channels(self, stage: str) -> int:
        cfg = self.extra[stage]
        return cfg['num_channels'][0] * get_expansion(
            self.blocks_dict[cfg['block']])

    def _freeze_stages(self) -> None:
        """Also freeze the SGMs of frozen stages."""
        super()._freeze_stages()
        sgms = getattr(self, 'sgms', None)
        if sgms is None:  # called by HRNet.__init__ before the SGMs exist
            return
        for name, m in sgms.items():
            stage = 4 if name == 'final' else int(name[-1])
            if stage <= self.frozen_stages:
                m.eval()
                for p in m.parameters():
                    p.requires_grad = False

    def train(self, mode: bool = True) -> 'SGHRNet':
        """As :meth:`HRNet.train` (frozen stages, ``norm_eval``), but
        returns ``self`` like ``nn.Module.train`` (HRNet returns None)."""
        super().train(mode)
        return self

    @staticmethod
    def _hr_module_with_sgm(module: nn.Module, x: List[Tensor],
                            sgm: SegmentationGuidedModule,
                            seg_logits: List[Tensor]) -> List[Tensor]:
        """``HRModule.forward`` with the SGM between branches and fusion."""
        x = [branch(xi) for branch, xi in zip(module.branches, x)]
        x[0], logits = sgm(x[0])
        seg_logits.append(logits)
        if module.num_branches == 1:
            return x
        x_fuse = []
        for i in range(len(module.fuse_layers)):
            y = 0
            for j in range(module.num_branches):
                if i == j:
                    y += x[j]
                else:
                    y += module.fuse_layers[i][j](x[j])
            x_fuse.append(module.relu(y))
        return x_fuse

    def _run_stage(self, index: int, x_list: List[Tensor],
                   seg_logits: List[Tensor]) -> List[Tensor]:
        stage = getattr(self, f'stage{index}')
        key = f'stage{index}'
        if key not in self.sgms:
            return stage(x_list)
        sgm = self.sgms[key]
        if self.sgm_position == 'stage_input':
            x_list = list(x_list)
            x_list[0], logits = sgm(x_list[0])
            seg_logits.append(logits)
            return stage(x_list)
        for module in stage[:-1]:
            x_list = module(x_list)
        return self._hr_module_with_sgm(stage[-1], x_list, sgm, seg_logits)

    # ------------------------------------------------------------ forward
    def forward(self, x: Tensor) -> SGHRNetOutput:
        """Forward.

        Args:
            x (Tensor): Images, (B, C_in, H, W) with H, W divisible by 32.

        Returns:
            SGHRNetOutput: HRNet's outputs and ``.seg_logits`` (see the
            class docstring).
        """
        x = self.conv1(x)
        x = self.norm1(x)
        x = self.relu(x)
        x = self.conv2(x)
        x = self.norm2(x)
        x = self.relu(x)
        x = self.layer1(x)

        seg_logits: List[Tensor] = []
        x_list = []
        for i in range(self.stage2_cfg['num_branches']):
            if self.transition1[i] is not None:
                x_list.append(self.transition1[i](x))
            else:
                x_list.append(x)
        y_list = self._run_stage(2, x_list, seg_logits)

        # HRNet's transitions: kept branches pass, a new one branches off
        # the lowest resolution
        for stage, trans in ((3, self.transition2), (4, self.transition3)):
            x_list = [
                y_list[i] if t is None else t(y_list[-1])
                for i, t in enumerate(trans)
            ]
            y_list = self._run_stage(stage, x_list, seg_logits)

        if self.final_sgm:
            y_list = list(y_list)
            y_list[0], logits = self.sgms['final'](y_list[0])
            seg_logits.append(logits)

        return SGHRNetOutput(y_list, seg_logits)
