# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Export an RTMDet person detector to ONNX, without its NMS, for the
torch-free runtime (``mmpose_ext_runtime``).

    python tools/export_detector_onnx.py DET_CONFIG DET_CKPT --out det.onnx
        [--shape H W] [--opset 17] [--cfg-options ...] [--no-verify]
    # OpenVINO IR (det.xml + det.bin + det.json), e.g. for bf16
    python tools/export_detector_onnx.py DET_CONFIG DET_CKPT --out det.xml \
        --format openvino

The graph maps the preprocessed image (B, 3, H, W; H and W dynamic) to the
head's raw outputs of all levels: class logits (B, N, C) and box distances
(B, N, 4). ``det.json`` beside it holds the test pipeline (resize, pad,
normalisation), the prior strides and the test settings (score threshold,
``nms_pre``, NMS IoU, ``max_per_img``); the runtime decodes the boxes and
runs the NMS in numpy (``mmpose_ext_runtime/detector.py``). The quick
start's detector::

    python tools/export_detector_onnx.py \\
        configs/detectors/rtmdet_tiny_person_synthetic.py \\
        work_dirs/quickstart_detector/epoch_20.pth --out rtmdet.onnx
"""
import argparse
import os.path as osp
import sys
from typing import Optional, Sequence

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:  # run from a checkout without pip install -e
    sys.path.insert(0, REPO_ROOT)

from mmengine.config import DictAction

import mmpose_ext  # noqa: F401  (safe checkpoint loader)
from mmpose_ext.apis import init_person_detector
from mmpose_ext.apis.runtime_export import (detector_runtime_spec,
                                            export_detector_onnx,
                                            export_detector_openvino)


def parse_args(argv: Optional[Sequence[str]] = None):
    p = argparse.ArgumentParser(
        description='Export an RTMDet detector (no NMS) to ONNX + the '
        'runtime JSON')
    p.add_argument('config', help='MMDet detector config')
    p.add_argument('checkpoint', help='detector checkpoint')
    p.add_argument(
        '--out',
        required=True,
        help='the .onnx file (or, with --format openvino, the .xml) to write')
    p.add_argument(
        '--format',
        default='onnx',
        choices=('onnx', 'openvino'),
        help='onnx, or openvino: an IR (.xml + .bin) whose .json is both '
        'the IR side file and the runtime JSON (run it at bf16 with '
        'python -m mmpose_ext_runtime --precision bf16)')
    p.add_argument(
        '--shape',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        default=None,
        help='example input height and width (default: the test resize '
        'scale; H and W stay dynamic)')
    p.add_argument('--opset', type=int, default=17, help='ONNX opset')
    p.add_argument(
        '--no-verify',
        action='store_true',
        help='skip the ONNX Runtime vs PyTorch comparison')
    p.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings in the config')
    return p.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    detector = init_person_detector(
        args.config,
        args.checkpoint,
        device='cpu',
        cfg_options=args.cfg_options)
    if args.shape is None:
        w, h = detector_runtime_spec(detector, args.out)['preprocess']['scale']
        shape = (-(-h // 32) * 32, -(-w // 32) * 32)
    else:
        shape = tuple(args.shape)
    export = export_detector_openvino if args.format == 'openvino' \
        else export_detector_onnx
    info = export(
        detector,
        args.out,
        input_shape=(1, 3, *shape),
        opset_version=args.opset,
        verify=not args.no_verify)
    print(f'Wrote {info["file"]} ({info["num_priors"]} priors at '
          f'{shape[0]}x{shape[1]}) and {info["spec_file"]}')
    if 'max_abs_diff' in info:
        print(f'{"OpenVINO" if args.format == "openvino" else "ONNX Runtime"}'
              f' vs PyTorch: max output difference '
              f'{info["max_abs_diff"]:.3g} (largest output '
              f'{info["max_abs_output"]:.3g})')
    return info


if __name__ == '__main__':
    main()
