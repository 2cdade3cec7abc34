# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Figure of what a top-down model predicts for one person.

One figure with the person crop the network sees, every predicted keypoint
heatmap and, depending on the model,

* SG-HRNet: the segmentation map of each segmentation guided module
  (stages 2, 3, 4 and the final one);
* SADI-Net: H_rfm (each hourglass stack) beside the learned H_dlm, per
  keypoint, and the SFM global-attention weight of each scale (paper Fig. 7).

Single forward pass, no flip (the maps are the network's own outputs).

    python tools/vis_heatmaps.py CONFIG CKPT IMAGE [--bbox X1 Y1 X2 Y2]
        [--out heatmaps.png]
"""
import argparse
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

import mmpose_ext  # noqa: F401  (registers the plugin; safe loader)
from mmpose_ext.apis import collect_maps, init_pose_model, plot_maps


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='pose model config')
    parser.add_argument('checkpoint', help='pose model checkpoint')
    parser.add_argument('image', help='image file')
    parser.add_argument(
        '--bbox',
        type=float,
        nargs=4,
        metavar=('X1', 'Y1', 'X2', 'Y2'),
        help='person box in image pixels (default: the whole image)')
    parser.add_argument(
        '--out', default='heatmaps.png', help='output figure file')
    parser.add_argument('--ncols', type=int, default=6)
    parser.add_argument('--device', default=None)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        model = init_pose_model(args.config, args.checkpoint, args.device)
        maps = collect_maps(model, args.image, args.bbox)
    except (ValueError, OSError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    plot_maps(
        maps,
        args.out,
        ncols=args.ncols,
        title=f'{osp.basename(args.config)} ({maps["kind"]}): '
        f'{osp.basename(args.image)}')
    extra = [
        k for k in ('seg_maps', 'h_rfm', 'h_dlm', 'sfm_weights') if k in maps
    ]
    print(f'figure written to {args.out} (heatmaps {maps["heatmaps"].shape}' +
          (', ' + ', '.join(f'{k} {maps[k].shape}'
                            for k in extra) if extra else '') + ')')
    return 0


if __name__ == '__main__':
    sys.exit(main())
