# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Export a top-down heatmap model to ONNX for fast CPU inference.

    python tools/export_onnx.py CONFIG CHECKPOINT --out model.onnx
        [--shape H W] [--batch 1] [--dynamic-hw] [--opset 17]
        [--cfg-options ...] [--no-verify]

The graph maps the data-preprocessed crop (B, 3, H, W) to the heatmaps the
head decodes (SG-HRNet: the keypoint heatmaps only; SADI-Net: H_rfm), with a
dynamic batch axis; pre- and post-processing (affine crop, normalisation,
flip test, multi-scale test, decoding) stay MMPose's Python code, see
``mmpose_ext/apis/onnx_backend.py``. Run it with::

    from mmpose_ext.apis import TopdownInferencer
    TopdownInferencer(CONFIG, pose_onnx='model.onnx', det_config=...)

H and W default to the codec's ``input_size``; ``--dynamic-hw`` (on by
default when the config tests at several scales) also makes them dynamic.
After writing, the file is run with ONNX Runtime and compared with PyTorch
(largest heatmap difference must be <= 1e-4). ``model.json`` is written
beside ``model.onnx``: the pre- and post-processing and dataset meta that the
torch-free runtime (``mmpose_ext_runtime``) reads instead of the config.
"""
import argparse
import os.path as osp
import sys
from typing import Optional, Sequence

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:  # run from a checkout without pip install -e
    sys.path.insert(0, REPO_ROOT)

from mmengine.config import DictAction

import mmpose_ext  # noqa: F401  (registers the plugin; safe loader)
from mmpose_ext.apis import init_pose_model
from mmpose_ext.apis.onnx_backend import export_onnx
from mmpose_ext.apis.runtime_export import write_pose_spec


def parse_args(argv: Optional[Sequence[str]] = None):
    p = argparse.ArgumentParser(
        description='Export a top-down heatmap pose model to ONNX')
    p.add_argument('config', help='pose config file')
    p.add_argument('checkpoint', help='pose checkpoint file')
    p.add_argument('--out', required=True, help='the .onnx file to write')
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


if __name__ == '__main__':
    main()
