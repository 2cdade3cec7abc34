# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""The torch-free runtime (``mmpose_ext_runtime``) against the PyTorch path
(``TopdownInferencer``: MMDet detector + MMPose model, eager PyTorch).

Two measurements:

* end to end, per image: the person detector on the image, then the pose
  model (flip test as configured) on N person boxes (the detector's best,
  topped up with shifted copies when it found fewer), interleaved round by
  round on the same images and boxes; frames per second, paired ratio,
  keypoint difference;
* start-up, each in a fresh process: import, load both models, first frame;
  wall time (interpreter start included), CPU time and peak resident
  memory (``VmHWM``, Linux).
"""
import json
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Callable, Dict, Optional, Sequence

import numpy as np
import torch

import mmpose_ext
from mmpose_ext.apis import (TopdownInferencer, init_person_detector,
                             init_pose_model, read_image)
from mmpose_ext.apis.onnx_backend import export_onnx
from mmpose_ext.apis.openvino_backend import (export_openvino,
                                              quantize_openvino, side_file)
from mmpose_ext.apis.runtime_export import (export_detector_onnx,
                                            export_detector_openvino,
                                            write_pose_spec)
from mmpose_ext_runtime import TopdownRuntime
from .common import (Timer, calibrate_bn, fmt, generated_crops, md_table,
                     paired_ratios, summarize)

_STARTUP = {
    'runtime':
    '''
from mmpose_ext_runtime import TopdownRuntime, read_image
rt = TopdownRuntime(POSE_JSON, DET_JSON, num_threads=THREADS,
                    backend=BACKEND, precision=PRECISION)
poses = rt(read_image(IMAGE))
''',
    'pytorch':
    '''
import torch
torch.set_num_threads(THREADS)
from mmpose_ext.apis import TopdownInferencer
inf = TopdownInferencer(POSE_CFG, POSE_CKPT, det_config=DET_CFG,
                        det_checkpoint=DET_CKPT, device='cpu')
poses = inf(IMAGE)
''',
}
# peak RSS from /proc (VmHWM): Linux keeps ru_maxrss across exec, so a
# child of a big parent would report the parent's
_REPORT = '''
import json, resource, time, sys
u = resource.getrusage(resource.RUSAGE_SELF)
hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')]
print(json.dumps(dict(
    wall_in_process=time.perf_counter() - T0,
    cpu=u.ru_utime + u.ru_stime, max_rss_mb=int(hwm[0].split()[1]) / 1024,
    persons=len(poses.keypoints),
    heavy=[m for m in ('torch', 'mmcv', 'mmengine', 'mmpose', 'mmdet')
           if m in sys.modules])))
'''


def export_models(pose_config: str,
                  pose_checkpoint: Optional[str],
                  det_config: str,
                  det_checkpoint: Optional[str],
                  work_dir: str,
                  model_format: str = 'onnx',
                  int8_calib: int = 0,
                  log: Callable = print) -> Dict:
    """Export the pose model and the detector for the runtime.

    Without a pose checkpoint the initial weights are saved first, with
    batch-norm statistics of generated crops (as the deploy benchmark:
    MMPose's std-0.001 initialisation otherwise drives eval-mode
    activations into subnormal floats, which slow eager PyTorch and not
    the engines).

    Args:
        model_format (str): ``'onnx'`` (.onnx + runtime JSON) or
            ``'openvino'`` (IRs whose side files are the runtime JSONs).
        int8_calib (int): With ``'openvino'``, also quantize the pose IR to
            int8 on this many generated crops (0: no); the runtime then
            runs the int8 pose IR.
    """
    if model_format not in ('onnx', 'openvino'):
        raise ValueError(f"model_format must be 'onnx' or 'openvino', got "
                         f'{model_format!r}')
    if int8_calib and model_format != 'openvino':
        raise ValueError('int8 needs the OpenVINO IR (model_format='
                         "'openvino')")
    os.makedirs(work_dir, exist_ok=True)
    model = init_pose_model(pose_config, pose_checkpoint, device='cpu')
    crops = None
    if pose_checkpoint is None or int8_calib:
        crops = generated_crops(model, work_dir, max(int8_calib, 8))
    if pose_checkpoint is None:
        calibrate_bn(model, torch.from_numpy(crops[:8]))
        model.eval()
        pose_checkpoint = osp.join(work_dir, 'pose_init.pth')
        torch.save(
            dict(
                state_dict=model.state_dict(),
                meta=dict(dataset_meta=model.dataset_meta)), pose_checkpoint)
    w, h = model.head.decoder.input_size
    ms = (model.test_cfg or {}).get('multiscale_test') or {}
    dynamic_hw = any(s != 1 for s in ms.get('scales', (1.0, )))
    det = init_person_detector(det_config, det_checkpoint, device='cpu')
    if det_checkpoint is None:
        det_checkpoint = osp.join(work_dir, 'det_init.pth')
        torch.save(
            dict(
                state_dict=det.state_dict(),
                meta=dict(dataset_meta=det.dataset_meta)), det_checkpoint)
    if model_format == 'onnx':
        pose_file = osp.join(work_dir, 'pose.onnx')
        export_onnx(
            model,
            pose_file, (1, 3, h, w),
            dynamic_hw=dynamic_hw,
            verify=False)
        pose_json = write_pose_spec(model, pose_file)
        det_file = osp.join(work_dir, 'det.onnx')
        det_json = export_detector_onnx(
            det, det_file, (1, 3, 160, 160), verify=False)['spec_file']
    else:
        pose_file = osp.join(work_dir, 'pose.xml')
        export_openvino(
            model,
            pose_file, (1, 3, h, w),
            dynamic_hw=dynamic_hw,
            verify=False)
        pose_json = side_file(pose_file)
        if int8_calib:
            pose_file = osp.join(work_dir, 'pose_int8.xml')
            decoder = model.head.decoder
            quantize_openvino(
                osp.join(work_dir, 'pose.xml'),
                pose_file,
                crops[:int8_calib],
                decode=lambda hm: decoder.decode(hm)[0],
                log=log)
            pose_json = side_file(pose_file)
        det_file = osp.join(work_dir, 'det.xml')
        det_json = export_detector_openvino(
            det, det_file, (1, 3, 160, 160), verify=False)['spec_file']
    log(f'exported {pose_file}, {det_file}')
    return dict(
        pose_config=pose_config,
        pose_checkpoint=pose_checkpoint,
        det_config=det_config,
        det_checkpoint=det_checkpoint,
        pose_json=pose_json,
        det_json=det_json,
        model_format=model_format,
        pose_int8=bool(int8_calib))


def _n_boxes(boxes: np.ndarray, n: int, shape) -> np.ndarray:
    """``n`` boxes: the best detections, then shifted copies."""
    h, w = shape[:2]
    if len(boxes) == 0:
        boxes = np.array([[w * .3, h * .1, w * .7, h * .9, 1.]], np.float32)
    out = [boxes[i % len(boxes)].copy() for i in range(n)]
    for i in range(len(boxes), n):
        out[i][[0, 2]] = np.clip(out[i][[0, 2]] + 7 * i, 0, w - 1)
    return np.stack(out).astype(np.float32)


def run_runtime(files: Dict,
                images: Sequence[str],
                persons: Sequence[int] = (1, 5),
                repeats: int = 10,
                warmup: int = 2,
                threads: int = 1,
                backend: str = 'auto',
                precision: Optional[str] = None,
                log: Callable = print) -> Dict:
    """End-to-end frames per second, PyTorch path vs runtime (``backend``
    and OpenVINO ``precision`` as :class:`TopdownRuntime` takes them)."""
    inf = TopdownInferencer(
        files['pose_config'],
        files['pose_checkpoint'],
        det_config=files['det_config'],
        det_checkpoint=files['det_checkpoint'],
        device='cpu')
    rt = TopdownRuntime(
        files['pose_json'],
        files['det_json'],
        num_threads=threads,
        backend=backend,
        precision=precision)
    imgs = [read_image(p) for p in images]
    rows = {}
    for n in persons:
        times = {'pytorch': [], 'runtime': []}
        kdiff = []
        for r in range(warmup + repeats):
            img = imgs[r % len(imgs)]
            with Timer() as t_pt:
                boxes = _n_boxes(inf.detect(img), n, img.shape)
                ref = inf(img, boxes)
            with Timer() as t_rt:
                rt.detect(img)
                kpts, _ = rt.pose(img, boxes[:, :4])
            if r >= warmup:
                times['pytorch'].append(t_pt.seconds)
                times['runtime'].append(t_rt.seconds)
                kdiff.append(np.abs(kpts - ref.keypoints).max(-1).ravel())
        kd = np.concatenate(kdiff)
        rows[n] = dict(
            pytorch=summarize(times['pytorch']),
            runtime=summarize(times['runtime']),
            speedup=paired_ratios(times['pytorch'], times['runtime']),
            kpt_diff_mean=float(kd.mean()),
            kpt_diff_max=float(kd.max()))
        log(f'{n} persons: PyTorch {1 / rows[n]["pytorch"]["median"]:.2f} '
            f'fps, runtime {1 / rows[n]["runtime"]["median"]:.2f} fps')
    return dict(
        persons=rows,
        threads=threads,
        images=len(images),
        backend=rt.pose.session.backend,
        precision=precision or 'f32',
        pose_ir_precision=rt.pose.session.ir_precision)


def run_startup(files: Dict,
                image: str,
                threads: int = 1,
                rounds: int = 2,
                backend: str = 'auto',
                precision: Optional[str] = None,
                log: Callable = print) -> Dict:
    """Import + model loading + first frame in fresh processes, rounds of
    (runtime, PyTorch) alternating."""
    consts = dict(
        POSE_JSON=files['pose_json'],
        DET_JSON=files['det_json'],
        POSE_CFG=files['pose_config'],
        POSE_CKPT=files['pose_checkpoint'],
        DET_CFG=files['det_config'],
        DET_CKPT=files['det_checkpoint'],
        IMAGE=image,
        THREADS=threads,
        BACKEND=backend,
        PRECISION=precision)
    head = 'import time\nT0 = time.perf_counter()\n' + ''.join(
        f'{k} = {v!r}\n' for k, v in consts.items())
    env = dict(
        os.environ,
        OMP_NUM_THREADS=str(threads),
        PYTHONPATH=os.pathsep.join(
            p for p in (
                osp.dirname(osp.dirname(osp.abspath(mmpose_ext.__file__))),
                os.environ.get('PYTHONPATH')) if p))
    res = {k: [] for k in _STARTUP}
    for _ in range(rounds):
        for name, body in _STARTUP.items():
            t0 = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, '-c', head + body + _REPORT],
                capture_output=True,
                text=True,
                env=env)
            wall = time.perf_counter() - t0
            if proc.returncode != 0:
                raise RuntimeError(f'{name} start-up run failed:\n'
                                   f'{proc.stderr[-2000:]}')
            out = json.loads(proc.stdout.strip().splitlines()[-1])
            out['wall'] = wall
            res[name].append(out)
            log(f'{name}: {wall:.2f} s wall, {out["cpu"]:.2f} s CPU, '
                f'{out["max_rss_mb"]:.0f} MB')
    return {
        k:
        dict(
            wall=min(r['wall'] for r in v),
            cpu=min(r['cpu'] for r in v),
            max_rss_mb=min(r['max_rss_mb'] for r in v),
            persons=v[0]['persons'],
            heavy=v[0]['heavy'])
        for k, v in res.items()
    }


def format_runtime(res: Dict) -> str:
    rows = []
    for n, r in res['e2e']['persons'].items():
        pt, rt = r['pytorch']['median'], r['runtime']['median']
        rows.append([
            n,
            fmt(1 / pt),
            fmt(1 / rt),
            fmt(r['speedup']['median'], '.2f') + 'x',
            fmt(r['kpt_diff_mean'], '.3f'),
            fmt(r['kpt_diff_max'], '.3f')
        ])
    e2e = res['e2e']
    int8 = ' (pose IR int8)' if e2e.get('pose_ir_precision') == 'int8' \
        else ''
    text = (f"runtime: {e2e.get('backend', '?')} {e2e.get('precision', 'f32')}"
            f"{int8}, {e2e['threads']} thread(s) per network\n\n")
    text += md_table([
        'persons', 'PyTorch path fps', 'runtime fps', 'speed-up (paired '
        'median)', 'keypoint diff mean (px)', 'max (px)'
    ], rows)
    if res.get('startup'):
        s = res['startup']
        rows = [[
            k,
            fmt(v['wall']),
            fmt(v['cpu']),
            fmt(v['max_rss_mb'], '.0f'),
            v.get('persons', '-'), ', '.join(v['heavy']) or 'none'
        ] for k, v in s.items()]
        text += '\n\n' + md_table([
            'start-up: import + load + first frame', 'wall (s)', 'CPU (s)',
            'peak RSS (MB)', 'persons in the first frame',
            'heavy modules imported'
        ], rows)
        wall = s['runtime']['wall'] / s['pytorch']['wall']
        mem = s['runtime']['max_rss_mb'] / s['pytorch']['max_rss_mb']
        text += (f'\n\nruntime / PyTorch path: start-up wall time '
                 f'{wall:.2f}, peak memory {mem:.2f}')
    return text
