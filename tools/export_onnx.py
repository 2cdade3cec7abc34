# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Export a top-down heatmap model to ONNX or OpenVINO IR for fast CPU
inference.

    python tools/export_onnx.py CONFIG CHECKPOINT --out model.onnx
        [--shape H W] [--batch 1] [--dynamic-hw] [--opset 17]
        [--cfg-options ...] [--no-verify]

    # OpenVINO IR (model.xml + model.bin + model.json side file), f32
    python tools/export_onnx.py CONFIG CHECKPOINT --format openvino \
        --out model.xml
    # ... plus an INT8 IR (model_int8.xml/.bin/.json), NNCF post-training
    # quantization calibrated on crops of your annotated images (or on a
    # generated data set: --calib-synthetic 300); the accuracy check
    # (int8 vs f32 keypoints on held-out crops) is printed at the end
    python tools/export_onnx.py CONFIG CHECKPOINT --format openvino \
        --out model.xml --int8 --calib-ann ANN.json --calib-img-dir IMGS/

The graph maps the data-preprocessed crop (B, 3, H, W) to the heatmaps the
head decodes (SG-HRNet: the keypoint heatmaps only; SADI-Net: H_rfm), with a
dynamic batch axis; pre- and post-processing (affine crop, normalisation,
flip test, multi-scale test, decoding) stay MMPose's Python code, see
``mmpose_ext/apis/onnx_backend.py``. Run it with::

    from mmpose_ext.apis import TopdownInferencer
    TopdownInferencer(CONFIG, pose_onnx='model.onnx', det_config=...)

H and W default to the codec's ``input_size``; ``--dynamic-hw`` (on by
default when the config tests at several scales) also makes them dynamic.
After writing, the file is run with ONNX Runtime (OpenVINO f32 for an IR)
and compared with PyTorch (largest heatmap difference must be <= 1e-4).
``model.json`` is written beside ``model.onnx``: the pre- and
post-processing and dataset meta that the torch-free runtime
(``mmpose_ext_runtime``) reads instead of the config.
"""
import argparse
import os.path as osp
import sys
import tempfile
from typing import Optional, Sequence

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:  # run from a checkout without pip install -e
    sys.path.insert(0, REPO_ROOT)

from mmengine.config import DictAction

import mmpose_ext  # noqa: F401  (registers the plugin; safe loader)
from mmpose_ext.apis import init_pose_model
from mmpose_ext.apis.crops import dataset_crops
from mmpose_ext.apis.onnx_backend import export_onnx
# (imports openvino / nncf only when called: the `openvino` extra)
from mmpose_ext.apis.openvino_backend import (export_openvino,
                                              quantize_openvino, side_file)
from mmpose_ext.apis.runtime_export import write_pose_spec
from mmpose_ext.devkit.synthetic import generate_dataset
from mmpose_ext_runtime.spec import check_json_free, spec_path_for


def parse_args(argv: Optional[Sequence[str]] = None):
    p = argparse.ArgumentParser(
        description='Export a top-down heatmap pose model to ONNX')
    p.add_argument('config', help='pose config file')
    p.add_argument('checkpoint', help='pose checkpoint file')
    p.add_argument(
        '--out',
        required=True,
        help='the .onnx file (or, with --format openvino, the .xml) to write')
    p.add_argument(
        '--format',
        choices=('onnx', 'openvino'),
        default='onnx',
        help='onnx (ONNX Runtime) or openvino (OpenVINO IR + JSON side '
        'file)')
    p.add_argument(
        '--int8',
        action='store_true',
        help='openvino: also write an INT8 IR (<out>_int8.xml), quantized '
        'with NNCF on calibration crops (--calib-ann/--calib-img-dir or '
        '--calib-synthetic)')
    p.add_argument(
        '--calib-ann',
        help='annotation file whose person boxes give the calibration crops')
    p.add_argument('--calib-img-dir', help='image folder of --calib-ann')
    p.add_argument(
        '--calib-dataset-type',
        default=None,
        help='MMPose data set class reading --calib-ann (default: the '
        'config\'s validation set\'s, e.g. CocoDataset; MpiiDataset, ...)')
    p.add_argument(
        '--calib-synthetic',
        type=int,
        default=None,
        metavar='N',
        help='calibrate on N crops of a generated (COCO-format) data set '
        'instead')
    p.add_argument(
        '--full-bias-correction',
        action='store_true',
        help="int8: NNCF's full bias correction instead of the fast one "
        '(slower; on a small trained SG-HRNet it cut the keypoint '
        'difference from 3.7 to 2.7 px mean)')
    p.add_argument(
        '--calib-num',
        type=int,
        default=300,
        help='most calibration crops (default 300); a fifth more (at least '
        'one) are held out for the accuracy check when available')
    p.add_argument(
        '--shape',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        default=None,
        help='input height and width (default: the codec input_size)')
    p.add_argument(
        '--batch', type=int, default=1, help='batch of the example input')
    p.add_argument(
        '--dynamic-hw',
        action='store_true',
        default=None,
        help='also make H and W dynamic (default: only when the config '
        'tests at several scales)')
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

    model = init_pose_model(
        args.config,
        args.checkpoint,
        device='cpu',
        cfg_options=args.cfg_options)
    if args.shape is None:
        w, h = model.head.decoder.input_size
        shape = (h, w)
    else:
        shape = tuple(args.shape)
    ms = (model.test_cfg or {}).get('multiscale_test') or {}
    multi = any(s != 1 for s in ms.get('scales', (1.0, )))
    dynamic_hw = multi if args.dynamic_hw is None else args.dynamic_hw
    if args.format == 'openvino':
        return _export_openvino(args, model, shape, dynamic_hw)
    if args.int8:
        raise SystemExit('--int8 needs --format openvino')
    check_json_free(spec_path_for(args.out), args.out)  # before writing
    info = export_onnx(
        model,
        args.out,
        input_shape=(args.batch, 3, *shape),
        dynamic_hw=dynamic_hw,
        opset_version=args.opset,
        metadata=dict(
            config=osp.basename(args.config),
            checkpoint=osp.basename(args.checkpoint)),
        verify=not args.no_verify)
    print(f'Wrote {info["file"]}: input {info["input_shape"]} -> heatmaps '
          f'{info["output_shape"]}, dynamic axes {info["dynamic_axes"]}')
    if 'max_abs_diff' in info:
        print(f'ONNX Runtime vs PyTorch: max heatmap difference '
              f'{info["max_abs_diff"]:.3g}')
    # the torch-free runtime's JSON (pre-/post-processing, dataset meta)
    try:
        info['spec_file'] = write_pose_spec(model, args.out)
        print(f'Wrote {info["spec_file"]} (python -m mmpose_ext_runtime)')
    except ValueError as e:  # a setting the runtime does not implement
        print(f'No runtime JSON (mmpose_ext_runtime cannot run this model): '
              f'{e}')
    return info


def _calibration_crops(args, model):
    """(N, 3, H, W) crops: the user's annotated images or generated ones."""
    if (args.calib_ann is None) == (args.calib_synthetic is None):
        raise SystemExit('--int8 needs calibration crops: --calib-ann ANN '
                         '--calib-img-dir DIR, or --calib-synthetic N')
    # a fifth more than --calib-num, held out for the accuracy check
    want = args.calib_num + max(1, args.calib_num // 5)
    if args.calib_ann is not None:
        if args.calib_img_dir is None:
            raise SystemExit('--calib-ann needs --calib-img-dir')
        return dataset_crops(
            model,
            args.calib_ann,
            args.calib_img_dir,
            args.calib_dataset_type,
            max_crops=want)
    if args.calib_synthetic < 1:
        raise SystemExit('--calib-synthetic must be >= 1')
    want = args.calib_synthetic + max(1, args.calib_synthetic // 5)
    with tempfile.TemporaryDirectory(prefix='mmpose_ext_calib_') as tmp:
        # 1-2 people per image: enough images for `want` crops
        paths = generate_dataset(
            'coco', tmp, num_train=want, num_val=1, seed=0)
        return dataset_crops(
            model,
            paths['train_ann'],
            paths['train_img_dir'],
            'CocoDataset',
            max_crops=want)


def _export_openvino(args, model, shape, dynamic_hw) -> dict:
    crops = _calibration_crops(args, model) if args.int8 else None
    info = export_openvino(
        model,
        args.out,
        input_shape=(args.batch, 3, *shape),
        dynamic_hw=dynamic_hw,
        metadata=dict(
            config=osp.basename(args.config),
            checkpoint=osp.basename(args.checkpoint)),
        verify=not args.no_verify)
    print(f'Wrote {args.out} (+ .bin, .json): input '
          f'{tuple(info["input_shape"])} -> heatmaps '
          f'{tuple(info["output_shape"])}, dynamic H/W {dynamic_hw}')
    if 'max_abs_diff' in info:
        print(f'OpenVINO f32 vs PyTorch: max heatmap difference '
              f'{info["max_abs_diff"]:.3g}')
    if 'runtime' in info:
        print(f'{side_file(args.out)} is also the runtime JSON (python -m '
              'mmpose_ext_runtime)')
    else:
        print(f'No runtime section (mmpose_ext_runtime cannot run this '
              f'model): {info.get("runtime_unsupported")}')
    if crops is None:
        return info
    # hold out what exceeds --calib-num (else a sixth) for the check;
    # a single crop is both
    n = len(crops)
    n_cal = args.calib_num if n > args.calib_num else (
        n - max(1, n // 6) if n > 1 else n)
    calib, check = crops[:n_cal], (crops[n_cal:] if n_cal < n else None)
    decoder = model.head.decoder
    out8 = osp.splitext(args.out)[0] + '_int8.xml'
    print(f'Quantizing to INT8 on {len(calib)} crops ...')
    info8 = quantize_openvino(
        args.out,
        out8,
        calib,
        check=check,
        decode=lambda hm: decoder.decode(hm)[0],
        fast_bias_correction=not args.full_bias_correction)
    print(f'Wrote {out8} (+ .bin, .json)')
    return dict(info, int8=info8)


if __name__ == '__main__':
    main()
