# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Benchmarks: speed, codec, data pipeline, learning, inference backends.

Every subcommand prints a Markdown table (and the machine it ran on) and,
with ``--out FILE.json``, writes the full result as JSON. Measurements run
in ONE process, interleaved round-robin, and report min and median; see
``docs/benchmarks.md`` for the tables measured on the project machine.

    # forward / training step per image, ratios to the first config,
    # GFLOPs, achieved GFLOP/s and share of the measured matmul peak
    python tools/benchmark.py speed configs/hrnet_w32_coco_baseline.py \\
        configs/sg_hrnet_w32_coco.py --batch 8 --repeats 10

    # DiskSegHeatmap vs MSRAHeatmap encode / decode per instance
    python tools/benchmark.py codec

    # data pipeline samples/s (0 and 2 workers) beside training throughput
    python tools/benchmark.py pipeline configs/sg_hrnet_w32_coco.py --batch 8

    # baselines vs the papers' models, trained alike on generated data,
    # three seeds (mean, spread, paired differences)
    python tools/benchmark.py learn --groups hrnet sadi --seeds 0 1 2

    # eager PyTorch vs channels_last / conv-BN folding / compile / ONNX RT
    python tools/benchmark.py infer configs/sg_hrnet_w32_coco.py --batch 1

    # the torch-free runtime vs the PyTorch path: detector + pose end to
    # end at 1 and 5 persons per image, and start-up time and memory
    python tools/benchmark.py runtime configs/sg_hrnet_w32_coco.py \
        configs/detectors/rtmdet_tiny_person_synthetic.py --threads 1

    # deployment backends x precisions (eager fp32, ONNX Runtime, OpenVINO
    # f32 / bf16 / int8): speed-up, keypoint difference on real crops, end
    # to end with flip, and AP of a small model trained here (--train-iters)
    python tools/benchmark.py deploy configs/sg_hrnet_w32_coco.py \
        --threads 1 --clock cpu --real-data ../shared/data/real \
        --train-iters 300

    # where SADI-Net's DLM head spends its time, per heatmap renderer
    python tools/benchmark.py dlm configs/sadi_net_mpii.py --batch 32

    # gradient norm of every loss term on the shared backbone at init, and
    # its ratio to loss_kpt's (the loss weights' justification)
    python tools/benchmark.py grad-balance configs/sadi_net_mpii.py \\
        --width 16 --input-size 128 128 --batches 3 \\
        --cfg-options model.head.rle_weight=1e-6

Common options: ``--threads`` (default 2), ``--out``, ``--work-dir``.
Config arguments accept ``mmpose::path/in/mmpose/configs.py``. For tiny
runs, ``--width W`` shrinks HRNet-family and SADI-Net configs and
``--shape H W`` changes the input size. ``--set I KEY=VALUE ...`` overrides
settings of the I-th config only (0-based), ``--cfg-options`` of all, e.g.
SADI-Net against MMPose's HourglassNet narrowed to similar FLOPs::

    python tools/benchmark.py speed configs/sadi_net_mpii.py \\
        mmpose::body_2d_keypoint/topdown_heatmap/mpii/\\
td-hm_hourglass52_8xb64-210e_mpii-256x256.py --batch 4 \\
        --set 1 "model.backbone.stage_channels=(128,128,192,192,192,256)" \\
        model.backbone.feat_channel=128 model.head.in_channels=128
"""
import argparse
import contextlib
import json
import os
import os.path as osp
import sys
import tempfile
import warnings
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.config import DictAction
from mmengine.logging import MMLogger

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:  # run from a checkout without pip install -e
    sys.path.insert(0, REPO_ROOT)

import mmpose_ext  # noqa: F401  (registers the plugin's modules)
from mmpose_ext.devkit.benchmark import common
from mmpose_ext.devkit.benchmark.balance import format_balance, run_balance
from mmpose_ext.devkit.benchmark.codec import (codec_pair, format_codec,
                                               run_codec)
from mmpose_ext.devkit.benchmark.common import resolve_config
from mmpose_ext.devkit.benchmark.deploy import BACKENDS as DEPLOY_BACKENDS
from mmpose_ext.devkit.benchmark.deploy import format_deploy, run_deploy
from mmpose_ext.devkit.benchmark.dlm import RENDERERS, format_dlm, run_dlm
from mmpose_ext.devkit.benchmark.flops import get_complexity
from mmpose_ext.devkit.benchmark.infer import format_infer, run_infer
from mmpose_ext.devkit.benchmark.learn import (GROUPS, format_learn,
                                               merge_learn, run_learn)
from mmpose_ext.devkit.benchmark.pipeline import format_pipeline, run_pipeline
from mmpose_ext.devkit.benchmark.runtime import (export_models, format_runtime,
                                                 run_runtime, run_startup)
from mmpose_ext.devkit.benchmark.speed import (format_speed, profile_cases,
                                               run_speed)

_LOGGER = 'mmpose_ext_benchmark'


def _common(p):
    p.add_argument('--out', help='write the result as JSON here')
    p.add_argument(
        '--threads', type=int, default=2, help='torch threads (default 2)')
    p.add_argument(
        '--work-dir',
        help='folder for generated data (default: '
        'a temporary one)')
    p.add_argument(
        '--clock',
        choices=['wall', 'cpu'],
        default='wall',
        help="'cpu': this process's CPU time, robust on a shared "
        'machine with --threads 1 (default: wall)')
    p.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='overrides applied to every config')


def _model_opts(p, multi: bool):
    p.add_argument(
        '--width',
        type=int,
        default=None,
        help='shrink the model(s) to this branch width')
    p.add_argument(
        '--shape',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        default=None,
        help='input height and width')
    if multi:
        p.add_argument('--names', nargs='+', help='names shown in the table')
        p.add_argument(
            '--set',
            nargs='+',
            action='append',
            default=[],
            metavar='I KEY=VALUE',
            help='overrides of the I-th config (0-based)')


def parse_args(argv: Optional[Sequence[str]] = None):
    parser = argparse.ArgumentParser(
        description='mmpose_ext benchmarks (Markdown tables, JSON with '
        '--out)')
    sub = parser.add_subparsers(dest='command', required=True)

    p = sub.add_parser('speed', help='forward / training step per image')
    p.add_argument('configs', nargs='+')
    p.add_argument('--batch', type=int, default=8)
    p.add_argument('--repeats', type=int, default=10)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument(
        '--no-train', action='store_true', help='time the forward pass only')
    p.add_argument(
        '--no-peak', action='store_true', help='skip the matmul peak probe')
    p.add_argument(
        '--no-flops', action='store_true', help='skip the FLOP count')
    p.add_argument(
        '--profile',
        type=int,
        default=0,
        metavar='N',
        help='after timing, print the N most expensive operators '
        '(torch.profiler) of one forward and one training step '
        'per config')
    _model_opts(p, multi=True)
    _common(p)

    p = sub.add_parser('codec', help='DiskSegHeatmap vs MSRAHeatmap')
    p.add_argument('--instances', type=int, default=200)
    p.add_argument('--repeats', type=int, default=10)
    p.add_argument(
        '--input-size',
        type=int,
        nargs=2,
        metavar=('W', 'H'),
        default=None,
        help='default 192 256')
    p.add_argument(
        '--heatmap-size',
        type=int,
        nargs=2,
        metavar=('W', 'H'),
        default=None,
        help='default 48 64')
    _common(p)

    p = sub.add_parser('pipeline', help='data pipeline vs training')
    p.add_argument('config')
    p.add_argument('--batch', type=int, default=8)
    p.add_argument('--workers', type=int, nargs='+', default=[0, 2])
    p.add_argument(
        '--batches', type=int, default=10, help='timed batches per loader')
    p.add_argument('--train-repeats', type=int, default=5)
    p.add_argument(
        '--loader-train-iters',
        type=int,
        default=3,
        help='training iterations fed by the loader (0: skip)')
    p.add_argument(
        '--image-size',
        type=int,
        nargs=2,
        metavar=('W', 'H'),
        default=[640, 480],
        help='generated image size')
    _model_opts(p, multi=False)
    _common(p)

    p = sub.add_parser(
        'learn',
        help='baselines vs paper models on '
        'generated data, several seeds')
    p.add_argument(
        '--groups',
        '--pairs',
        dest='groups',
        nargs='+',
        default=['hrnet', 'sadi'],
        choices=sorted(GROUPS))
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument(
        '--models',
        nargs='+',
        default=None,
        help='only these models of the groups (by name)')
    p.add_argument(
        '--merge',
        nargs='+',
        metavar='JSON',
        default=None,
        help='no training: join earlier --out files (same '
        'settings) into one table')
    p.add_argument('--iters', type=int, default=500)
    p.add_argument('--width', type=int, default=16)
    p.add_argument('--batch', type=int, default=16)
    p.add_argument('--lr', type=float, default=1e-3)
    p.add_argument('--num-train', type=int, default=300)
    p.add_argument('--num-val', type=int, default=60)
    p.add_argument('--data-seed', type=int, default=0)
    p.add_argument(
        '--workers', type=int, default=0, help='training loader workers')
    p.add_argument(
        '--stacks',
        type=int,
        default=2,
        help='hourglass stacks of the SADI pair')
    p.add_argument(
        '--hrnet-input',
        type=int,
        nargs=2,
        metavar=('W', 'H'),
        default=None,
        help='default 96 128')
    p.add_argument(
        '--sadi-input',
        type=int,
        nargs=2,
        metavar=('W', 'H'),
        default=None,
        help='default 128 128')
    p.add_argument(
        '--log-interval',
        type=int,
        default=0,
        help='MMEngine training log interval (0: quiet)')
    _common(p)

    p = sub.add_parser('infer', help='CPU inference backends of one model')
    p.add_argument('config')
    p.add_argument('--checkpoint', default=None)
    p.add_argument('--batch', type=int, default=1)
    p.add_argument('--repeats', type=int, default=20)
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument(
        '--backends',
        nargs='+',
        default=[
            'eager', 'channels_last_input', 'channels_last', 'fuse_bn',
            'fuse_bn+channels_last', 'onnxruntime'
        ],
        help='among eager (NCHW), channels_last_input (NCHW weights, NHWC '
        'input: what ChannelsLastPoseDataPreprocessor gives), '
        'channels_last (weights too), fuse_bn, fuse_bn+channels_last, '
        'compile, onnxruntime')
    p.add_argument('--no-end-to-end', action='store_true')
    p.add_argument(
        '--peak',
        action='store_true',
        help='add GFLOP/s and the share of the matmul peak')
    _model_opts(p, multi=False)
    _common(p)

    p = sub.add_parser(
        'runtime',
        help='torch-free runtime vs the PyTorch path, detector + pose')
    p.add_argument('config', help='pose config')
    p.add_argument('det_config', help='RTMDet detector config')
    p.add_argument('--checkpoint', help='pose weights (default: initial)')
    p.add_argument('--det-checkpoint', help='detector weights')
    p.add_argument('--persons', type=int, nargs='+', default=[1, 5])
    p.add_argument('--repeats', type=int, default=10)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument(
        '--images', nargs='+', help='images (default: generated ones)')
    p.add_argument('--startup-rounds', type=int, default=2)
    _model_opts(p, multi=False)
    p.add_argument(
        '--backend',
        default='auto',
        choices=('auto', 'onnxruntime', 'openvino'),
        help="the runtime's engine (auto: ONNX Runtime where installed)")
    p.add_argument(
        '--precision',
        default=None,
        choices=('f32', 'bf16'),
        help='OpenVINO inference precision of both networks (default f32)')
    p.add_argument(
        '--format',
        default='onnx',
        choices=('onnx', 'openvino'),
        help='export ONNX files or OpenVINO IRs for the runtime')
    p.add_argument(
        '--int8-calib',
        type=int,
        default=0,
        metavar='N',
        help='openvino: run the pose IR quantized to int8 on N generated '
        'crops')
    _common(p)

    p = sub.add_parser(
        'deploy',
        help='deployment backends x precisions: speed-up, keypoint '
        'difference on real crops, end to end, AP')
    p.add_argument('config')
    p.add_argument('--checkpoint', default=None)
    p.add_argument('--repeats', type=int, default=20)
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument(
        '--backends',
        nargs='+',
        default=list(DEPLOY_BACKENDS),
        choices=list(DEPLOY_BACKENDS))
    p.add_argument(
        '--real-data',
        default=osp.join(osp.dirname(REPO_ROOT), 'shared', 'data', 'real'),
        help='folder with coco/ and mpii/ real crops, read in place '
        '(default: ../shared/data/real beside the checkout); "none" skips '
        'the real-crop keypoint difference')
    p.add_argument(
        '--calib-num',
        type=int,
        default=64,
        help='INT8 calibration crops (generated)')
    p.add_argument('--no-end-to-end', action='store_true')
    p.add_argument(
        '--train-iters',
        type=int,
        default=0,
        help='> 0: train a small version of the config this many '
        'iterations on generated data and report its AP per backend')
    p.add_argument('--train-width', type=int, default=16)
    p.add_argument(
        '--train-input',
        type=int,
        nargs=2,
        default=(96, 128),
        metavar=('W', 'H'))
    p.add_argument('--train-batch', type=int, default=16)
    p.add_argument('--num-train', type=int, default=200)
    p.add_argument('--num-val', type=int, default=50)
    _model_opts(p, multi=False)
    _common(p)

    p = sub.add_parser(
        'dlm', help="time split of SADI-Net's DLM head per "
        'renderer')
    p.add_argument('config')
    p.add_argument('--batch', type=int, default=32)
    p.add_argument('--repeats', type=int, default=10)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument(
        '--renderers',
        nargs='+',
        default=list(RENDERERS),
        choices=list(RENDERERS))
    _common(p)

    p = sub.add_parser(
        'grad-balance',
        help='gradient norm of every loss term on the '
        'backbone, at initialisation')
    p.add_argument('config')
    p.add_argument(
        '--batches', type=int, default=3, help='batches measured (N)')
    p.add_argument('--batch-size', '--batch', type=int, default=16)
    p.add_argument(
        '--width',
        type=int,
        default=None,
        help='shrink the model to this branch width (default: as is)')
    p.add_argument(
        '--input-size',
        type=int,
        nargs=2,
        metavar=('W', 'H'),
        default=None,
        help='input width and height (default: the config\'s)')
    p.add_argument(
        '--stacks',
        type=int,
        default=2,
        help='hourglass stacks of a shrunk SADI-Net')
    p.add_argument(
        '--seed',
        type=int,
        default=0,
        help='model initialisation and augmentation seed')
    p.add_argument('--data-seed', type=int, default=0)
    p.add_argument(
        '--reference',
        default=None,
        help='term the ratios refer to (default: the first, loss_kpt)')
    p.add_argument(
        '--no-rescale',
        action='store_true',
        help="with --input-size, keep SG-HRNet's disk radius and "
        'segmentation scale (default: rescaled with the heatmap as '
        'the learn benchmark does)')
    _common(p)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    args = parse_args(argv)
    threads = torch.get_num_threads()
    # stdout carries the tables only: libraries' prints (pycocotools'
    # "loading annotations ...", COCO eval summaries) go to stderr
    try:
        with contextlib.redirect_stdout(sys.stderr):
            res, text = _run(args, argv)
    finally:  # leave the process as found (tests call main() in-process)
        torch.set_num_threads(threads)
        common.set_clock('wall')
        MMLogger._instance_dict.pop(_LOGGER, None)
    print(text)
    print(f'\n{common.machine_line(res["machine"])}')
    return res


def _configs(args) -> List:
    paths = args.configs if hasattr(args, 'configs') else [args.config]
    per = {}
    try:
        for item in getattr(args, 'set', []) or []:
            per.setdefault(int(item[0]), {}).update(common.parse_kv(item[1:]))
        return common.build_configs(
            paths,
            getattr(args, 'names', None),
            per,
            args.cfg_options,
            args.width,
            args.shape if args.command in ('infer', 'deploy',
                                           'runtime') else None,
            log=lambda msg: print(msg, file=sys.stderr))
    except ValueError as e:
        raise SystemExit(f'--set / --names: {e}')


def _run(args, argv):
    torch.set_num_threads(args.threads)
    # keep the output to the tables: no per-parameter init messages (the
    # current MMEngine logger, removed again by main()), no MMPose metainfo
    # / bbox warnings (they repeat per sample)
    MMLogger.get_instance(_LOGGER, log_level='WARNING')
    warnings.filterwarnings('ignore', category=UserWarning)
    warnings.filterwarnings('ignore', category=DeprecationWarning)
    if args.clock == 'cpu' and args.command in ('pipeline', 'learn'):
        raise SystemExit(f'--clock cpu: {args.command} times worker '
                         'processes too; use the wall clock')
    common.set_clock(args.clock)
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    info = common.machine_info()
    text = ''
    if args.command == 'speed':
        flops_fn = None if args.no_flops else get_complexity
        cases = []
        res = run_speed(
            _configs(args),
            batch_size=args.batch,
            shape=args.shape,
            repeats=args.repeats,
            warmup=args.warmup,
            train=not args.no_train,
            flops_fn=flops_fn,
            peak=not args.no_peak,
            work_dir=args.work_dir,
            log=log,
            keep_cases=cases if args.profile else None)
        text = format_speed(res)
        if args.profile:
            text += '\n' + profile_cases(cases, args.profile)
    elif args.command == 'codec':
        if (args.input_size is None) != (args.heatmap_size is None):
            raise SystemExit('give both --input-size and --heatmap-size')
        res = run_codec(
            codec_pair(args.input_size, args.heatmap_size),
            num_instances=args.instances,
            repeats=args.repeats)
        text = format_codec(res)
    elif args.command == 'pipeline':
        (name, cfg), = _configs(args)
        res = run_pipeline(
            name,
            cfg,
            batch_size=args.batch,
            workers=args.workers,
            num_batches=args.batches,
            train_repeats=args.train_repeats,
            loader_train_iters=args.loader_train_iters,
            image_size=args.image_size,
            shape=args.shape,
            work_dir=args.work_dir,
            log=log)
        text = format_pipeline(res)
    elif args.command == 'learn' and args.merge:
        results = []
        for path in args.merge:
            with open(path) as f:
                results.append(json.load(f))
        res = merge_learn(results)
        # the runs' machine, not the merging process's
        info = dict(results[0].get('machine') or info)
        text = format_learn(res)
    elif args.command == 'learn':
        sizes = {}
        for group in args.groups:
            size = args.hrnet_input if group.startswith('hrnet') else \
                args.sadi_input
            if size:
                sizes[group] = tuple(size)
        res = run_learn(
            groups=args.groups,
            seeds=args.seeds,
            models=args.models,
            width=args.width,
            iters=args.iters,
            batch_size=args.batch,
            lr=args.lr,
            num_train=args.num_train,
            num_val=args.num_val,
            data_seed=args.data_seed,
            input_sizes=sizes,
            num_workers=args.workers,
            num_stacks=args.stacks,
            work_dir=args.work_dir,
            log=log,
            log_interval=args.log_interval,
            cfg_options=args.cfg_options)
        text = format_learn(res)
    elif args.command == 'runtime':
        work = args.work_dir or tempfile.mkdtemp(prefix='mmpose_ext_rt_')
        pose_config = resolve_config(args.config)
        if args.width or args.shape or args.cfg_options:
            # the PyTorch path and the start-up runs read a config file
            (_, cfg), = _configs(args)
            os.makedirs(work, exist_ok=True)
            pose_config = osp.join(work, 'pose_config.py')
            cfg.dump(pose_config)
        files = export_models(
            pose_config,
            args.checkpoint,
            resolve_config(args.det_config),
            args.det_checkpoint,
            osp.join(work, 'models'),
            model_format=args.format,
            int8_calib=args.int8_calib,
            log=log)
        images = args.images
        if not images:
            from mmpose_ext.devkit.synthetic import \
                generate_dataset  # noqa: PLC0415
            root = osp.join(work, 'images')
            if not osp.isdir(osp.join(root, 'val2017')):
                generate_dataset('coco', root, num_train=1, num_val=8, seed=0)
            images = sorted(
                osp.join(root, 'val2017', f)
                for f in os.listdir(osp.join(root, 'val2017')))
        res = dict(
            e2e=run_runtime(
                files,
                images,
                persons=args.persons,
                repeats=args.repeats,
                warmup=args.warmup,
                threads=args.threads,
                backend=args.backend,
                precision=args.precision,
                log=log),
            startup=run_startup(
                files,
                images[0],
                threads=args.threads,
                rounds=args.startup_rounds,
                backend=args.backend,
                precision=args.precision,
                log=log) if args.startup_rounds else None)
        text = format_runtime(res)
    elif args.command == 'infer':
        (name, cfg), = _configs(args)
        res = run_infer(
            cfg,
            checkpoint=args.checkpoint,
            batch_size=args.batch,
            repeats=args.repeats,
            warmup=args.warmup,
            backends=args.backends,
            end_to_end=not args.no_end_to_end,
            work_dir=args.work_dir,
            log=log,
            flops_fn=get_complexity if args.peak else None,
            peak=args.peak)
        res['config'] = args.config
        text = format_infer(res)
    elif args.command == 'deploy':
        (name, cfg), = _configs(args)
        real = None if args.real_data.lower() == 'none' else args.real_data
        res = run_deploy(
            cfg,
            checkpoint=args.checkpoint,
            backends=args.backends,
            repeats=args.repeats,
            warmup=args.warmup,
            real_root=real,
            calib_num=args.calib_num,
            end_to_end=not args.no_end_to_end,
            train_iters=args.train_iters,
            train_width=args.train_width,
            train_input=tuple(args.train_input),
            train_batch=args.train_batch,
            num_train=args.num_train,
            num_val=args.num_val,
            cfg_options=args.cfg_options,
            work_dir=args.work_dir,
            log=log)
        res['config'] = args.config
        text = format_deploy(res)
    elif args.command == 'dlm':
        res = run_dlm(
            resolve_config(args.config),
            batch_size=args.batch,
            repeats=args.repeats,
            warmup=args.warmup,
            renderers=args.renderers)
        text = format_dlm(res)
    elif args.command == 'grad-balance':
        res = run_balance(
            resolve_config(args.config),
            batches=args.batches,
            batch_size=args.batch_size,
            width=args.width,
            input_size=args.input_size,
            num_stacks=args.stacks,
            seed=args.seed,
            reference=args.reference,
            rescale=not args.no_rescale,
            cfg_options=args.cfg_options,
            data_seed=args.data_seed,
            work_dir=args.work_dir,
            log=log)
        text = format_balance(res)
    res['machine'] = info
    res['clock'] = args.clock
    res['command'] = 'python tools/benchmark.py ' + ' '.join(
        sys.argv[1:] if argv is None else argv)
    res['markdown'] = text
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(common.to_plain(res), f, indent=1, default=str)
        log(f'wrote {args.out}')
    return res, text


if __name__ == '__main__':
    main()
