# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Parameters and FLOPs of the model built from an MMPose config.

    python tools/get_flops.py CONFIG [--shape H W] [--cfg-options ...]

The input size defaults to the codec's ``input_size``; how it is counted:
:mod:`mmpose_ext.devkit.benchmark.flops` (every operator, and convolutions
+ linear layers only, as the HRNet papers count).
"""
import argparse
import os.path as osp
import sys
from typing import Dict, Optional, Sequence

from mmengine.config import Config, DictAction

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import mmpose_ext  # noqa: F401  (registers the plugin's modules)
from mmpose_ext.devkit.benchmark.flops import get_complexity


def parse_args(argv: Optional[Sequence[str]] = None):
    parser = argparse.ArgumentParser(
        description='Print the parameters and FLOPs of a pose model')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        default=None,
        help='input height and width (default: the codec input_size)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings in the config, as in tools/train.py')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    res = get_complexity(cfg, args.shape)
    h, w = res['shape']
    split = '=' * 60
    print(f'{split}\n{res["table"]}\n{split}')
    print(f'Config: {args.config}')
    print(f'Input shape: (1, 3, {h}, {w})')
    print(f'Params: {res["params"] / 1e6:.2f} M ({res["params"]})')
    print(f'GFLOPs (all operators, MMEngine): {res["flops"] / 1e9:.2f}')
    print(f'GFLOPs (conv + linear only, as the HRNet papers count): '
          f'{res["flops_conv_linear"] / 1e9:.2f}')
    print('(1 FLOP = 1 multiply-add; backbone + head, one crop, no flip)')
    return res


if __name__ == '__main__':
    main()
