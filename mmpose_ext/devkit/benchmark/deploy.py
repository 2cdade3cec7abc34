# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Deployment backends x precisions: speed AND accuracy, side by side.

For one config, each of eager PyTorch fp32 (the reference), ONNX Runtime
fp32 and OpenVINO f32 / bf16 / int8 is measured in ONE process:

* network speed: preprocessed crop (B, 3, H, W) -> heatmaps, interleaved
  round-robin (reversed every other round), per image; speed-up = eager
  time / backend time (best times, and the median of per-round ratios);
* keypoint difference to eager fp32 on REAL crops (``<real>/coco`` and
  ``<real>/mpii``, read at run time from the caller's folder, never
  copied): each crop's heatmaps decoded by the head's codec into
  network-input pixels, mean and max Euclidean distance per keypoint;
* end to end (``--end-to-end``): ``inference_topdown`` on a generated
  image with one person box and the config's flip / multi-scale test:
  today's PyTorch path (two network calls per flip) vs each backend with
  the batched flip of :class:`~mmpose_ext.apis.TopdownInferencer`;
* AP (``--train-iters N``): a small version of the config (``--train-width``,
  ``--train-input``) trained for N iterations on a generated data set, then
  its generated validation set evaluated by the config's metric with every
  backend (int8 calibrated on generated training crops).

A backend whose keypoints move more than ``1 px`` on average or whose AP
drops more than ``0.5`` points is flagged in the table, not dropped.

Untrained weights (no ``--checkpoint``) give near-flat heatmaps whose
arg-max cells are near ties, so their keypoint differences overstate what a
trained model shows; the table says which weights were used.
"""
import copy
import os
import os.path as osp
import tempfile
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
from mmpose.apis import inference_topdown

from mmpose_ext.apis import init_pose_model
from mmpose_ext.apis import openvino_backend as ovb
from mmpose_ext.apis.batched_flip import enable_batched_flip
from mmpose_ext.apis.crops import dataset_crops
from mmpose_ext.apis.onnx_backend import (HeatmapNet, OnnxHeatmapSession,
                                          attach_onnx_backend, export_onnx)
from .common import (Timer, calibrate_bn, dataset_format, demo_image_and_box,
                     fmt, generate_data, generated_crops, load_config, loadavg,
                     make_offline, md_table, paired_ratios, summarize)

BACKENDS = ('eager', 'onnxruntime', 'openvino-f32', 'openvino-bf16',
            'openvino-int8')
# flags: keypoints moving more than this on average, AP dropping more
KPT_FLAG_PX = 1.0
AP_FLAG = 0.5
# real crops: (sub-folder, annotation file, MMPose data set class)
REAL_SETS = (('coco', 'test_coco.json', 'CocoDataset'),
             ('mpii', 'test_mpii.json', 'MpiiDataset'))


def real_crops(model, real_root: str) -> Dict[str, np.ndarray]:
    """Preprocessed crops of the real COCO / MPII persons under
    ``real_root`` (ground-truth boxes), by the model's test pipeline."""
    out = {}
    for sub, ann, ds_type in REAL_SETS:
        folder = osp.join(real_root, sub)
        if not osp.isfile(osp.join(folder, ann)):
            raise FileNotFoundError(
                f'real crops: "{osp.join(folder, ann)}" is missing (pass '
                '--real-data DIR with coco/ and mpii/ sub-folders, or '
                '--real-data none)')
        out[sub] = dataset_crops(model, osp.join(folder, ann), folder, ds_type)
    return out


def _precision(name: str) -> str:
    return name.split('-', 1)[1] if name.startswith('openvino-') else 'f32'


def export_backends(model,
                    work_dir: str,
                    shape: Sequence[int],
                    names: Sequence[str],
                    dynamic_hw: bool,
                    calib: Optional[np.ndarray],
                    log: Callable = print) -> Dict:
    """Export the files the backends need; returns ``{'onnx': path,
    'ir': path, 'ir_int8': path, 'int8_check': ..., 'skipped': {name:
    why}}``."""
    files: Dict = dict(skipped={})
    os.makedirs(work_dir, exist_ok=True)
    if 'onnxruntime' in names:
        files['onnx'] = osp.join(work_dir, 'model.onnx')
        log('exporting ONNX ...')
        export_onnx(model, files['onnx'], shape, dynamic_hw=dynamic_hw)
    if any(n.startswith('openvino') for n in names):
        files['ir'] = osp.join(work_dir, 'model.xml')
        log('exporting OpenVINO IR ...')
        ovb.export_openvino(model, files['ir'], shape, dynamic_hw=dynamic_hw)
    if 'openvino-bf16' in names:
        try:
            ovb.resolve_precision('bf16')
        except ovb.PrecisionNotSupportedError as e:
            files['skipped']['openvino-bf16'] = str(e)
    if 'openvino-int8' in names:
        if calib is None or not len(calib):
            files['skipped']['openvino-int8'] = 'no calibration crops'
        else:
            files['ir_int8'] = osp.join(work_dir, 'model_int8.xml')
            log(f'quantizing to INT8 on {len(calib)} crops ...')
            decoder = model.head.decoder
            side = ovb.quantize_openvino(
                files['ir'],
                files['ir_int8'],
                calib,
                decode=lambda hm: decoder.decode(hm)[0],
                log=log)
            files['int8_check'] = side['accuracy_check']
    return files


def network_fns(model, files: Dict, names: Sequence[str]) -> Dict:
    """``{name: f(x) -> heatmaps}`` for the backends not skipped."""
    fns = {}
    for name in names:
        if name in files['skipped']:
            continue
        if name == 'eager':
            fns[name] = HeatmapNet(model).eval()
        elif name == 'onnxruntime':
            fns[name] = OnnxHeatmapSession(files['onnx'])
        elif name == 'openvino-int8':
            fns[name] = ovb.OpenVINOHeatmapSession(files['ir_int8'], 'int8')
        elif name.startswith('openvino-'):
            fns[name] = ovb.OpenVINOHeatmapSession(files['ir'],
                                                   _precision(name))
        else:
            raise ValueError(f'unknown backend {name!r} ({BACKENDS})')
    return fns


def attach(model_builder: Callable, files: Dict, name: str):
    """A fresh pose estimator running backend ``name``."""
    model = model_builder()
    if name == 'eager':
        return model
    if name == 'onnxruntime':
        return attach_onnx_backend(model, files['onnx'])
    if name == 'openvino-int8':
        return ovb.attach_openvino_backend(model, files['ir_int8'], 'int8')
    return ovb.attach_openvino_backend(model, files['ir'], _precision(name))


def crop_keypoints(fn, crops: np.ndarray, decoder) -> np.ndarray:
    """(N, K, 2) keypoints (network-input pixels) of crops, batch 1."""
    with torch.inference_mode():
        hms = np.concatenate([
            np.asarray(fn(torch.from_numpy(c[None])), np.float32)
            for c in crops
        ])
    w, h = crops.shape[3], crops.shape[2]
    return ovb.heatmap_keypoints(hms, (w, h), lambda hm: decoder.decode(hm)[0])


def time_interleaved(fns: Dict, inputs_fn: Callable, repeats: int,
                     warmup: int) -> Dict[str, List[float]]:
    """Per-call times of each ``fn(inputs_fn())``, interleaved, every other
    round reversed."""
    times = {b: [] for b in fns}
    items = list(fns.items())
    with torch.inference_mode():
        for r in range(warmup + repeats):
            for b, fn in (items if r % 2 == 0 else items[::-1]):
                with Timer() as t:
                    fn(inputs_fn())
                if r >= warmup:
                    times[b].append(t.seconds)
    return times


def _inverse(r: Dict) -> Dict:
    return {k: (None if v is None else 1.0 / v) for k, v in r.items()}


def run_deploy(config,
               checkpoint: Optional[str] = None,
               backends: Sequence[str] = BACKENDS,
               repeats: int = 20,
               warmup: int = 3,
               real_root: Optional[str] = None,
               calib_num: int = 64,
               end_to_end: bool = True,
               train_iters: int = 0,
               train_width: int = 16,
               train_input: Sequence[int] = (96, 128),
               train_batch: int = 16,
               num_train: int = 200,
               num_val: int = 50,
               cfg_options: Optional[Dict] = None,
               work_dir: Optional[str] = None,
               log: Callable = print) -> Dict:
    """Speed and accuracy of the deployment backends (see the module doc).

    Args:
        config (str | Config): Pose config.
        checkpoint (str, optional): Weights; default: initialised offline
            with BN statistics calibrated on random crops.
        backends (Sequence[str]): Among :data:`BACKENDS`; 'eager' always
            runs (the reference).
        repeats (int): Timed interleaved rounds. Defaults to 20.
        warmup (int): Untimed rounds first (OpenVINO compiles per shape on
            its first call). Defaults to 3.
        real_root (str, optional): Folder with ``coco/`` and ``mpii/`` real
            crops; None: no keypoint difference on real crops.
        calib_num (int): INT8 calibration crops (generated). Defaults to 64.
        end_to_end (bool): Also time ``inference_topdown`` with one box.
        train_iters (int): > 0: train a small version of the config for AP
            (see the module doc). Defaults to 0 (no AP).
        train_width, train_input, train_batch, num_train, num_val: The
            small model's width, input (w, h), batch and generated data set.
        cfg_options (dict, optional): Config overrides.
        work_dir (str, optional): Exported files, generated data.
        log (callable): Progress messages.
    """
    tmp = None
    if work_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix='mmpose_ext_deploy_')
        work_dir = tmp.name
    os.makedirs(work_dir, exist_ok=True)
    names = ['eager'] + [b for b in backends if b != 'eager']
    for b in names:
        if b not in BACKENDS:
            raise ValueError(f'unknown backend {b!r} ({BACKENDS})')
    try:
        load_before = loadavg()
        cfg = make_offline(load_config(config, cfg_options))
        model = init_pose_model(cfg, checkpoint, device='cpu')
        w, h = model.head.decoder.input_size
        shape = (1, 3, h, w)
        if checkpoint is None:  # untrained: realistic BN statistics
            torch.manual_seed(0)
            model.init_weights()
            calibrate_bn(model, torch.randn(8, 3, h, w))
        model.eval()
        ms = (model.test_cfg or {}).get('multiscale_test') or {}
        dynamic_hw = any(s != 1 for s in ms.get('scales', (1.0, )))
        calib = None
        if 'openvino-int8' in names:
            calib = generated_crops(model, work_dir, calib_num)
        files = export_backends(model, work_dir, shape, names, dynamic_hw,
                                calib, log)
        fns = network_fns(model, files, names)

        # network speed, batch 1
        log('network speed ...')
        x = torch.randn(*shape)
        with torch.inference_mode():
            ref = fns['eager'](x)
            hm_diff = {
                b: float((f(x) - ref).abs().max())
                for b, f in fns.items()
            }
        times = time_interleaved(fns, lambda: x, repeats, warmup)
        rows = []
        for b in names:
            row = dict(backend=b, precision=_precision(b))
            if b in files['skipped']:
                row['skipped'] = files['skipped'][b]
                rows.append(row)
                continue
            row.update(
                time=summarize(times[b]),
                speedup=_inverse(paired_ratios(times[b], times['eager'])),
                max_heatmap_diff=hm_diff[b])
            rows.append(row)

        # keypoints on real crops
        real = None
        if real_root:
            log('keypoints on real crops ...')
            sets = real_crops(model, real_root)
            crops = np.concatenate(list(sets.values()))
            decoder = model.head.decoder
            ref_kp = crop_keypoints(fns['eager'], crops, decoder)
            for row in rows:
                if 'skipped' in row:
                    continue
                kd = ovb.keypoint_difference(
                    crop_keypoints(fns[row['backend']], crops, decoder),
                    ref_kp)
                row['real_keypoint_diff'] = kd
                row['flag_keypoints'] = kd['mean'] > KPT_FLAG_PX
            real = dict(
                root=real_root,
                crops={
                    k: int(len(v))
                    for k, v in sets.items()
                })

        result = dict(
            kind='deploy',
            config=str(config)
            if not hasattr(config, 'filename') else config.filename,
            weights='checkpoint' if checkpoint else 'untrained (random)',
            input_shape=shape,
            repeats=repeats,
            threads=torch.get_num_threads(),
            real=real,
            int8_calibration=dict(
                crops=0 if calib is None else int(len(calib)),
                source='generated COCO-format crops',
                check=files.get('int8_check')),
            network=rows)
        if end_to_end:
            result['end_to_end'] = _end_to_end(cfg, model, files, names,
                                               repeats, warmup, work_dir, log)
        if train_iters > 0:
            result['ap'] = _trained_ap(config, cfg_options, names, work_dir,
                                       train_iters, train_width, train_input,
                                       train_batch, num_train, num_val,
                                       calib_num, real_root, log)
            for row in rows:
                ap = result['ap']['backends'].get(row['backend'])
                if ap is not None:
                    row['ap'] = ap
                    row['flag_ap'] = ap['drop'] > AP_FLAG
                    kt = ap.get('real_keypoint_diff')
                    row['flag_keypoints_trained'] = bool(
                        kt and kt['mean'] > KPT_FLAG_PX)
        result['loadavg'] = dict(before=load_before, after=loadavg())
        return result
    finally:
        if tmp is not None:
            tmp.cleanup()


def _end_to_end(cfg, model, files, names, repeats, warmup, work_dir, log):
    """inference_topdown with one box: today's eager path (two network
    calls for the flip test) vs every backend with the batched flip."""
    img, box = demo_image_and_box(cfg, work_dir)

    def builder():
        m = init_pose_model(copy.deepcopy(cfg), None, device='cpu')
        return m.eval()

    models = {'eager': model}  # today's path: MMPose's two-call flip
    for b in names:
        if b == 'eager' or b in files['skipped']:
            continue
        models[b] = enable_batched_flip(attach(builder, files, b))
    log('end to end (inference_topdown) ...')
    ref = inference_topdown(model, img, box)[0].pred_instances.keypoints
    diffs = {
        b:
        float(
            np.abs(
                inference_topdown(m, img, box)[0].pred_instances.keypoints -
                ref).max())
        for b, m in models.items()
    }
    times = time_interleaved(
        {
            b: (lambda _, m=m: inference_topdown(m, img, box))
            for b, m in models.items()
        }, lambda: None, repeats, warmup)
    rows = []
    for b in models:
        t = summarize(times[b])
        rows.append(
            dict(
                backend=b,
                batched_flip=b != 'eager',
                time=t,
                fps=None if not t['median'] else 1.0 / t['median'],
                speedup=_inverse(paired_ratios(times[b], times['eager'])),
                max_keypoint_diff=diffs[b]))
    test_cfg = cfg.model.test_cfg
    return dict(
        flip_test=bool(test_cfg.get('flip_test', False)),
        scales=list((test_cfg.get('multiscale_test')
                     or {}).get('scales', (1.0, ))),
        rows=rows)


def _trained_ap(config, cfg_options, names, work_dir, iters, width, input_size,
                batch, num_train, num_val, calib_num, real_root, log):
    """Train a small version of the config on generated data, then the
    config's metric on the generated val set, per backend (and, with
    ``real_root``, the trained model's keypoint difference on real crops,
    which untrained weights cannot measure)."""
    # the learning benchmark's small-config recipe and trainer
    from mmengine.evaluator import Evaluator  # noqa: PLC0415
    from mmengine.registry import init_default_scope  # noqa: PLC0415
    from mmengine.runner import Runner  # noqa: PLC0415

    from .learn import learn_config  # noqa: PLC0415
    base = make_offline(load_config(config, cfg_options))
    data_root = generate_data(
        dataset_format(base),
        osp.join(work_dir, 'ap_data'),
        num_train,
        num_val,
        seed=0)
    cfg, _ = learn_config(
        config,
        data_root,
        osp.join(work_dir, 'ap_train'),
        width=width,
        input_size=input_size,
        iters=iters,
        batch_size=batch,
        cfg_options=cfg_options)
    log(f'AP: training a width-{width} model for {iters} iterations ...')
    init_default_scope('mmpose')
    runner = Runner.from_cfg(cfg)
    with Timer() as t_train:
        runner.train()
    trained = runner.model
    ckpt = osp.join(work_dir, 'ap_trained.pth')
    torch.save(
        dict(
            state_dict=trained.state_dict(),
            meta=dict(dataset_meta=runner.val_dataloader.dataset.metainfo)),
        ckpt)

    def builder():
        return init_pose_model(copy.deepcopy(cfg), ckpt, device='cpu').eval()

    model = builder()
    w, h = model.head.decoder.input_size
    ms = (model.test_cfg or {}).get('multiscale_test') or {}
    dynamic_hw = any(s != 1 for s in ms.get('scales', (1.0, )))
    calib = None
    if 'openvino-int8' in names:
        calib = generated_crops(model, work_dir, calib_num)
    files = export_backends(model, osp.join(work_dir, 'ap_export'),
                            (1, 3, h, w), names, dynamic_hw, calib, log)
    loader = Runner.build_dataloader(cfg.val_dataloader)
    out = {}
    crops = ref_kp = None
    if real_root:
        crops = np.concatenate(list(real_crops(model, real_root).values()))
        ref_kp = crop_keypoints(
            HeatmapNet(model).eval(), crops, model.head.decoder)
    for b in names:
        if b in files['skipped']:
            continue
        m = attach(builder, files, b)
        if b != 'eager':
            enable_batched_flip(m)
        evaluator = Evaluator(copy.deepcopy(cfg.val_evaluator))
        evaluator.dataset_meta = loader.dataset.metainfo
        with torch.inference_mode():
            for data in loader:
                evaluator.process(
                    data_samples=m.test_step(data), data_batch=data)
        metrics = evaluator.evaluate(len(loader.dataset))
        key = next(k for k in metrics if k.endswith('AP') or 'PCK' in k)
        out[b] = dict(metric=key, value=100 * float(metrics[key]))
        if crops is not None:
            out[b]['real_keypoint_diff'] = ovb.keypoint_difference(
                crop_keypoints(HeatmapNet(m).eval(), crops, m.head.decoder),
                ref_kp)
    ref = out['eager']['value']
    for v in out.values():
        v['drop'] = ref - v['value']
    return dict(
        width=width,
        input_size=list(input_size),
        iters=iters,
        train_seconds=t_train.seconds,
        num_train=num_train,
        num_val=num_val,
        backends=out)


def format_deploy(res: Dict) -> str:
    ap_on = 'ap' in res
    headers = [
        'backend', 'precision', 'network ms/img min / med',
        'speed-up vs eager fp32 min / med', 'real-crop keypoint diff px '
        'mean / max', 'max heatmap diff'
    ] + ([
        'small trained model: AP, drop; real-crop keypoint diff px '
        'mean / max'
    ] if ap_on else []) + ['flag']
    rows = []
    for r in res['network']:
        if 'skipped' in r:
            rows.append([r['backend'], r['precision']] + ['-'] *
                        (len(headers) - 3) + [f'skipped: {r["skipped"]}'])
            continue
        kd = r.get('real_keypoint_diff')
        flags = []
        if r.get('flag_keypoints'):
            flags.append(f'keypoints > {KPT_FLAG_PX:g} px')
        if r.get('flag_keypoints_trained'):
            flags.append(f'trained keypoints > {KPT_FLAG_PX:g} px')
        if r.get('flag_ap'):
            flags.append(f'AP drop > {AP_FLAG:g}')
        line = [
            r['backend'], r['precision'],
            f'{fmt(1e3 * r["time"]["min"], ".1f")} / '
            f'{fmt(1e3 * r["time"]["median"], ".1f")}',
            f'{fmt(r["speedup"]["min"], ".2f")} / '
            f'{fmt(r["speedup"]["median"], ".2f")}',
            (f'{kd["mean"]:.3f} / {kd["max"]:.2f}' if kd else '-'),
            fmt(r['max_heatmap_diff'], '.1e')
        ]
        if ap_on:
            ap = r.get('ap')
            text = '-'
            if ap:
                text = f'{ap["value"]:.1f}, {ap["drop"]:+.1f}'
                kt = ap.get('real_keypoint_diff')
                if kt:
                    text += f'; {kt["mean"]:.3f} / {kt["max"]:.2f}'
            line.append(text)
        line.append(', '.join(flags) or '-')
        rows.append(line)
    out = md_table(headers, rows)
    e = res.get('end_to_end')
    if e:
        out += '\n\n' + md_table([
            'inference_topdown, 1 box', 'flip batched', 'ms min / med',
            'frames/s (med)', 'speed-up min / med', 'max keypoint diff (px)'
        ], [[
            r['backend'], 'yes' if r['batched_flip'] else 'no (MMPose)',
            f'{fmt(1e3 * r["time"]["min"], ".1f")} / '
            f'{fmt(1e3 * r["time"]["median"], ".1f")}',
            fmt(r['fps'], '.1f'), f'{fmt(r["speedup"]["min"], ".2f")} / '
            f'{fmt(r["speedup"]["median"], ".2f")}',
            fmt(r['max_keypoint_diff'], '.2g')
        ] for r in e['rows']])
        out += (f'\n\n- end to end: test pipeline + preprocessing + network '
                f'(flip test {e["flip_test"]}, scales {e["scales"]}) + '
                'decoding, image-pixel keypoint difference to eager')
    real = res.get('real')
    if real:
        out += (f'\n- real crops: {real["crops"]} persons (ground-truth '
                f'boxes) from {real["root"]}; keypoints decoded by the '
                'codec, network-input pixels, vs eager fp32')
    cal = res.get('int8_calibration') or {}
    if cal.get('crops'):
        chk = cal.get('check') or {}
        out += (f'\n- int8: NNCF post-training quantization on '
                f'{cal["crops"]} {cal["source"]}; its own check vs the f32 '
                f'IR: {fmt(chk.get("keypoint_diff_mean"), ".3f")} px mean')
    if 'ap' in res:
        a = res['ap']
        out += (f'\n- AP: width-{a["width"]} version of the config, input '
                f'{tuple(a["input_size"])}, trained {a["iters"]} iterations '
                f'({a["train_seconds"]:.0f} s) on {a["num_train"]} generated '
                f'images, evaluated on {a["num_val"]} generated val images '
                'with the config\'s metric and test-time augmentation')
    out += (f'\n- {res["config"]}, weights: {res["weights"]}, input '
            f'{tuple(res["input_shape"])}, {res["repeats"]} interleaved '
            f'rounds, {res["threads"]} threads; load average '
            f'{res["loadavg"]["before"]} -> {res["loadavg"]["after"]}')
    return out
