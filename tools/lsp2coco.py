# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Convert LSP / LSP-extended ``joints.mat`` to a COCO-style keypoint json.

The json can be loaded with MMPose's ``CocoDataset`` and the LSP meta::

    dict(type='CocoDataset', data_root='data/lsp/',
         ann_file='annotations/lsp_test.json', data_prefix=dict(img='images/'),
         metainfo=dict(from_file='configs/_base_/datasets/lsp.py'))

Both conventions are handled as in ``LspDataset``
(:func:`mmpose_ext.datasets.lsp.lsp_to_coco`): COCO ``v`` = 2 for a visible
joint, 1 for an occluded (still annotated) joint, 0 for a joint without
finite coordinates; ``bbox`` is the tight box (xywh) of the joints
``LspDataset`` boxes by default (``--bbox-joints auto``: the visible joints
for LSP-extended, as CPM centres LSPET people, all labelled joints for LSP).

Usage::

    python tools/lsp2coco.py DATA_ROOT OUT_JSON [--variant auto|lsp|lspet]
        [--split train|test|all] [--num-test N] [--img-dir images]
        [--bbox-joints auto|visible|labelled]
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from mmpose_ext.datasets.lsp import BBOX_JOINTS, lsp_to_coco


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('data_root', help='folder with joints.mat, images/')
    parser.add_argument('out_file', help='output json')
    parser.add_argument(
        '--variant', default='auto', choices=['auto', 'lsp', 'lspet'])
    parser.add_argument(
        '--split', default='all', choices=['train', 'test', 'all'])
    parser.add_argument(
        '--num-test',
        type=int,
        default=None,
        help='test split size (default: N/2 for LSP, 0 for '
        'LSPET)')
    parser.add_argument('--img-dir', default='images')
    parser.add_argument(
        '--bbox-joints',
        default='auto',
        choices=BBOX_JOINTS,
        help='joints the person box encloses (default: the '
        'visible ones for LSPET, all for LSP)')
    args = parser.parse_args()
    coco = lsp_to_coco(args.data_root, args.out_file, args.variant, args.split,
                       args.num_test, args.img_dir, args.bbox_joints)
    print(f'wrote {len(coco["annotations"])} people to {args.out_file}')


if __name__ == '__main__':
    main()
