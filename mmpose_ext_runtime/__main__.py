# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Torch-free demo: ``python -m mmpose_ext_runtime --pose POSE.json
[--det DET.json] --input IMAGE|FOLDER|VIDEO|CAMERA_INDEX|URL --out-dir DIR``.

Images: drawn copies and ``predictions.json`` (COCO keypoint results).
Videos, cameras and streams: ``<name>.mp4`` and ``predictions.json`` with
``track_id``; the detector runs every ``--det-interval`` frames, people are
tracked between, ``--smooth`` applies the One-Euro filter. Exit status 1
when an input failed (listed), 2 on a setup error.
"""
import argparse
import json
import os
import os.path as osp
import sys

import cv2

from .backends import BACKENDS
from .openvino_ir import PrecisionNotSupportedError
from .topdown import TopdownRuntime, read_image
from .video import VideoSourceError, source_kind

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        prog='python -m mmpose_ext_runtime',
        description='Person detection + top-down pose from exported models '
        '(ONNX / OpenVINO), without torch or OpenMMLab')
    p.add_argument('--pose', required=True, help='pose JSON (export_onnx.py)')
    p.add_argument(
        '--det',
        help='detector JSON (export_detector_onnx.py); '
        'without it the whole image is one person')
    p.add_argument(
        '--input',
        required=True,
        help='image, folder of images, video file, camera index or URL')
    p.add_argument('--out-dir', required=True)
    p.add_argument('--backend', default='auto', choices=BACKENDS)
    p.add_argument('--threads', type=int, help='engine threads per network')
    p.add_argument(
        '--precision',
        choices=('f32', 'bf16'),
        help="OpenVINO precision: 'f32' (default) or 'bf16' (faster on "
        'CPUs with bf16 units; keypoints move). For int8 pass the int8 '
        "IR's JSON")
    p.add_argument(
        '--bf16-fallback',
        default='error',
        choices=('error', 'f32'),
        help='bf16 on a CPU without it: stop with an error (default) or '
        'run f32 with a warning')
    p.add_argument('--bbox-thr', type=float, default=0.3)
    p.add_argument('--nms-thr', type=float, default=0.3)
    p.add_argument('--max-persons', type=int)
    p.add_argument('--kpt-thr', type=float, default=0.3)
    p.add_argument(
        '--det-interval',
        type=int,
        default=1,
        help='videos: run the detector every N frames, track between')
    p.add_argument(
        '--track',
        default='iou',
        choices=('iou', 'oks'),
        help='videos: match persons by box IoU or keypoint similarity')
    p.add_argument(
        '--smooth',
        action='store_true',
        help='videos: One-Euro smoothing of the keypoints')
    p.add_argument(
        '--timeout',
        type=float,
        default=10.,
        help='cameras and streams: seconds without a frame = stalled')
    p.add_argument('--max-frames', type=int, help='stop after N frames')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        rt = TopdownRuntime(
            args.pose,
            args.det,
            backend=args.backend,
            num_threads=args.threads,
            bbox_thr=args.bbox_thr,
            nms_thr=args.nms_thr if args.nms_thr >= 0 else None,
            max_persons=args.max_persons,
            precision=args.precision,
            bf16_fallback=args.bf16_fallback)
    except (ValueError, OSError, ImportError, PrecisionNotSupportedError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    os.makedirs(args.out_dir, exist_ok=True)
    draw = dict(kpt_thr=args.kpt_thr)
    src = args.input
    is_image = osp.splitext(src)[1].lower() in IMAGE_EXTENSIONS
    if osp.isdir(src) or is_image:
        paths = sorted(
            osp.join(src, n) for n in os.listdir(src)
            if osp.splitext(n)[1].lower() in IMAGE_EXTENSIONS) \
            if osp.isdir(src) else [src]
        predictions, failures = [], []
        for i, path in enumerate(paths):
            try:
                image = read_image(path)
                poses = rt(image)
                out = osp.join(args.out_dir, osp.basename(path))
                if not cv2.imwrite(out, rt.draw(image, poses, **draw)):
                    raise OSError(f'cannot write "{out}"')
                predictions += poses.to_coco(i)
            except (ValueError, OSError) as e:
                failures.append(f'{path}: {e}')
        with open(osp.join(args.out_dir, 'predictions.json'), 'w') as f:
            json.dump(predictions, f)
        print(f'{len(paths) - len(failures)} images, {len(predictions)} '
              f'persons -> {args.out_dir}')
        for msg in failures:
            print(f'  failed: {msg}', file=sys.stderr)
        return 1 if failures else 0
    if source_kind(src) == 'file' and not osp.isfile(src):
        print(f'error: input "{src}" does not exist', file=sys.stderr)
        return 2
    try:
        info = rt.run_video(
            src,
            args.out_dir,
            det_interval=args.det_interval,
            smooth=args.smooth,
            track_method=args.track,
            timeout=args.timeout,
            max_frames=args.max_frames,
            draw_kwargs=draw)
    except VideoSourceError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    if info['error']:
        print(
            f'error: {info["error"]} (stopped after {info["frames"]} '
            'frames; their predictions are written)',
            file=sys.stderr)
    print(f'{info["frames"]} frames ({info["bad_frames"]} bad, skipped), '
          f'{len(info["predictions"])} persons, {info["fps"]:.1f} fps -> '
          f'{info["video"]}')
    return 1 if info['error'] else 0


if __name__ == '__main__':
    sys.exit(main())
