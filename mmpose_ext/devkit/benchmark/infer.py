# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""CPU inference paths of one model, interleaved: eager PyTorch, its
variants (``channels_last``, conv-BN folding, ``torch.compile``) and ONNX
Runtime.

Two measurements:

* network: preprocessed crops (B, 3, H, W) -> heatmaps (what the ONNX graph
  computes), per backend, with the largest heatmap difference to eager;
* end to end: ``mmpose.apis.inference_topdown`` on a generated image with
  one person box (test pipeline, data preprocessor, flip test as
  configured, decoding), eager PyTorch vs. ONNX Runtime, with the largest
  keypoint and heatmap differences.
"""
import copy
import os
import os.path as osp
import tempfile
from typing import Callable, Dict, Optional, Sequence

import numpy as np
import torch
from mmcv.cnn import fuse_conv_bn
from mmpose.apis import inference_topdown

from mmpose_ext.apis import init_pose_model
from mmpose_ext.apis.onnx_backend import (HeatmapNet, OnnxHeatmapSession,
                                          attach_onnx_backend, export_onnx)
from .common import (Timer, calibrate_bn, demo_image_and_box, fmt, load_config,
                     loadavg, make_offline, md_table, paired_ratios, summarize)
from .speed import matmul_peak

BACKENDS = ('eager', 'channels_last_input', 'channels_last', 'fuse_bn',
            'fuse_bn+channels_last', 'compile', 'onnxruntime')


def _net(model):
    return HeatmapNet(model).eval()


def build_backends(model,
                   onnx_file: str,
                   shape: Sequence[int],
                   backends: Sequence[str],
                   log: Callable = print) -> Dict:
    """Callables ``f(x) -> heatmaps`` for each backend."""
    base = _net(model)
    fns = {}
    for name in backends:
        if name == 'eager':
            fns[name] = base
        elif name == 'channels_last_input':  # ChannelsLastPoseDataPreprocessor
            fns[name] = lambda x: base(
                x.contiguous(memory_format=torch.channels_last))
        elif name == 'channels_last':
            net = copy.deepcopy(base).to(memory_format=torch.channels_last)
            fns[name] = lambda x, net=net: net(
                x.contiguous(memory_format=torch.channels_last))
        elif name == 'fuse_bn':
            fns[name] = fuse_conv_bn(copy.deepcopy(base)).eval()
        elif name == 'fuse_bn+channels_last':
            net = fuse_conv_bn(copy.deepcopy(base)).eval().to(
                memory_format=torch.channels_last)
            fns[name] = lambda x, net=net: net(
                x.contiguous(memory_format=torch.channels_last))
        elif name == 'compile':  # Inductor; freezing folds BN, prepacks
            # Inductor is heavy to import; only this backend needs it
            import torch._inductor.config as inductor_config  # noqa: PLC0415
            inductor_config.freezing = True  # options={...} does not apply
            net = torch.compile(copy.deepcopy(base))
            x = torch.randn(*shape)
            log('torch.compile: compiling ...')
            with Timer() as t, torch.inference_mode():
                net(x)
            log(f'torch.compile: first call {t.seconds:.0f} s')
            fns[name] = net
        elif name == 'onnxruntime':
            fns[name] = OnnxHeatmapSession(onnx_file)
        else:
            raise ValueError(f'unknown backend {name!r} ({BACKENDS})')
    return fns


def run_infer(config,
              checkpoint: Optional[str] = None,
              batch_size: int = 1,
              repeats: int = 20,
              warmup: int = 3,
              backends: Sequence[str] = ('eager', 'channels_last_input',
                                         'channels_last', 'fuse_bn',
                                         'fuse_bn+channels_last',
                                         'onnxruntime'),
              end_to_end: bool = True,
              cfg_options: Optional[Dict] = None,
              work_dir: Optional[str] = None,
              log: Callable = print,
              flops_fn: Optional[Callable] = None,
              peak: bool = False) -> Dict:
    """Time the inference backends of one config (see the module doc).

    Args:
        config (str | Config): Pose config.
        checkpoint (str, optional): Weights (default: initialised offline).
        batch_size (int): Crops per network call. Defaults to 1.
        repeats (int): Timed interleaved rounds. Defaults to 20.
        warmup (int): Untimed rounds first. Defaults to 3.
        backends (Sequence[str]): Among :data:`BACKENDS`; 'eager' is the
            reference and always runs.
        end_to_end (bool): Also time ``inference_topdown`` (eager vs ONNX
            Runtime). Defaults to True.
        cfg_options (dict, optional): Config overrides.
        work_dir (str, optional): For the ONNX file and the image.
        log (callable): Progress messages.
        flops_fn (callable, optional): ``get_complexity(cfg, shape)``; adds
            achieved GFLOP/s (2 x MAC / best time) per backend.
        peak (bool): Measure the matmul peak first and add each backend's
            share of it. Defaults to False.
    """
    tmp = None
    if work_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix='mmpose_ext_infer_')
        work_dir = tmp.name
    os.makedirs(work_dir, exist_ok=True)
    try:
        load_before = loadavg()
        peak_res = matmul_peak() if peak else None
        cfg = make_offline(load_config(config, cfg_options))
        model = init_pose_model(cfg, checkpoint, device='cpu')
        w, h = model.head.decoder.input_size
        shape = (batch_size, 3, h, w)
        if checkpoint is None:  # untrained: realistic BN statistics
            torch.manual_seed(0)
            model.init_weights()
            calibrate_bn(model, torch.randn(8, 3, h, w))
        model.eval()
        ms = (model.test_cfg or {}).get('multiscale_test') or {}
        dynamic_hw = any(s != 1 for s in ms.get('scales', (1.0, )))
        onnx_file = osp.join(work_dir, 'model.onnx')
        log('exporting ONNX ...')
        export_onnx(model, onnx_file, shape, dynamic_hw=dynamic_hw)
        backends = ['eager'] + [b for b in backends if b != 'eager']
        fns = build_backends(model, onnx_file, shape, backends, log)

        x = torch.randn(*shape)
        times = {b: [] for b in backends}
        with torch.inference_mode():
            ref = fns['eager'](x)
            diffs = {b: float((fns[b](x) - ref).abs().max()) for b in fns}
            items = list(fns.items())
            for r in range(warmup + repeats):
                # interleaved, every other round in reverse order
                for b, fn in (items if r % 2 == 0 else items[::-1]):
                    with Timer() as t:
                        fn(x)
                    if r >= warmup:
                        times[b].append(t.seconds / batch_size)
        macs = flops_fn(cfg, (h, w))['flops'] if flops_fn else None
        rows = []
        for b in backends:
            row = dict(
                backend=b,
                time=summarize(times[b]),
                speedup=_inverse(paired_ratios(times[b], times['eager'])),
                max_heatmap_diff=diffs[b])
            if macs:
                row['gflops'] = 2 * macs / row['time']['min'] / 1e9
                if peak_res:
                    row['peak_share'] = row['gflops'] / peak_res['gflops']
            rows.append(row)
        result = dict(
            kind='infer',
            config=str(config)
            if not hasattr(config, 'filename') else config.filename,
            input_shape=shape,
            repeats=repeats,
            threads=torch.get_num_threads(),
            macs=macs,
            peak=peak_res,
            network=rows)
        if end_to_end:
            result['end_to_end'] = _end_to_end(cfg, model, onnx_file, repeats,
                                               warmup, work_dir, log)
        result['loadavg'] = dict(before=load_before, after=loadavg())
        return result
    finally:
        if tmp is not None:
            tmp.cleanup()


def _inverse(r: Dict) -> Dict:
    return {k: (None if v is None else 1.0 / v) for k, v in r.items()}


def _end_to_end(cfg, model, onnx_file, repeats, warmup, work_dir, log):
    """inference_topdown with one box: eager vs ONNX Runtime."""
    img, box = demo_image_and_box(cfg, work_dir)
    heat_cfg = copy.deepcopy(cfg)
    heat_cfg.model.test_cfg.output_heatmaps = True
    eager = model
    eager.test_cfg['output_heatmaps'] = True
    ort_model = attach_onnx_backend(
        init_pose_model(heat_cfg, None, device='cpu'), onnx_file)
    log('end to end (inference_topdown) ...')
    a = inference_topdown(eager, img, box)[0]
    b = inference_topdown(ort_model, img, box)[0]
    kpt_diff = float(
        np.abs(a.pred_instances.keypoints - b.pred_instances.keypoints).max())
    hm_diff = float(
        (a.pred_fields.heatmaps - b.pred_fields.heatmaps).abs().max())
    times = dict(eager=[], onnxruntime=[])
    pair = [('eager', eager), ('onnxruntime', ort_model)]
    for r in range(warmup + repeats):
        for name, m in (pair if r % 2 == 0 else pair[::-1]):
            with Timer() as t:
                inference_topdown(m, img, box)
            if r >= warmup:
                times[name].append(t.seconds)
    return dict(
        flip_test=bool(cfg.model.test_cfg.get('flip_test', False)),
        scales=list((cfg.model.test_cfg.get('multiscale_test')
                     or {}).get('scales', (1.0, ))),
        time=dict(
            eager=summarize(times['eager']),
            onnxruntime=summarize(times['onnxruntime'])),
        speedup=_inverse(paired_ratios(times['onnxruntime'], times['eager'])),
        max_keypoint_diff=kpt_diff,
        max_heatmap_diff=hm_diff)


def format_infer(res: Dict) -> str:
    headers = [
        'backend', 'network ms/img min / med', 'speed-up vs eager '
        'min / med', 'max heatmap diff'
    ]
    flops = any('gflops' in r for r in res['network'])
    share = any('peak_share' in r for r in res['network'])
    headers += ['GFLOP/s'] * flops + ['share of peak'] * share
    rows = []
    for r in res['network']:
        line = [
            r['backend'], f'{fmt(1e3 * r["time"]["min"], ".1f")} / '
            f'{fmt(1e3 * r["time"]["median"], ".1f")}',
            f'{fmt(r["speedup"]["min"], ".2f")} / '
            f'{fmt(r["speedup"]["median"], ".2f")}',
            fmt(r['max_heatmap_diff'], '.1e')
        ]
        if flops:
            line.append(fmt(r.get('gflops'), '.1f'))
        if share:
            line.append(fmt(100 * r['peak_share'], '.0f') + '%')
        rows.append(line)
    out = md_table(headers, rows)
    e = res.get('end_to_end')
    if e:
        out += '\n\n' + md_table([
            'inference_topdown, 1 box', 'ms min / med', 'speed-up min / med',
            'max keypoint diff (px)', 'max heatmap diff'
        ], [[
            'eager PyTorch',
            f'{fmt(1e3 * e["time"]["eager"]["min"], ".1f")} / '
            f'{fmt(1e3 * e["time"]["eager"]["median"], ".1f")}', '1.00', '-',
            '-'
        ],
            [
                'ONNX Runtime',
                f'{fmt(1e3 * e["time"]["onnxruntime"]["min"], ".1f")} / '
                f'{fmt(1e3 * e["time"]["onnxruntime"]["median"], ".1f")}',
                f'{fmt(e["speedup"]["min"], ".2f")} / '
                f'{fmt(e["speedup"]["median"], ".2f")}',
                fmt(e['max_keypoint_diff'], '.2g'),
                fmt(e['max_heatmap_diff'], '.1e')
            ]])
        out += (f'\n\n- end to end: test pipeline + preprocessing + network'
                f' (flip test {e["flip_test"]}, scales {e["scales"]}) + '
                'decoding')
    if res.get('peak'):
        out += (f'\n- matmul peak {res["peak"]["gflops"]:.1f} GFLOP/s; '
                f'{res["macs"] / 1e9:.2f} GMAC/img, GFLOP/s = 2 x MAC / '
                'best time')
    out += (f'\n- {res["config"]}, input {tuple(res["input_shape"])}, '
            f'{res["repeats"]} interleaved rounds, {res["threads"]} threads; '
            f'load average {res["loadavg"]["before"]} -> '
            f'{res["loadavg"]["after"]}')
    return out
