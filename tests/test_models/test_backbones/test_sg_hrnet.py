# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
import copy

import pytest
import torch

from mmpose_ext.models.backbones import SegmentationGuidedModule, SGHRNet


def _flat(out):
    """``(seg_logits..., hrnet outputs...)``: SGHRNet's output in network
    order (the SGM logits come by name, ``out.seg_logits``)."""
    from mmpose_ext.models.backbones.sg_hrnet import SGHRNetOutput
    assert isinstance(out, SGHRNetOutput)
    return tuple(out.seg_logits) + tuple(out)


def _extra(w=32, blocks=4, modules=(1, 4, 3)):
    """HRNet-W{w} stages (W32: MMPose's config); small w for tiny nets."""
    s1 = 64 if w == 32 else w
    return dict(
        stage1=dict(
            num_modules=1,
            num_branches=1,
            block='BOTTLENECK',
            num_blocks=(blocks, ),
            num_channels=(s1, )),
        stage2=dict(
            num_modules=modules[0],
            num_branches=2,
            block='BASIC',
            num_blocks=(blocks, ) * 2,
            num_channels=(w, 2 * w)),
        stage3=dict(
            num_modules=modules[1],
            num_branches=3,
            block='BASIC',
            num_blocks=(blocks, ) * 3,
            num_channels=(w, 2 * w, 4 * w)),
        stage4=dict(
            num_modules=modules[2],
            num_branches=4,
            block='BASIC',
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
        outs = _flat(model(torch.rand(1, 3, 256, 192)))
    assert model.num_seg_outputs == 4
    assert [tuple(o.shape)
            for o in outs] == [(1, 1, 64, 48)] * 4 + [(1, 32, 64, 48)]


@pytest.mark.parametrize('stages,final,n,position',
                         [((2, 3, 4), True, 4, 'pre_fuse'),
                          ((2, 3, 4), True, 4, 'stage_input'),
                          ((3, ), False, 1, 'pre_fuse'),
                          ((), True, 1, 'pre_fuse'),
                          ((2, 4), True, 3, 'stage_input')])
def test_tiny_shapes_and_order(stages, final, n, position):
    model = SGHRNet(
        TINY,
        sgm_stages=stages,
        final_sgm=final,
        sgm_position=position,
        init_cfg=None)
    outs = _flat(model(torch.rand(2, 3, 32, 32)))
    assert model.num_seg_outputs == n and len(outs) == n + 1
    for o in outs[:n]:
        assert tuple(o.shape) == (2, 1, 8, 8)  # logits, unbounded
    assert tuple(outs[-1].shape) == (2, 4, 8, 8)  # keypoint feature last
    expected = [f'stage{s}'
                for s in sorted(stages)] + (['final'] if final else [])
    assert list(model.sgms.keys()) == expected


def test_without_sgms_it_is_exactly_hrnet():
    from mmpose.models.backbones import HRNet
    torch.manual_seed(0)
    hrnet = HRNet(copy.deepcopy(TINY), init_cfg=None)
    hrnet.init_weights()
    # make BN statistics non-trivial so eval outputs depend on them
    hrnet.train()
    hrnet(torch.rand(2, 3, 32, 32))
    sg = SGHRNet(
        copy.deepcopy(TINY), sgm_stages=(), final_sgm=False, init_cfg=None)
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
    outs = _flat(model(torch.rand(2, 3, 32, 32)))
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
        outs = _flat(model(torch.rand(2, 3, 32, 32)))
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


# ---------------------------------------------------------------- placement
# A tiny HRNet (branch widths 4/8/16/32, one HRModule per stage). Hooks
# record, for every stage, the inputs of the first HRModule's branches, the
# outputs of the last HRModule's branches (before its fusion) and the fused
# outputs of the last HRModule (its ReLU runs once per output branch, in
# order, and only in the fusion). SGHRNet's pre-fuse path calls the
# HRModule's branches, fuse layers and ReLU itself, so the hooks see both
# paths.


def _placement_model(position, multiscale=True, num_modules=1):
    from mmpose_ext.devkit.testing import tiny_hrnet_extra
    extra = tiny_hrnet_extra(4)
    assert extra['stage4']['num_channels'] == (4, 8, 16, 32)
    extra['stage4']['multiscale_output'] = multiscale
    for s in (2, 3, 4):
        extra[f'stage{s}']['num_modules'] = num_modules
    torch.manual_seed(0)
    model = SGHRNet(extra, sgm_position=position, init_cfg=None)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # non-trivial BN statistics for eval mode
        for name, b in model.named_buffers():
            if name.endswith('running_mean'):
                b.copy_(torch.randn(b.shape, generator=g) * 0.1)
            elif name.endswith('running_var'):
                b.copy_(torch.rand(b.shape, generator=g) + 0.5)
    return model.eval()


def _capture(model, x):
    """Run the model; return (outputs, record) with record[stage] holding
    'in' (first module's branch inputs), 'branch' (last module's branch
    outputs, before fusion) and 'fused' (last module's fused outputs)."""
    record, handles = {}, []
    for s in (2, 3, 4):
        stage = getattr(model, f'stage{s}')
        rec = record[s] = {
            'in': [None] * len(stage[0].branches),
            'branch': [None] * len(stage[-1].branches),
            'fused': []
        }
        for j, branch in enumerate(stage[0].branches):
            handles.append(
                branch.register_forward_pre_hook(
                    lambda m, a, rec=rec, j=j: rec['in'].__setitem__(
                        j, a[0].detach().clone())))
        for j, branch in enumerate(stage[-1].branches):
            handles.append(
                branch.register_forward_hook(lambda m, a, o, rec=rec, j=j: rec[
                    'branch'].__setitem__(j,
                                          o.detach().clone())))
        handles.append(stage[-1].relu.register_forward_hook(
            lambda m, a, o, rec=rec: rec['fused'].append(o.detach().clone())))
    try:
        with torch.no_grad():
            outs = _flat(model(x))
    finally:
        for h in handles:
            h.remove()
    return outs, record


def _zero_map(model, name):
    """Make SGM `name` output the map sigmoid(-1e4) = 0 everywhere."""
    conv2 = model.sgms[name].conv2
    with torch.no_grad():
        conv2.weight.zero_()
        conv2.bias.fill_(-1e4)
    assert torch.sigmoid(torch.tensor(-1e4)).item() == 0.0


def _equal(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b)) and len(a) == len(b)


def _all_changed(a, b):
    return len(a) == len(b) and all(
        (x - y).abs().max() > 1e-4 for x, y in zip(a, b))


X = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))


@pytest.mark.parametrize('stage', [2, 3, 4])
def test_pre_fuse_sgm_sits_between_branches_and_fusion(stage):
    """sgm_position='pre_fuse': zeroing stage s's map leaves the stage's
    input and its branch outputs untouched but changes EVERY fused output,
    the lower-resolution ones included, so the map multiplies the
    high-resolution features before the multi-resolution fusion (an SGM
    after the fusion would only touch the high-resolution output, one at
    the stage input would change the high-resolution branch output).
    Earlier stages and their maps are unchanged."""
    model = _placement_model('pre_fuse')
    names = list(model.sgms.keys())
    idx = names.index(f'stage{stage}')
    ref_outs, ref = _capture(model, X)
    _zero_map(model, f'stage{stage}')
    outs, rec = _capture(model, X)

    assert (outs[idx] == -1e4).all()
    assert len(rec[stage]['fused']) == stage  # all branches (multiscale)
    assert _equal(rec[stage]['in'], ref[stage]['in'])
    assert _equal(rec[stage]['branch'], ref[stage]['branch'])
    # the lower-resolution outputs of the stage change (and the high one)
    assert _all_changed(rec[stage]['fused'][1:], ref[stage]['fused'][1:])
    assert _all_changed(rec[stage]['fused'][:1], ref[stage]['fused'][:1])
    for s in range(2, stage):
        assert _equal(rec[s]['fused'], ref[s]['fused'])
    assert _equal(outs[:idx], ref_outs[:idx])


@pytest.mark.parametrize('stage', [2, 3, 4])
def test_pre_fuse_fusion_reads_the_guided_features(stage):
    """With the maps the model predicts (not zeroed): every fused output of
    stage s is relu(sum_j fuse[i][j](x_j)) with x_0 = branch_0 *
    sigmoid(seg_logits_s) and x_j (j > 0) the plain branch outputs, i.e.
    exactly eq. 4 followed by HRNet's fusion; and the fused outputs differ
    from the fusion of the unguided features."""
    model = _placement_model('pre_fuse')
    outs, rec = _capture(model, X)
    module = getattr(model, f'stage{stage}')[-1]
    s_map = outs[list(model.sgms.keys()).index(f'stage{stage}')].sigmoid()
    for guided, expect_equal in ((True, True), (False, False)):
        x = list(rec[stage]['branch'])
        if guided:
            x[0] = x[0] * s_map
        with torch.no_grad():
            for i, fused in enumerate(rec[stage]['fused']):
                y = sum(x[j] if i == j else module.fuse_layers[i][j](x[j])
                        for j in range(len(x)))
                ok = torch.allclose(torch.relu(y), fused, rtol=1e-5, atol=1e-6)
                assert ok == expect_equal, (guided, i)


@pytest.mark.parametrize('stage', [2, 3, 4])
def test_stage_input_sgm_guides_the_stage_input(stage):
    """sgm_position='stage_input': zeroing stage s's map zeroes the input of
    the stage's high-resolution branch (the others' inputs are untouched),
    so its branch output changes while the lower branches' outputs before
    fusion do not (one module per stage); the fused outputs change."""
    model = _placement_model('stage_input')
    names = list(model.sgms.keys())
    idx = names.index(f'stage{stage}')
    ref_outs, ref = _capture(model, X)
    _zero_map(model, f'stage{stage}')
    outs, rec = _capture(model, X)

    assert (outs[idx] == -1e4).all()
    assert ref[stage]['in'][0].abs().max() > 0
    assert not rec[stage]['in'][0].any()  # f * 0
    assert _equal(rec[stage]['in'][1:], ref[stage]['in'][1:])
    assert _all_changed(rec[stage]['branch'][:1], ref[stage]['branch'][:1])
    assert _equal(rec[stage]['branch'][1:], ref[stage]['branch'][1:])
    assert _all_changed(rec[stage]['fused'], ref[stage]['fused'])
    assert _equal(outs[:idx], ref_outs[:idx])


def test_pre_fuse_sgm_is_on_the_last_module_of_a_stage():
    """With two HRModules per stage, 'pre_fuse' guides the LAST module (the
    first module's fused outputs are unchanged by a zeroed map), whereas
    'stage_input' guides the input of the first one (its outputs change)."""
    for position, first_changes in (('pre_fuse', False), ('stage_input',
                                                          True)):
        model = _placement_model(position, num_modules=2)
        firsts = []
        for zero in (False, True):
            if zero:
                _zero_map(model, 'stage3')
            got = []
            h = model.stage3[0].register_forward_hook(
                lambda m, a, o: got.extend(t.clone() for t in o))
            try:
                with torch.no_grad():
                    model(X)
            finally:
                h.remove()
            firsts.append(got)
        assert len(firsts[0]) == 3
        if first_changes:
            assert _all_changed(firsts[1], firsts[0]), position
        else:
            assert _equal(firsts[1], firsts[0]), position


@pytest.mark.parametrize('multiscale', [True, False])
def test_final_sgm_only_guides_the_keypoint_feature(multiscale):
    """Zeroing the final SGM's map zeroes the keypoint feature (f * 0) and
    nothing else: the stage-2/3/4 maps, the stage-4 branch outputs and, with
    multiscale_output, the stage-4 lower-resolution outputs are unchanged."""
    model = _placement_model('pre_fuse', multiscale=multiscale)
    n = model.num_seg_outputs
    assert n == 4
    ref_outs, ref = _capture(model, X)
    _zero_map(model, 'final')
    outs, rec = _capture(model, X)
    assert len(outs) == n + (4 if multiscale else 1)
    assert (outs[n - 1] == -1e4).all()
    assert _equal(outs[:n - 1], ref_outs[:n - 1])
    assert ref_outs[n].abs().max() > 0 and not outs[n].any()
    assert _equal(outs[n + 1:], ref_outs[n + 1:])  # stage-4 lower branches
    assert _equal(rec[4]['branch'], ref[4]['branch'])
    assert _equal(rec[4]['fused'], ref[4]['fused'])  # before the final SGM
