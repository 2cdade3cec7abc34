# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Convert LSP / LSP-extended ``joints.mat`` to a COCO-style keypoint json.

The json can be loaded with MMPose's ``CocoDataset`` and the LSP meta::

    dict(type='CocoDataset', data_root='data/lsp/',
         ann_file='annotations/lsp_test.json', data_prefix=dict(img='images/'),
         metainfo=dict(from_file='configs/_base_/datasets/lsp.py'))

It reads the file with :func:`mmpose_ext.datasets.lsp.load_lsp_joints`, so
both conventions are handled as in ``LspDataset``: COCO ``v`` = 2 for a
visible joint, 1 for an occluded (still annotated) joint, 0 for a joint
without finite coordinates (stored as 0, 0). ``bbox`` is the tight box
(xywh) of the joints ``LspDataset`` boxes by default (``--bbox-joints
auto``: the visible joints for LSP-extended, as CPM centres LSPET people,
all labelled joints for LSP; see :mod:`mmpose_ext.datasets.lsp`), ``area``
its area.

Usage::

    python tools/lsp2coco.py DATA_ROOT OUT_JSON [--variant auto|lsp|lspet]
        [--split train|test|all] [--num-test N] [--img-dir images]
        [--bbox-joints auto|visible|labelled]
"""
import argparse
import json
import os.path as osp
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from mmpose_ext.datasets.lsp import (BBOX_JOINTS, IMG_NAME_TMPL,  # noqa
                                     load_lsp_joints, lsp_bbox_joints,
                                     lsp_joint_boxes)
from mmpose_ext.datasets.lsp_meta import LSP_METAINFO  # noqa: E402


def convert(data_root: str,
            out_file: str,
            variant: str = 'auto',
            split: str = 'all',
            num_test=None,
            img_dir: str = 'images',
            bbox_joints: str = 'auto') -> dict:
    """Write the COCO-style json and return it."""
    mat = osp.join(data_root, 'joints.mat')
    coords, labelled, occluded, variant = load_lsp_joints(mat, variant)
    boxes = lsp_joint_boxes(
        coords, lsp_bbox_joints(labelled, occluded, variant, bbox_joints))
    n = len(coords)
    if num_test is None:
        num_test = n // 2 if variant == 'lsp' else 0
    if not 0 <= num_test <= n:
        raise ValueError(f'{mat}: num_test={num_test} out of [0, {n}]')
    indices = {'train': range(0, n - num_test),
               'test': range(n - num_test, n),
               'all': range(n)}[split]
    names = [LSP_METAINFO['keypoint_info'][i]['name'] for i in range(14)]
    name2id = {name: i + 1 for i, name in enumerate(names)}
    skeleton = [[name2id[a], name2id[b]]
                for a, b in (v['link']
                             for v in LSP_METAINFO['skeleton_info'].values())]
    images, annotations = [], []
    for index in indices:
        file_name = IMG_NAME_TMPL[variant].format(index + 1)
        path = osp.join(data_root, img_dir, file_name)
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'{mat}: joints column {index} (1-based image {index + 1}) '
                f'has no image file {path}')
        with Image.open(path) as im:
            width, height = im.size
        lab = labelled[index]
        v = np.where(lab, np.where(occluded[index], 1, 2), 0)
        xy = np.where(lab[:, None], coords[index], 0)
        kpts = np.concatenate([xy, v[:, None]], -1)
        x1, y1, x2, y2 = (float(t) for t in boxes[index])
        w, h = max(x2 - x1, 1.), max(y2 - y1, 1.)
        image_id = index + 1
        images.append(dict(id=image_id, file_name=file_name, width=width,
                           height=height))
        annotations.append(dict(
            id=image_id, image_id=image_id, category_id=1, iscrowd=0,
            keypoints=[round(float(t), 3) for t in kpts.reshape(-1)],
            num_keypoints=int(lab.sum()),
            bbox=[float(x1), float(y1), w, h], area=w * h))
    coco = dict(
        info=dict(description=f'{variant.upper()} {split} split, converted '
                  'by mmpose_ext tools/lsp2coco.py'),
        licenses=[],
        images=images,
        annotations=annotations,
        categories=[dict(id=1, name='person', supercategory='person',
                         keypoints=names, skeleton=skeleton)])
    with open(out_file, 'w') as f:
        json.dump(coco, f)
    return coco


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('data_root', help='folder with joints.mat, images/')
    parser.add_argument('out_file', help='output json')
    parser.add_argument('--variant', default='auto',
                        choices=['auto', 'lsp', 'lspet'])
    parser.add_argument('--split', default='all',
                        choices=['train', 'test', 'all'])
    parser.add_argument('--num-test', type=int, default=None,
                        help='test split size (default: N/2 for LSP, 0 for '
                        'LSPET)')
    parser.add_argument('--img-dir', default='images')
    parser.add_argument('--bbox-joints', default='auto', choices=BBOX_JOINTS,
                        help='joints the person box encloses (default: the '
                        'visible ones for LSPET, all for LSP)')
    args = parser.parse_args()
    coco = convert(args.data_root, args.out_file, args.variant, args.split,
                   args.num_test, args.img_dir, args.bbox_joints)
    print(f'wrote {len(coco["annotations"])} people to {args.out_file}')


if __name__ == '__main__':
    main()
