# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Write a synthetic pose data set in a real file layout.

    python tools/make_synthetic_dataset.py coco data/synthetic_coco \
        --num-train 300 --num-val 40 --seed 0

Formats and layouts are described in :mod:`mmpose_ext.devkit.synthetic`.
The written paths are printed one per line as ``key: path``. A bad argument
prints one ``prog: error: ...`` line to stderr and exits with status 2.
"""
import argparse
import sys

from mmpose_ext.devkit.synthetic import FORMATS, generate_dataset


class _OneLineErrorParser(argparse.ArgumentParser):
    """Reports every argument error as one line (usage stays under -h)."""

    def error(self, message):
        self.exit(2, f'{self.prog}: error: {message}\n')


def parse_args(argv=None):
    parser = _OneLineErrorParser(
        prog='make_synthetic_dataset.py',
        description='Write a synthetic COCO / MPII / LSP / LSPET / CrowdPose '
        'pose data set in the real file layout.')
    parser.add_argument('fmt', choices=FORMATS, help='data set format')
    parser.add_argument('out_dir', help='data root to create')
    parser.add_argument(
        '--num-train', type=int, default=64, help='train images')
    parser.add_argument('--num-val', type=int, default=16, help='val images')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument(
        '--image-size',
        type=int,
        nargs=2,
        default=(320, 240),
        metavar=('W', 'H'),
        help='image width and height (LSP varies it by 0.8-1.25 per image)')
    parser.add_argument(
        '--max-people', type=int, default=2, help='most people per image')
    return parser, parser.parse_args(argv)


def main(argv=None):
    parser, args = parse_args(argv)
    try:
        paths = generate_dataset(
            args.fmt,
            args.out_dir,
            num_train=args.num_train,
            num_val=args.num_val,
            seed=args.seed,
            image_size=tuple(args.image_size),
            max_people=args.max_people)
    except ValueError as e:
        parser.error(str(e))
    for key, path in paths.items():
        print(f'{key}: {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
