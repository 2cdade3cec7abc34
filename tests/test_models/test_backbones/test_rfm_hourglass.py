# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""RFMBlock and RFMHourglassNet (SADI-Net backbone)."""
import pytest
import torch
from mmpose.models.backbones.resnet import BasicBlock
from torch import nn

from mmpose_ext.models.backbones.rfm_block import RFMBlock
from mmpose_ext.models.backbones.rfm_hourglass import RFMHourglassNet

TINY = dict(
    stage_channels=(8, 16, 32, 64), stage_blocks=(1, 1, 1, 1), stem_channels=8)


# ----------------------------------------------------------------- RFMBlock
@pytest.mark.parametrize('cin,cout,stride,size,out_size', [
    (8, 8, 1, 16, 16),
    (8, 16, 1, 16, 16),
    (8, 16, 2, 16, 8),
    (8, 16, 2, 15, 8),
])
def test_rfm_block_shapes(cin, cout, stride, size, out_size):
    block = RFMBlock(cin, cout, stride=stride)
    out = block(torch.randn(2, cin, size, size))
    assert out.shape == (2, cout, out_size, out_size)
    assert (out >= 0).all()  # final ReLU
    identity = cin == cout and stride == 1
    assert isinstance(block.shortcut, nn.Identity) == identity


def test_rfm_block_has_dilated_branch_and_se():
    block = RFMBlock(8, 8, dilation=3)
    assert block.dilated.conv.dilation == (3, 3)
    assert block.dilated.conv.padding == (3, 3)
    assert block.se is not None
    plain = RFMBlock(8, 8, with_dilated_branch=False, with_se=False)
    assert plain.dilated is None and plain.se is None


def test_se_gate_in_open_unit_interval():
    torch.manual_seed(0)
    block = RFMBlock(16, 16, se_ratio=4)
    for scale in (1e-3, 1.0, 5.0):
        x = torch.randn(4, 16, 8, 8) * scale
        gate = block.se.gate(x)
        assert gate.shape == (4, 16, 1, 1)
        assert (gate > 0).all() and (gate < 1).all()
    # forward re-weights channels by exactly that gate
    x = torch.randn(2, 16, 8, 8)
    assert torch.allclose(block.se(x), x * block.se.gate(x))


def _receptive_field(block, channels=4, size=21):
    """Gradient of the centre output w.r.t. the input, summed over channels:
    its support is the receptive field (eval-mode BN: no batch coupling)."""
    block.eval()
    x = torch.rand(1, channels, size, size, requires_grad=True)
    c = size // 2
    block(x)[0, :, c, c].sum().backward()
    return x.grad.abs().sum((0, 1))


def _constant_init(block):
    """Positive constant convs and identity BN: the block is linear on
    positive inputs, so the gradient map is its exact effective kernel."""
    for m in block.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.constant_(m.weight, 0.1)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return block


def _extent(grad):
    ys, xs = torch.nonzero(grad > 0, as_tuple=True)
    return int(max(xs.max() - xs.min(), ys.max() - ys.min())) + 1


def _rms_radius(grad):
    size = grad.shape[0]
    c = size // 2
    yy, xx = torch.meshgrid(
        torch.arange(size), torch.arange(size), indexing='ij')
    r2 = ((yy - c)**2 + (xx - c)**2).float()
    return float(((grad * r2).sum() / grad.sum()).sqrt())


def test_receptive_field_larger_than_basic_block():
    basic = _constant_init(BasicBlock(4, 4))
    rf_basic = _receptive_field(basic)
    assert int((rf_basic > 0).sum()) == 25  # two 3x3 convs: 5x5

    # RFM as configured by default (dilation 2 + SE): the SE gate pools the
    # whole map, so every input pixel reaches the centre output
    rfm = _constant_init(RFMBlock(4, 4, se_ratio=1))
    rf_rfm = _receptive_field(rfm)
    assert int((rf_rfm > 0).sum()) == rf_rfm.numel() > 25

    # the convolution part alone: dilation 3 widens the support from 5x5 to
    # 7x7 (the 5x5 of the basic branch plus the 8 outer dilated taps) ...
    rfm_d3 = _constant_init(RFMBlock(4, 4, dilation=3, with_se=False))
    rf_d3 = _receptive_field(rfm_d3)
    assert _extent(rf_d3) == 7 > _extent(rf_basic) == 5
    assert int((rf_d3 > 0).sum()) == 25 + 8
    # ... and dilation 2 keeps the 5x5 support but moves gradient mass
    # outwards (larger effective receptive field)
    rfm_d2 = _constant_init(RFMBlock(4, 4, dilation=2, with_se=False))
    rf_d2 = _receptive_field(rfm_d2)
    assert int((rf_d2 > 0).sum()) == 25
    assert _rms_radius(rf_d2) > _rms_radius(rf_basic) * 1.05


@pytest.mark.parametrize('kwargs,name', [
    (dict(dilation=0), 'dilation'),
    (dict(dilation=-2), 'dilation'),
    (dict(se_ratio=0), 'se_ratio'),
    (dict(stride=3), 'stride'),
])
def test_rfm_block_invalid_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        RFMBlock(8, 8, **kwargs)


# ---------------------------------------------------------- RFMHourglassNet
@pytest.mark.parametrize('hw', [(64, 64), (64, 48)])
@pytest.mark.parametrize('num_stacks', [1, 2])
def test_backbone_outputs_per_stack_and_scale(hw, num_stacks):
    net = RFMHourglassNet(num_keypoints=5, num_stacks=num_stacks, **TINY)
    h, w = hw
    heatmaps, feats = net(torch.randn(2, 3, h, w))
    assert isinstance(heatmaps, tuple) and len(heatmaps) == num_stacks
    for hm in heatmaps:
        assert hm.shape == (2, 5, h // 4, w // 4)
    assert len(feats) == 4
    for i, (f, c) in enumerate(zip(feats, TINY['stage_channels'])):
        stride = 4 * 2**i
        assert f.shape == (2, c, -(-h // stride), -(-w // stride))


def test_backbone_default_widths_match_sfm_input():
    net = RFMHourglassNet(num_keypoints=16)
    assert net.stage_channels == (64, 128, 256, 512)
    assert net.num_stacks == 2


def test_backbone_stacks_are_chained_and_supervisable():
    net = RFMHourglassNet(num_keypoints=3, num_stacks=2, **TINY)
    x = torch.randn(1, 3, 64, 64)
    heatmaps, feats = net(x)
    # the first stack's heatmap feeds the second stack (Newell re-injection)
    grads = torch.autograd.grad(heatmaps[1].sum(), net.heatmap_convs[0].weight)
    assert grads[0].abs().sum() > 0
    # every stack's heatmap gets its own gradient path (intermediate loss)
    assert heatmaps[0].requires_grad and heatmaps[1].requires_grad
    assert feats[0].shape[1] == 8


def test_basic_switch_builds_the_baseline():
    basic = RFMHourglassNet(num_keypoints=3, block='basic', **TINY)
    rfm = RFMHourglassNet(num_keypoints=3, block='rfm', **TINY)
    assert not any(isinstance(m, RFMBlock) for m in basic.modules())
    assert any(isinstance(m, BasicBlock) for m in basic.modules())
    assert any(isinstance(m, RFMBlock) for m in rfm.modules())
    n_basic = sum(p.numel() for p in basic.parameters())
    n_rfm = sum(p.numel() for p in rfm.parameters())
    assert n_rfm > n_basic  # the dilated branches and SE add parameters
    hm_b, f_b = basic(torch.randn(1, 3, 64, 64))
    hm_r, f_r = rfm(torch.randn(1, 3, 64, 64))
    assert [t.shape for t in hm_b + f_b] == [t.shape for t in hm_r + f_r]


def test_block_cfg_reaches_the_blocks():
    net = RFMHourglassNet(
        num_keypoints=3, block_cfg=dict(dilation=3, se_ratio=2), **TINY)
    blocks = [m for m in net.modules() if isinstance(m, RFMBlock)]
    assert blocks and all(b.dilation == 3 for b in blocks)


def test_norm_eval_keeps_bn_frozen():
    net = RFMHourglassNet(num_keypoints=3, norm_eval=True, **TINY)
    net.train()
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and not any(m.training for m in bns)


@pytest.mark.parametrize('kwargs,name', [
    (dict(num_stacks=0), 'num_stacks'),
    (dict(block='bottleneck'), 'block'),
    (dict(block_cfg=dict(dilation=0)), 'dilation'),
    (dict(stage_channels=(8, 16, 32)), 'stage_channels'),
    (dict(stage_blocks=(1, 1)), 'stage_blocks'),
    (dict(stage_channels=(8, 16, 0, 64)), 'stage_channels'),
    (dict(num_out_scales=5), 'num_out_scales'),
    (dict(downsample_times=0), 'downsample_times'),
])
def test_backbone_invalid_arguments(kwargs, name):
    args = dict(TINY)
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        RFMHourglassNet(num_keypoints=3, **args)
