# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
import copy

import pytest
import torch

from mmpose_ext.models.backbones import SegmentationGuidedModule, SGHRNet


def _extra(w=32, blocks=4, modules=(1, 4, 3)):
    """HRNet-W{w} stages (W32: MMPose's config); small w for tiny nets."""
    s1 = 64 if w == 32 else w
    return dict(
        stage1=dict(num_modules=1, num_branches=1, block='BOTTLENECK',
                    num_blocks=(blocks, ), num_channels=(s1, )),
        stage2=dict(num_modules=modules[0], num_branches=2, block='BASIC',
                    num_blocks=(blocks, ) * 2, num_channels=(w, 2 * w)),
        stage3=dict(num_modules=modules[1], num_branches=3, block='BASIC',
                    num_blocks=(blocks, ) * 3,
                    num_channels=(w, 2 * w, 4 * w)),
        stage4=dict(num_modules=modules[2], num_branches=4, block='BASIC',
                    num_blocks=(blocks, ) * 4,
                    num_channels=(w, 2 * w, 4 * w, 8 * w)))


TINY = _extra(w=4, blocks=1, modules=(1, 2, 2))


def _n_params(m):
    return sum(p.numel() for p in m.parameters())


def test_w32_shapes_and_parameter_budget():
    from mmpose.models.backbones import HRNet
    model = SGHRNet(_extra(), init_cfg=None).eval()
    hrnet = HRNet(_extra(), init_cfg=None)
    n_sg, n_hr = _n_params(model), _n_params(hrnet)
    assert n_hr == pytest.approx(28.54e6, rel=1e-3)
    assert (n_sg - n_hr) / n_hr < 0.002  # "within 0.2% of HRNet-W32"
    assert n_sg - n_hr == 4 * (32 * 32 * 9 + 32 + 32 + 1)
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 256, 192))
    assert model.num_seg_outputs == 4
    assert [tuple(o.shape) for o in outs] == [(1, 1, 64, 48)] * 4 + [
        (1, 32, 64, 48)]


@pytest.mark.parametrize('stages,final,n,position', [
    ((2, 3, 4), True, 4, 'pre_fuse'), ((2, 3, 4), True, 4, 'stage_input'),
    ((3, ), False, 1, 'pre_fuse'), ((), True, 1, 'pre_fuse'),
    ((2, 4), True, 3, 'stage_input')])
def test_tiny_shapes_and_order(stages, final, n, position):
    model = SGHRNet(TINY, sgm_stages=stages, final_sgm=final,
                    sgm_position=position, init_cfg=None)
    outs = model(torch.rand(2, 3, 32, 32))
    assert model.num_seg_outputs == n and len(outs) == n + 1
    for o in outs[:n]:
        assert tuple(o.shape) == (2, 1, 8, 8)  # logits, unbounded
    assert tuple(outs[-1].shape) == (2, 4, 8, 8)  # keypoint feature last
    expected = [f'stage{s}' for s in sorted(stages)] + (['final']
                                                        if final else [])
    assert list(model.sgms.keys()) == expected


def test_without_sgms_it_is_exactly_hrnet():
    from mmpose.models.backbones import HRNet
    torch.manual_seed(0)
    hrnet = HRNet(copy.deepcopy(TINY), init_cfg=None)
    hrnet.init_weights()
    # make BN statistics non-trivial so eval outputs depend on them
    hrnet.train()
    hrnet(torch.rand(2, 3, 32, 32))
    sg = SGHRNet(copy.deepcopy(TINY), sgm_stages=(), final_sgm=False,
                 init_cfg=None)
    assert sg.state_dict().keys() == hrnet.state_dict().keys()
    sg.load_state_dict(hrnet.state_dict(), strict=True)
    x = torch.rand(2, 3, 32, 32)
    for mode in ('eval', 'train'):
        getattr(hrnet, mode)()
        getattr(sg, mode)()
        ref, out = hrnet(x), sg(x)
        assert len(ref) == len(out) == 1
        assert torch.equal(ref[0], out[0])


def test_hrnet_weights_load_into_sg_hrnet():
    from mmpose.models.backbones import HRNet
    hrnet = HRNet(copy.deepcopy(TINY), init_cfg=None)
    sg = SGHRNet(copy.deepcopy(TINY), init_cfg=None)
    missing, unexpected = sg.load_state_dict(hrnet.state_dict(), strict=False)
    assert not unexpected
    assert missing and all(k.startswith('sgms.') for k in missing)


@pytest.mark.parametrize('position', ['pre_fuse', 'stage_input'])
def test_gradients_reach_every_sgm(position):
    model = SGHRNet(TINY, sgm_position=position, init_cfg=None)
    outs = model(torch.rand(2, 3, 32, 32))
    # the keypoint feature alone already depends on every SGM (attention)
    outs[-1].square().mean().backward()
    for name, sgm in model.sgms.items():
        for pname, p in sgm.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, (name, pname)
    model.zero_grad()
    # each segmentation output trains its own SGM and none after it, which
    # also pins the documented order (stage 2, 3, 4, final)
    names = list(model.sgms.keys())
    assert names == ['stage2', 'stage3', 'stage4', 'final']
    for i, name in enumerate(names):
        outs = model(torch.rand(2, 3, 32, 32))
        model.zero_grad(set_to_none=True)
        outs[i].mean().backward()
        assert model.sgms[name].conv2.weight.grad.abs().sum() > 0
        for later in names[i + 1:]:
            assert model.sgms[later].conv2.weight.grad is None, (name, later)


def test_sgm_multiplies_features_by_its_map():
    sgm = SegmentationGuidedModule(3, act_cfg=None)
    x = torch.rand(2, 3, 5, 5)
    y, logits = sgm(x)
    assert tuple(logits.shape) == (2, 1, 5, 5)
    torch.testing.assert_close(y, x * torch.sigmoid(logits))
    with pytest.raises(ValueError, match='channels'):
        sgm(torch.rand(2, 4, 5, 5))


def test_frozen_stages_freeze_their_sgms():
    model = SGHRNet(TINY, frozen_stages=3, init_cfg=None)
    model.train()
    for name, sgm in model.sgms.items():
        frozen = name in ('stage2', 'stage3')
        assert all(p.requires_grad != frozen for p in sgm.parameters()), name


@pytest.mark.parametrize('kwargs,name', [
    (dict(sgm_stages=(1, 2)), 'sgm_stages'),
    (dict(sgm_stages=(5, )), 'sgm_stages'),
    (dict(sgm_stages=(2, 2)), 'sgm_stages'),
    (dict(sgm_stages='abc'), 'sgm_stages'),
    (dict(sgm_position='after'), 'sgm_position'),
    (dict(sgm_mid_channels=0), 'sgm_mid_channels'),
])
def test_invalid_arguments_raise_value_error(kwargs, name):
    with pytest.raises(ValueError, match=name):
        SGHRNet(copy.deepcopy(TINY), init_cfg=None, **kwargs)


def test_mismatched_channel_counts_raise_value_error():
    extra = copy.deepcopy(TINY)
    extra['stage3']['num_channels'] = (4, 8)  # 3 branches, 2 widths
    with pytest.raises(ValueError, match=r"stage3.*num_channels"):
        SGHRNet(extra, init_cfg=None)
    with pytest.raises(ValueError, match='in_channels'):
        SegmentationGuidedModule(0)
