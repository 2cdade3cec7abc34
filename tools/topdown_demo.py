# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Top-down pose estimation on an image, a folder, a video, a camera or a
stream.

Person boxes come from an MMDet detector (``--det-config/--det-checkpoint``),
from a COCO-style detection file (``--bbox-file``, e.g. the output of
``tools/detect_persons.py``), or, with neither, the whole image is one
person box. Writes the visualised images (same file names) or video
(``<name>.mp4``) into ``--out-dir``, plus ``predictions.json`` in the COCO
keypoint results format::

    [{"image_id": 1, "category_id": 1, "keypoints": [x, y, score] * K,
      "score": box_score * mean keypoint score}, ...]

Image ids: from ``--ann-file`` (matched by file name), else the number in the
file name (``000000000139.jpg`` -> 139), else the input's index; a video's
frames are numbered from 0. ``DIR/image_ids.json`` maps every input (video:
frame) to its id.

A folder run goes on past files it cannot read and lists them at the end
(exit status 1 when any input failed).

Videos, cameras (``--input 0``) and streams (``--input rtsp://...``): the
detector runs every ``--det-interval`` frames and people are tracked between
(ids by box IoU or, ``--track oks``, keypoint similarity); ``--smooth``
applies the One-Euro filter to each track's keypoints; ``predictions.json``
entries carry ``track_id``; a progress line shows frames per second. A frame
that cannot be decoded is skipped and counted; a camera that cannot be
opened, or a stream that sends nothing for ``--timeout`` seconds, stops with
a message (what was done so far is written).

Examples::

    python tools/topdown_demo.py configs/sg_hrnet_w32_coco.py sg.pth \\
        --input demo.jpg --out-dir outputs \\
        --det-config configs/detectors/rtmdet_tiny_person_synthetic.py \\
        --det-checkpoint work_dirs/rtmdet/epoch_30.pth
    python tools/topdown_demo.py CFG CKPT --input val2017/ --out-dir out \\
        --bbox-file person_detection_results/dets.json --ann-file ann.json
    python tools/topdown_demo.py CFG CKPT --input clip.mp4 --out-dir out
    python tools/topdown_demo.py CFG CKPT --input 0 --out-dir out \
        --det-config ... --det-checkpoint ... --det-interval 5 --smooth
    # fast CPU path: the network in ONNX Runtime (tools/export_onnx.py)
    python tools/topdown_demo.py CFG --pose-onnx sg.onnx --input clip.mp4 \
        --out-dir out
"""
import argparse
import os
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:  # run from a checkout without pip install -e
    sys.path.insert(0, REPO_ROOT)

import mmpose_ext  # noqa: F401  (registers modules, safe loader)
from mmpose_ext.apis import (ImageIdResolver, MediaReadError,
                             PrecisionNotSupportedError, TopdownInferencer,
                             dump_json, input_kind, list_folder)
from mmpose_ext.apis.demo import BoxSource, Visualiser, run_images, run_video
from mmpose_ext_runtime import source_kind

BACKENDS = ('pytorch', 'onnxruntime', 'openvino')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Top-down pose estimation (MMDet person detector + '
        'MMPose model) on an image, a folder or a video')
    parser.add_argument('pose_config', help='pose model config')
    parser.add_argument(
        'pose_checkpoint',
        nargs='?',
        help='pose model checkpoint (not needed with --pose-onnx)')
    parser.add_argument(
        '--input',
        required=True,
        help='an image, a folder, a video, a camera index (0) or a stream '
        'URL (rtsp://, http://)')
    parser.add_argument(
        '--out-dir', required=True, help='folder for the outputs')
    parser.add_argument('--det-config', help='MMDet detector config')
    parser.add_argument('--det-checkpoint', help='MMDet detector checkpoint')
    parser.add_argument(
        '--bbox-file',
        help='COCO-style person detections (json list of {image_id, '
        'category_id, bbox: xywh, score}) instead of a detector')
    parser.add_argument(
        '--ann-file',
        help='COCO annotation file giving the image ids of the input files')
    parser.add_argument(
        '--det-cat-id',
        type=int,
        default=0,
        help='detector label of a person (0 for COCO-trained and '
        'single-class detectors)')
    parser.add_argument(
        '--bbox-thr', type=float, default=0.3, help='box score threshold')
    parser.add_argument(
        '--nms-thr',
        type=float,
        default=0.3,
        help='box NMS IoU threshold (negative: no NMS)')
    parser.add_argument(
        '--max-persons', type=int, help='keep at most N boxes per image')
    parser.add_argument(
        '--kpt-thr',
        type=float,
        default=0.3,
        help='keypoint score threshold for drawing')
    parser.add_argument('--radius', type=int, default=3)
    parser.add_argument('--thickness', type=int, default=1)
    parser.add_argument(
        '--no-bbox', action='store_true', help='do not draw the boxes')
    parser.add_argument(
        '--device', default=None, help='e.g. cpu, cuda:0 (default: auto)')
    fast = parser.add_mutually_exclusive_group()
    fast.add_argument(
        '--pose-onnx',
        help='run the pose network with ONNX Runtime from this file '
        '(tools/export_onnx.py); the config still gives the pre- and '
        'post-processing. The fastest CPU path (docs/benchmarks.md)')
    fast.add_argument(
        '--optimize-cpu',
        action='store_true',
        help='PyTorch on CPU with BatchNorm folded into the convolutions '
        'and channels_last weights (about 1.2-1.3x faster, same keypoints)')
    parser.add_argument(
        '--backend',
        choices=BACKENDS,
        help='pose network engine, passed to TopdownInferencer (default: '
        'PyTorch, or ONNX Runtime with --pose-onnx)')
    parser.add_argument(
        '--pose-ir',
        help='OpenVINO IR (.xml) of the pose network (--backend openvino)')
    parser.add_argument(
        '--precision',
        choices=('f32', 'bf16', 'int8'),
        help="OpenVINO inference precision (default f32; 'int8' needs the "
        'quantized IR)')
    parser.add_argument(
        '--bf16-fallback',
        choices=('error', 'f32'),
        help='bf16 on a CPU without it: stop with an error (default) or run '
        'f32 with a warning')
    video = parser.add_argument_group('videos, cameras and streams')
    video.add_argument(
        '--det-interval',
        type=int,
        default=1,
        help='run the detector every N frames and track people between '
        '(default: every frame)')
    video.add_argument(
        '--track',
        choices=('iou', 'oks'),
        default='iou',
        help='match people across frames by box IoU or keypoint similarity')
    video.add_argument(
        '--smooth',
        action='store_true',
        help='One-Euro temporal smoothing of each track\'s keypoints')
    video.add_argument(
        '--timeout',
        type=float,
        default=10.,
        help='seconds a camera or stream may send no frame (stalled)')
    video.add_argument(
        '--max-frames', type=int, help='stop after this many frames')
    args = parser.parse_args(argv)
    if args.det_interval < 1:
        parser.error('--det-interval must be >= 1')
    if args.pose_checkpoint is None and args.pose_onnx is None and \
            args.pose_ir is None:
        parser.error('give the pose checkpoint (or --pose-onnx FILE, or '
                     '--pose-ir FILE)')
    if args.bbox_file and args.det_config:
        parser.error('give either --det-config/--det-checkpoint or '
                     '--bbox-file, not both')
    if bool(args.det_config) != bool(args.det_checkpoint):
        parser.error('--det-config and --det-checkpoint go together')
    # outputs keep the input names: never write into the input's folder
    src = args.input if osp.isdir(args.input) else osp.dirname(args.input)
    if source_kind(args.input) == 'file' and \
            osp.abspath(args.out_dir) == osp.abspath(src or '.'):
        parser.error(f'--out-dir "{args.out_dir}" is the folder of the input:'
                     ' the outputs (same file names) would overwrite it')
    return args


def backend_options(args) -> dict:
    """The engine options given on the command line, as
    ``TopdownInferencer`` takes them."""
    return {
        k: v
        for k, v in dict(
            backend=args.backend,
            pose_ir=args.pose_ir,
            precision=args.precision,
            bf16_fallback=args.bf16_fallback).items() if v is not None
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    nms_thr = args.nms_thr if args.nms_thr >= 0 else None
    try:
        live = source_kind(args.input) != 'file'
        kind = 'video' if live else input_kind(args.input)
        resolve_id = ImageIdResolver(args.ann_file)
        boxes = BoxSource(args.bbox_file, args.bbox_thr, nms_thr,
                          args.max_persons)
        inferencer = TopdownInferencer(
            args.pose_config,
            args.pose_checkpoint,
            det_config=args.det_config,
            det_checkpoint=args.det_checkpoint,
            device=args.device,
            det_cat_id=args.det_cat_id,
            bbox_thr=args.bbox_thr,
            nms_thr=nms_thr,
            max_persons=args.max_persons,
            pose_onnx=args.pose_onnx,
            optimize_cpu=args.optimize_cpu,
            **backend_options(args))
    # incl. MediaReadError, IR / config mismatches, bf16 on a CPU without it
    except (ValueError, OSError, PrecisionNotSupportedError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    os.makedirs(args.out_dir, exist_ok=True)
    visualiser = Visualiser(inferencer.pose_model, args.radius, args.thickness,
                            args.kpt_thr, not args.no_bbox)

    predictions, image_ids, failures, skipped = [], {}, [], []
    written = None
    if kind == 'video':
        try:
            info = run_video(
                args.input,
                args.out_dir,
                inferencer,
                visualiser,
                boxes,
                predictions,
                image_ids,
                det_interval=args.det_interval,
                smooth=args.smooth,
                track_method=args.track,
                timeout=args.timeout,
                max_frames=args.max_frames)
            written = info['video']
            if info['bad_frames']:
                print(f'{info["bad_frames"]} frames could not be decoded '
                      'and were skipped')
            if info['error']:
                failures.append((args.input, info['error']))
        except (MediaReadError, ValueError, OSError) as e:
            failures.append((args.input, str(e)))
    else:
        if kind == 'folder':
            paths, skipped = list_folder(args.input)
            if not paths:
                print(
                    f'error: no image ({", ".join(("jpg", "png", "..."))}) '
                    f'in folder "{args.input}"',
                    file=sys.stderr)
                return 2
        else:
            paths = [args.input]
        run_images(paths, args.out_dir, inferencer, visualiser, boxes,
                   resolve_id, predictions, image_ids, failures,
                   kind == 'folder')

    pred_file = osp.join(args.out_dir, 'predictions.json')
    dump_json(predictions, pred_file)
    dump_json(image_ids, osp.join(args.out_dir, 'image_ids.json'))
    done = len(image_ids)
    unit = 'frames' if kind == 'video' else 'images'
    print(f'{done} {unit}, {len(predictions)} persons; '
          f'predictions: {pred_file}; visualisations: '
          f'{written or args.out_dir}')
    if skipped:
        print(f'ignored {len(skipped)} non-image files in {args.input}: ' +
              ', '.join(osp.basename(p) for p in skipped))
    if failures:
        print(f'{len(failures)} inputs failed:', file=sys.stderr)
        for path, reason in failures:
            print(f'  {path}: {reason}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
