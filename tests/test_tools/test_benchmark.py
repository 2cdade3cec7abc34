# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""tools/benchmark.py: every subcommand on tiny configs (structure of the
tables and JSON, ratios finite and positive). Timings themselves are not
asserted: this machine is shared and they are benchmarks, not tests."""
import json
import math
import os.path as osp
import runpy

import pytest

BASELINE = 'configs/hrnet_w32_coco_baseline.py'
SG = 'configs/sg_hrnet_w32_coco.py'
SADI = 'configs/sadi_net_mpii.py'
TINY = ['--width', '4', '--shape', '64', '64']
# One thread: on a loaded two-core machine, two OpenMP threads wait for each
# other at every operator of these tiny models (seconds per forward).
ONE = ['--threads', '1']


@pytest.fixture(scope='module')
def bench(repo_root):
    return runpy.run_path(osp.join(repo_root, 'tools', 'benchmark.py'))


def _positive(v):
    return isinstance(v, float) and math.isfinite(v) and v > 0


def _table_header(out, *cols):
    lines = [ln for ln in out.splitlines() if ln.startswith('| ')]
    assert lines, out
    for col in cols:
        assert col in lines[0], (col, lines[0])
    return lines


def test_speed(bench, tmp_path, capsys, monkeypatch, repo_root):
    monkeypatch.chdir(repo_root)
    out = str(tmp_path / 'speed.json')
    res = bench['main']([
        'speed', BASELINE, SG, SADI, *TINY, '--batch', '2', '--repeats', '2',
        '--warmup', '1', '--out', out, '--work-dir',
        str(tmp_path / 'data'), *ONE
    ])
    text = capsys.readouterr().out
    lines = _table_header(text, 'config', 'fwd ratio', 'train ratio',
                          'GMAC/img', 'share of peak')
    assert len(lines) == 1 + 3  # header + 3 rows
    assert 'matmul peak' in text and 'Machine:' in text
    saved = json.load(open(out))
    assert saved['kind'] == 'speed' and saved['batch_size'] == 2
    assert _positive(saved['peak']['gflops'])
    rows = saved['rows']
    assert [r['name'] for r in rows] == [
        'hrnet_w32_coco_baseline', 'sg_hrnet_w32_coco', 'sadi_net_mpii'
    ]
    for r in rows:
        assert r['shape'] == [64, 64]
        assert r['params'] > 0 and r['macs'] > 0
        for what in ('forward', 'train'):
            assert r[what]['n'] == 2
            assert _positive(r[what]['min'])
            assert r[what]['min'] <= r[what]['median']
            assert _positive(r[f'{what}_ratio']['min'])
            assert _positive(r[f'{what}_ratio']['median'])
        assert _positive(r['forward_gflops'])
        assert _positive(r['forward_peak_share'])
    # the reference's ratios are exactly 1
    assert rows[0]['forward_ratio'] == {'min': 1.0, 'median': 1.0}
    # the SGMs add parameters and FLOPs to the same HRNet
    assert rows[1]['params'] > rows[0]['params']
    assert rows[1]['macs'] > rows[0]['macs']
    assert res['machine']['logical_cpus'] >= 1


def test_speed_per_config_overrides(bench, tmp_path, capsys, monkeypatch,
                                    repo_root):
    monkeypatch.chdir(repo_root)
    res = bench['main']([
        'speed', SG, SG, *TINY, '--batch', '1', '--repeats', '1', '--warmup',
        '0', '--no-train', '--no-peak', '--no-flops', '--names', 'sg',
        'no-sgm', '--set', '1', 'model.backbone.sgm_stages=()',
        'model.backbone.final_sgm=False', '--work-dir',
        str(tmp_path / 'data'), *ONE
    ])
    capsys.readouterr()
    sg, plain = res['rows']
    assert (sg['name'], plain['name']) == ('sg', 'no-sgm')
    assert plain['params'] < sg['params']
    assert 'train' not in sg and sg['macs'] is None
    with pytest.raises(SystemExit):
        bench['main'](['speed', SG, '--set', '3', 'a=1'])


def test_codec(bench, tmp_path, capsys):
    out = str(tmp_path / 'codec.json')
    bench['main'](
        ['codec', '--instances', '20', '--repeats', '2', '--out', out, *ONE])
    text = capsys.readouterr().out
    _table_header(text, 'codec', 'encode ratio', 'decode ratio')
    assert 'DiskSegHeatmap' in text and 'MSRAHeatmap' in text
    rows = json.load(open(out))['rows']
    assert [r['name'] for r in rows] == ['MSRAHeatmap', 'DiskSegHeatmap']
    for r in rows:
        for what in ('encode', 'decode'):
            assert _positive(r[what]['median'])
            assert _positive(r[f'{what}_ratio']['median'])
    # another size
    bench['main']([
        'codec', '--instances', '5', '--repeats', '1', '--input-size', '96',
        '128', '--heatmap-size', '24', '32'
    ])
    assert "(96, 128) -> heatmap (24, 32)" in capsys.readouterr().out


def test_pipeline(bench, tmp_path, capsys, monkeypatch, repo_root):
    monkeypatch.chdir(repo_root)
    out = str(tmp_path / 'pipeline.json')
    bench['main']([
        'pipeline', SG, *TINY, '--batch', '2', '--batches', '2',
        '--train-repeats', '1', '--loader-train-iters', '1', '--image-size',
        '160', '120', '--workers', '0', '2', '--out', out, '--work-dir',
        str(tmp_path / 'data'), *ONE
    ])
    text = capsys.readouterr().out
    _table_header(text, 'what', 'samples/s')
    assert 'data pipeline, 0 workers' in text
    assert 'data pipeline, 2 workers' in text
    assert 'training fed by the 2-worker loader' in text
    res = json.load(open(out))
    assert [d['workers'] for d in res['loader']] == [0, 2]
    for d in res['loader']:
        assert _positive(d['samples_per_s'])
    assert _positive(res['train']['samples_per_s'])
    assert _positive(res['train_with_loader']['samples_per_s'])
    assert _positive(res['ratio'])
    assert res['input_shape'] == [64, 64]


def test_learn(bench, tmp_path, capsys, repo_root):
    out = str(tmp_path / 'learn.json')
    bench['main']([
        'learn', '--groups', 'hrnet', 'sadi', '--seeds', '0', '1', '--iters',
        '2', '--width', '4', '--batch', '2', '--num-train', '3', '--num-val',
        '2', '--stacks', '1', '--hrnet-input', '64', '64', '--sadi-input',
        '64', '64', '--out', out, '--work-dir',
        str(tmp_path / 'work'), *ONE, '--cfg-options',
        'train_dataloader.batch_size=1'
    ])
    text = capsys.readouterr().out
    _table_header(text, 'group', 'model', 'metric', 'seed 0', 'seed 1', 'mean',
                  'std', 'vs baseline', 'verdict')
    models = [
        'HRNet (SG recipe)', 'SG-HRNet, no DWA', 'SG-HRNet',
        'Hourglass (ablation)', 'RFM (ablation)', 'SADI-Net'
    ]
    for name in models + ['SADI-Net [mu]', 'SADI-Net [average]']:
        assert name in text
    res = json.load(open(out))
    assert res['cfg_options'] == {'train_dataloader.batch_size': 1}
    # every model, every seed, in order
    assert [(r['model'], r['seed']) for r in res['runs']] == [
        (m, s) for g in (models[:3], models[3:]) for s in (0, 1) for m in g
    ]
    for r in res['runs']:
        assert math.isfinite(r['value']) and r['seconds'] > 0
    sadi = [r for r in res['runs'] if r['model'] == 'SADI-Net']
    assert all(
        set(r['eval_values']) ==
        {'mu', 'mu, six scales', 'average', 'H_rfm, one scale'} for r in sadi)
    # how far the keypoints are, in image pixels, for every SADI row
    assert 'error px' in text
    for name, e in res['groups']['sadi']['rows'].items():
        assert e['epe_px']['n'] == 2 and e['epe_px']['mean'] >= 0, name
    for group in ('hrnet', 'sadi'):
        rows = res['groups'][group]['rows']
        base = res['groups'][group]['baseline']
        for name, e in rows.items():
            assert e['seeds'] == [0, 1] and len(e['values']) == 2
            assert e['min'] <= e['mean'] <= e['max']
            if name != base:
                vs = e['vs_baseline']
                # paired with the baseline seed by seed
                assert vs['diffs'] == pytest.approx(
                    [v - b for v, b in zip(e['values'], rows[base]['values'])])
                assert vs['verdict'] in ('better', 'worse', 'no difference')
    # SG-HRNet's size-dependent settings were rescaled for 16x16 heatmaps
    from mmengine.config import Config
    lam = Config.fromfile(osp.join(repo_root, SG)).model.head.\
        multi_task_loss.task_scales[1]
    sg = [r for r in res['runs'] if r['model'] == 'SG-HRNet'][0]['rescaled']
    assert sg['disk_radius'] == pytest.approx(5 * 16 / 48)
    assert sg['task_scales'][1] == pytest.approx(lam * (64 * 48 / 256)**2)

    # runs split over processes join into the same table
    part = str(tmp_path / 'part.json')
    res2 = dict(res, runs=[r for r in res['runs'] if r['seed'] == 1])
    res1 = dict(
        res,
        runs=[r for r in res['runs'] if r['seed'] == 0],
        machine=dict(res['machine'], cpu='the runs\' CPU'))
    json.dump(res1, open(out, 'w'))
    json.dump(res2, open(part, 'w'))
    merged = bench['main'](['learn', '--merge', out, part, *ONE])
    assert merged['groups'] == res['groups']
    # the machine the runs trained on, not the merging process's
    assert merged['machine']['cpu'] == 'the runs\' CPU'
    with pytest.raises(ValueError, match='appears twice'):
        bench['main'](['learn', '--merge', out, out, *ONE])


def test_learn_verdict_needs_agreeing_seeds_beyond_the_spread():
    from mmpose_ext.devkit.benchmark.learn import _verdict
    assert _verdict([3.0, 2.5, 3.5], 0.5, 0.6) == 'better'
    assert _verdict([-3.0, -2.5, -3.5], 0.5, 0.6) == 'worse'
    # one seed disagrees: no difference, however large the mean
    assert _verdict([9.0, 8.0, -0.5], 0.5, 0.6) == 'no difference'
    # all agree but within a model's spread: no difference
    assert _verdict([1.0, 1.2, 0.8], 2.0, 0.3) == 'no difference'
    assert _verdict([1.0], None, None) == 'too few seeds'


def test_learn_config(repo_root, tmp_path):
    from mmpose_ext.devkit.benchmark.learn import learn_config
    cfg, _ = learn_config(
        SG,
        str(tmp_path),
        str(tmp_path / 'w'),
        width=8,
        input_size=(96, 128),
        iters=50,
        batch_size=4,
        lr=1e-3,
        seed=3)
    assert cfg.model.backbone.extra.stage4.num_channels == (8, 16, 32, 64)
    # HRNet's own random initialisation, not PyTorch's default
    assert cfg.model.backbone.init_cfg[0] == dict(
        type='Normal', std=0.001, layer=['Conv2d'])
    assert cfg.model.head.decoder.input_size == (96, 128)
    assert cfg.model.head.decoder.heatmap_size == (24, 32)
    assert cfg.train_cfg == dict(by_epoch=False, max_iters=50, val_interval=50)
    assert cfg.train_dataloader.batch_size == 4
    assert cfg.optim_wrapper.optimizer == dict(type='Adam', lr=1e-3)
    assert cfg.randomness == dict(seed=3)
    assert cfg.val_dataloader.dataset.bbox_file is None  # GT boxes
    pipeline = cfg.train_dataloader.dataset.pipeline
    affine = [t for t in pipeline if t.type == 'TopdownAffine'][0]
    assert affine.input_size == (96, 128)
    # --cfg-options come last: they override the benchmark's settings too
    cfg, _ = learn_config(
        SG,
        str(tmp_path),
        str(tmp_path / 'w'),
        width=8,
        input_size=(96, 128),
        iters=50,
        batch_size=4,
        lr=1e-3,
        seed=3,
        cfg_options={
            'model.head.multi_task_loss.temperature': 2.0,
            'train_dataloader.batch_size': 2
        })
    assert cfg.model.head.multi_task_loss.temperature == 2.0
    assert cfg.train_dataloader.batch_size == 2


def test_infer(bench, tmp_path, capsys, monkeypatch, repo_root):
    monkeypatch.chdir(repo_root)
    out = str(tmp_path / 'infer.json')
    bench['main']([
        'infer', SG, *TINY, '--repeats', '2', '--warmup', '1', '--backends',
        'eager', 'channels_last_input', 'fuse_bn', 'onnxruntime', '--out', out,
        '--work-dir',
        str(tmp_path / 'work'), *ONE
    ])
    text = capsys.readouterr().out
    _table_header(text, 'backend', 'speed-up vs eager', 'max heatmap diff')
    res = json.load(open(out))
    assert [r['backend'] for r in res['network']
            ] == ['eager', 'channels_last_input', 'fuse_bn', 'onnxruntime']
    for r in res['network']:
        assert r['max_heatmap_diff'] <= 1e-4
        assert _positive(r['speedup']['median'])
    e = res['end_to_end']
    assert e['flip_test'] is True
    assert e['max_heatmap_diff'] <= 1e-4
    assert _positive(e['speedup']['median'])


def test_main_leaves_the_process_as_found(bench, tmp_path, capsys):
    import torch
    from mmengine.logging import MMLogger

    from mmpose_ext.devkit.benchmark import common
    threads = torch.get_num_threads()
    bench['main']([
        'codec', '--instances', '2', '--repeats', '1', '--clock', 'cpu', *ONE
    ])
    # the machine line (printed after the clean-up) names the clock used
    assert ', cpu clock,' in capsys.readouterr().out
    assert torch.get_num_threads() == threads
    assert common.clock_name() == 'wall'
    assert 'mmpose_ext_benchmark' not in MMLogger._instance_dict


def test_dlm_head_split(bench, tmp_path, capsys, repo_root):
    out = str(tmp_path / 'dlm.json')
    res = bench['main']([
        'dlm',
        osp.join(repo_root,
                 SADI), '--batch', '2', '--repeats', '1', '--warmup', '0',
        '--renderers', 'lattice', 'exact flow', '--out', out, *ONE
    ])
    text = capsys.readouterr().out
    _table_header(text, 'renderer', 'L_rfm ms', 'L_dlm ms',
                  'L_dlm share of the head')
    assert [r for r in res['renderers']] == ['lattice', 'exact flow']
    for parts in res['renderers'].values():
        assert set(parts) == {'L_rfm', 'regress', 'RLE', 'L_dlm', 'head'}
        assert all(_positive(p['min']) for p in parts.values())
    saved = json.load(open(out))
    assert saved['num_keypoints'] == 16 and saved['heatmap_size'] == [64, 64]


@pytest.mark.slow
def test_deploy_backends_speed_and_accuracy(bench, tmp_path, capsys,
                                            monkeypatch, repo_root,
                                            real_data_root):
    """deploy: every backend x precision has a speed-up, a keypoint
    difference on the real crops and an AP (small model trained in the
    run); f32 backends match eager, flags follow the thresholds."""
    pytest.importorskip('openvino')
    pytest.importorskip('nncf')
    monkeypatch.chdir(repo_root)
    out = str(tmp_path / 'deploy.json')
    bench['main']([
        'deploy', SG, *TINY, '--repeats', '2', '--warmup', '1', '--calib-num',
        '4', '--real-data', real_data_root, '--train-iters', '2',
        '--train-width', '4', '--train-input', '64', '64', '--train-batch',
        '2', '--num-train', '4', '--num-val', '2', '--out', out, '--work-dir',
        str(tmp_path / 'work'), *ONE
    ])
    text = capsys.readouterr().out
    _table_header(text, 'backend', 'precision', 'speed-up vs eager fp32',
                  'real-crop keypoint diff', 'AP')
    res = json.load(open(out))
    rows = {r['backend']: r for r in res['network']}
    assert list(rows) == [
        'eager', 'onnxruntime', 'openvino-f32', 'openvino-bf16',
        'openvino-int8'
    ]
    assert res['real']['crops'] == {'coco': 12, 'mpii': 5}
    for name, r in rows.items():
        if 'skipped' in r:  # bf16 on a CPU without it: said, not hidden
            assert name == 'openvino-bf16' and 'BF16' in r['skipped']
            continue
        assert _positive(r['speedup']['median'])
        kd = r['real_keypoint_diff']
        assert kd['n'] == 17 * 17  # 17 crops x 17 COCO keypoints
        assert r['flag_keypoints'] == (kd['mean'] > 1.0)
        assert r['flag_ap'] == (r['ap']['drop'] > 0.5)
        if r['precision'] == 'f32':
            assert r['max_heatmap_diff'] <= 1e-4
    assert rows['eager']['real_keypoint_diff']['max'] == 0
    assert rows['eager']['ap']['drop'] == 0
    assert res['int8_calibration']['crops'] == 4
    e = {r['backend']: r for r in res['end_to_end']['rows']}
    assert not e['eager']['batched_flip'] and e['onnxruntime']['batched_flip']
    assert e['onnxruntime']['max_keypoint_diff'] <= 1e-3
    assert _positive(e['openvino-f32']['fps'])


DET = 'configs/detectors/rtmdet_tiny_person_synthetic.py'


def test_runtime_vs_pytorch_path(bench, tmp_path, capsys, monkeypatch,
                                 repo_root):
    """runtime: frames per second of both paths for each person count, the
    runtime's keypoints equal to the PyTorch path's (ONNX Runtime f32 on
    the same boxes), and fresh-process start-ups in which only the PyTorch
    path imports the training stack."""
    monkeypatch.chdir(repo_root)
    out = str(tmp_path / 'runtime.json')
    bench['main']([
        'runtime', SG, DET, *TINY, '--persons', '1', '3', '--repeats', '2',
        '--warmup', '1', '--startup-rounds', '1', '--out', out, '--work-dir',
        str(tmp_path / 'work'), *ONE
    ])
    text = capsys.readouterr().out
    _table_header(text, 'persons', 'PyTorch path fps', 'runtime fps',
                  'keypoint diff')
    assert 'runtime: onnxruntime f32' in text
    res = json.load(open(out))
    rows = res['e2e']['persons']
    assert sorted(rows) == ['1', '3']
    for r in rows.values():
        assert _positive(r['speedup']['median'])
        assert _positive(1 / r['runtime']['median'])
        assert r['kpt_diff_max'] <= 1e-3  # f32: the same keypoints
    start = res['startup']
    assert start['runtime']['heavy'] == []
    assert 'torch' in start['pytorch']['heavy']
    assert start['runtime']['max_rss_mb'] < start['pytorch']['max_rss_mb']


@pytest.mark.slow
def test_runtime_openvino_int8_pose(bench, tmp_path, capsys, monkeypatch,
                                    repo_root):
    """runtime --format openvino --int8-calib N: IRs exported, the pose IR
    quantized, and the runtime runs it (said in the table)."""
    pytest.importorskip('openvino')
    pytest.importorskip('nncf')
    monkeypatch.chdir(repo_root)
    out = str(tmp_path / 'runtime.json')
    bench['main']([
        'runtime', SG, DET, *TINY, '--persons', '1', '--repeats', '2',
        '--warmup', '1', '--startup-rounds', '0', '--format', 'openvino',
        '--int8-calib', '4', '--out', out, '--work-dir',
        str(tmp_path / 'work'), *ONE
    ])
    assert 'runtime: openvino f32 (pose IR int8)' in capsys.readouterr().out
    e2e = json.load(open(out))['e2e']
    assert e2e['pose_ir_precision'] == 'int8'
    assert _positive(e2e['persons']['1']['speedup']['median'])
    assert osp.isfile(str(tmp_path / 'work' / 'models' / 'pose_int8.json'))
