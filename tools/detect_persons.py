# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Run an MMDet detector over a COCO image set; write a person ``bbox_file``.

The output is what MMPose's COCO top-down datasets read as ``bbox_file``
(the format of ``COCO_val2017_detections_AP_H_56_person.json``)::

    [{"image_id": 139, "category_id": 1, "bbox": [x, y, w, h],
      "score": 0.98}, ...]

so a pose model is evaluated on your own detector's boxes::

    python tools/detect_persons.py DET_CONFIG DET_CKPT \\
        --ann-file data/coco/annotations/person_keypoints_val2017.json \\
        --img-dir data/coco/val2017 --out dets.json --eval
    python tools/test.py POSE_CONFIG POSE_CKPT --cfg-options \\
        test_dataloader.dataset.bbox_file=dets.json

``--eval`` also prints the person box AP of the detections against the
annotation file (COCO bbox evaluation of category 1). Images that cannot
be read are listed at the end (exit status 1), the others are kept.
"""
import argparse
import json
import os.path as osp
import sys

import numpy as np
from mmengine.utils import ProgressBar

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

import mmpose_ext  # noqa: F401  (safe checkpoint loader)
from mmpose_ext.apis import (detection_results, dump_json,
                             evaluate_person_boxes, filter_detections,
                             init_person_detector, read_image)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='MMDet detector -> COCO person bbox_file')
    parser.add_argument('det_config', help='MMDet detector config')
    parser.add_argument('det_checkpoint', help='MMDet detector checkpoint')
    parser.add_argument(
        '--ann-file', required=True, help='COCO annotation file (images)')
    parser.add_argument(
        '--img-dir', required=True, help='folder of the images')
    parser.add_argument('--out', required=True, help='output json file')
    parser.add_argument(
        '--det-cat-id',
        type=int,
        default=0,
        help='detector label of a person (0 for COCO-trained and '
        'single-class detectors)')
    parser.add_argument(
        '--score-thr',
        type=float,
        default=0.01,
        help='keep boxes with a higher score (low: evaluation uses them)')
    parser.add_argument(
        '--nms-thr',
        type=float,
        default=-1,
        help='extra box NMS IoU threshold (negative: only the detector\'s '
        'own NMS)')
    parser.add_argument(
        '--max-per-img', type=int, default=100, help='boxes kept per image')
    parser.add_argument(
        '--eval', action='store_true', help='print the person box AP')
    parser.add_argument('--device', default=None)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if not osp.isfile(args.ann_file):
        print(
            f'error: --ann-file "{args.ann_file}" does not exist',
            file=sys.stderr)
        return 2
    if not osp.isdir(args.img_dir):
        print(
            f'error: --img-dir "{args.img_dir}" is not a folder',
            file=sys.stderr)
        return 2
    try:
        with open(args.ann_file) as f:
            images = json.load(f)['images']
    except (ValueError, KeyError, TypeError) as e:
        print(
            f'error: --ann-file "{args.ann_file}" is not a COCO annotation '
            f'file with "images": {e}',
            file=sys.stderr)
        return 2
    try:
        detector = init_person_detector(args.det_config, args.det_checkpoint,
                                        args.device)
    except (ValueError, OSError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    # MMDet is an optional dependency (the `det` extra): imported on use
    from mmdet.apis import inference_detector  # noqa: PLC0415

    dets, failures = [], []
    nms_thr = args.nms_thr if args.nms_thr >= 0 else None
    bar = ProgressBar(len(images), file=sys.stdout)
    for info in images:
        path = osp.join(args.img_dir, info['file_name'])
        try:
            img = read_image(path)
            pred = inference_detector(detector, img).pred_instances.cpu()
            pred = pred.numpy()
            boxes = np.concatenate(
                [pred.bboxes.reshape(-1, 4),
                 pred.scores.reshape(-1, 1)],
                1)[pred.labels == args.det_cat_id]
            boxes = filter_detections(boxes, args.score_thr, nms_thr,
                                      args.max_per_img)
            dets += detection_results(info['id'], boxes, category_id=1)
        except (ValueError, OSError) as e:
            failures.append((path, str(e)))
        bar.update()
    sys.stdout.write('\n')
    dump_json(dets, args.out)
    print(f'{len(dets)} person boxes on {len(images) - len(failures)} images '
          f'written to {args.out}')
    if args.eval:
        stats = evaluate_person_boxes(args.ann_file, dets)
        print('person box AP: ' +
              ', '.join(f'{k} {stats[k]:.3f}'
                        for k in ('AP', 'AP50', 'AP75', 'AR100')))
    if failures:
        print(f'{len(failures)} images failed:', file=sys.stderr)
        for path, reason in failures:
            print(f'  {path}: {reason}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
