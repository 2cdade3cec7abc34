# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""``tools/benchmark.py grad-balance``: the gradient norm of each loss term
on the shared backbone, at init (mmpose_ext/devkit/benchmark/balance.py).

Tiny models (width 8, 64x64 input, batch 2): the numbers are checked for
what must hold exactly (a weighted term's gradient scales with its weight,
ratios are norm / reference norm on the same batch, a term that does not
reach a group is reported as such, every batch sees the initial state),
not for their values."""
import json
import math
import os.path as osp
import runpy

import pytest
import torch

SADI = 'configs/sadi_net_mpii.py'
SG = 'configs/sg_hrnet_w32_coco.py'


@pytest.fixture(scope='module')
def work_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp('grad_balance'))


@pytest.fixture(scope='module')
def tiny_sadi(work_dir, one_torch_thread):
    """``run_balance`` of a tiny SADI-Net with extra ``cfg_options``."""
    from mmpose_ext.devkit.benchmark.balance import run_balance
    cache = {}

    def run(**opts):
        key = tuple(sorted(opts.items()))
        if key not in cache:
            cache[key] = run_balance(
                SADI,
                batches=1,
                batch_size=2,
                width=8,
                input_size=(64, 64),
                cfg_options=opts,
                work_dir=work_dir,
                log=lambda msg: None)
        return cache[key]

    return run


def _bb(res, term):
    return res['terms'][term]['grad']['backbone']['median']


def test_rle_gradient_scales_with_rle_weight(tiny_sadi):
    base = tiny_sadi(**{'model.head.rle_weight': 1e-7})
    x10 = tiny_sadi(**{'model.head.rle_weight': 1e-6})
    assert list(base['terms']) == ['loss_kpt', 'loss_rle', 'loss_dlm', 'total']
    assert base['reference'] == 'loss_kpt'
    for res in (base, x10):
        for name, t in res['terms'].items():
            assert t['n'] == 1
            assert math.isfinite(t['loss']['median'])
            assert t['grad']['backbone']['median'] > 0, name
    # same init, same batch: the weighted term and its gradient scale by
    # exactly the weight, the other terms do not change
    assert _bb(x10, 'loss_rle') / _bb(base, 'loss_rle') == pytest.approx(
        10, rel=1e-3)
    assert x10['terms']['loss_rle']['loss']['median'] / base['terms'][
        'loss_rle']['loss']['median'] == pytest.approx(
            10, rel=1e-5)
    for name in ('loss_kpt', 'loss_dlm'):
        assert _bb(x10, name) == pytest.approx(_bb(base, name), rel=1e-6)
    assert any('rle_weight 1e-06' in n for n in x10['notes'])


def test_ratio_is_norm_over_the_reference_norm(tiny_sadi):
    res = tiny_sadi(**{'model.head.rle_weight': 1e-7})
    ref = _bb(res, 'loss_kpt')
    for name, t in res['terms'].items():
        assert t['per_batch']['ratio'] == [t['per_batch']['backbone'][0] / ref]
        assert t['ratio']['median'] == pytest.approx(_bb(res, name) / ref)
    assert res['terms']['loss_kpt']['ratio']['median'] == 1.0
    from mmpose_ext.devkit.benchmark.balance import format_balance
    text = format_balance(res)
    row = [ln for ln in text.splitlines() if ln.startswith('| loss_rle ')]
    ratio = res['terms']['loss_rle']['ratio']['median']
    assert row and f'| {ratio:.3g} |' in row[0], (row, ratio)
    assert 'ratio to loss_kpt' in text.splitlines()[0]


def test_terms_absent_or_not_reaching_a_group(tiny_sadi):
    res = tiny_sadi(**{'model.head.rle_weight': 1e-7})
    kpt, rle = res['terms']['loss_kpt'], res['terms']['loss_rle']
    # SFM passes the backbone's heatmaps through: L_rfm has no neck
    # gradient (and the DLM head's parameters are not in it either); the
    # likelihood reaches the neck, the head and the backbone
    assert res['groups'] == ['backbone', 'neck', 'head', 'model']
    assert kpt['reached'] == dict(
        backbone=True, neck=False, head=False, model=True)
    assert kpt['grad']['neck']['median'] == 0.0
    assert kpt['grad']['model']['median'] == pytest.approx(
        kpt['grad']['backbone']['median'])
    assert all(rle['reached'].values())
    assert rle['grad']['neck']['median'] > 0
    # the model norm holds every group's
    parts = sum(rle['grad'][g]['median']**2
                for g in ('backbone', 'neck', 'head'))
    assert rle['grad']['model']['median'] == pytest.approx(
        math.sqrt(parts), rel=1e-6)
    assert res['terms']['total']['reached']['neck']
    # lambda 0: the head returns no loss_dlm, so no such row
    no_dlm = tiny_sadi(**{
        'model.head.rle_weight': 1e-7,
        'model.head.lambda_dlm': 0.0
    })
    assert list(no_dlm['terms']) == ['loss_kpt', 'loss_rle', 'total']
    assert _bb(no_dlm, 'loss_rle') == pytest.approx(
        _bb(res, 'loss_rle'), rel=1e-6)


def test_group_norms_of_unused_parameters():
    from mmpose_ext.devkit.benchmark.balance import group_norms
    g = [torch.tensor([3.0]), None, torch.tensor([4.0, 0.0])]
    out = group_norms(g, dict(a=[0, 2], b=[1], model=[0, 1, 2]))
    assert out['a'] == dict(norm=5.0, reached=True)
    assert out['b'] == dict(norm=0.0, reached=False)
    assert out['model'] == dict(norm=5.0, reached=True)


def test_cli_sg_hrnet(repo_root, work_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(repo_root)
    bench = runpy.run_path(osp.join(repo_root, 'tools', 'benchmark.py'))
    out = str(tmp_path / 'balance.json')
    bench['main']([
        'grad-balance', SG, '--width', '8', '--input-size', '64', '64',
        '--batch-size', '2', '--batches', '3', '--threads', '1', '--work-dir',
        work_dir, '--out', out
    ])
    text = capsys.readouterr().out
    header = [ln for ln in text.splitlines() if ln.startswith('| ')][0]
    for col in ('term', 'loss', 'backbone grad norm', 'ratio to loss_kpt',
                'model grad norm'):
        assert col in header
    assert 'Machine:' in text and 'DWAMultiTaskLoss' in text
    res = json.load(open(out))
    assert res['kind'] == 'grad-balance' and res['batches'] == 3
    assert res['input_size'] == [64, 64]
    assert list(res['terms']) == ['loss_kpt', 'loss_seg', 'total']
    # lambda rescaled with the heatmap (16x16 instead of 64x48)
    assert res['rescaled']['task_scales'][1] == pytest.approx(
        1.6e-6 * (64 * 48 / (16 * 16))**2)
    # every batch sees the initial model: DWA's history is empty, its
    # weights 1 (they would move at the third batch otherwise)
    assert res['other']['dwa_w_kpt'] == [1.0] * 3
    assert res['other']['dwa_w_seg'] == [1.0] * 3
    seg = res['terms']['loss_seg']
    assert seg['reached']['backbone'] and not seg['reached']['head']
    per = seg['per_batch']
    ref = res['terms']['loss_kpt']['per_batch']['backbone']
    assert per['ratio'] == pytest.approx(
        [a / b for a, b in zip(per['backbone'], ref)])
    assert seg['ratio']['min'] <= seg['ratio']['median'] <= \
        seg['ratio']['max']
    assert seg['ratio']['median'] == pytest.approx(sorted(per['ratio'])[1])


def test_backbone_grad_scale_scales_only_the_backbone_column(tiny_sadi):
    """The neck's gradient scale: the DLM's terms on the backbone scale
    with it, on the neck and head they do not; L_rfm does not change."""
    a = tiny_sadi(**{'model.neck.backbone_grad_scale': 1e-7})
    b = tiny_sadi(**{'model.neck.backbone_grad_scale': 1e-6})
    for name in ('loss_rle', 'loss_dlm'):
        assert _bb(b, name) / _bb(a, name) == pytest.approx(10, rel=1e-3)
        for g in ('neck', 'head'):
            assert b['terms'][name]['grad'][g]['median'] == pytest.approx(
                a['terms'][name]['grad'][g]['median'], rel=1e-6)
    assert _bb(b, 'loss_kpt') == pytest.approx(_bb(a, 'loss_kpt'), rel=1e-6)
    assert any('backbone_grad_scale' in n and '1e-06' in n for n in b['notes'])
