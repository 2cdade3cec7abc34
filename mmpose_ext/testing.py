# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Config overrides for small CPU runs (tests, quick start, benchmarks).

Each function returns a flat ``{'dotted.key': value}`` dict, usable with
``Config.merge_from_dict`` or, through :func:`to_cfg_options`, as
``--cfg-options`` arguments of ``tools/train.py`` / ``mim train``.

Base configs substitute ``data_root`` into their dataloaders when they are
parsed, so pointing a config at another data set means overriding every key
that holds a path; :func:`coco_data_overrides` does that.
"""
import os
import os.path as osp
from typing import Dict, List

COCO_BBOX_FILE = ('person_detection_results/'
                  'COCO_val2017_detections_AP_H_56_person.json')


def coco_data_overrides(data_root: str, bbox_file: bool = True) -> Dict:
    """Point a COCO top-down config (MMPose layout) at ``data_root``.

    Args:
        data_root (str): Folder with ``annotations/``, ``train2017/``,
            ``val2017/`` and ``person_detection_results/``.
        bbox_file (bool): Evaluate on the detection file's boxes (as MMPose's
            COCO configs do); ``False`` evaluates on ground-truth boxes.
    """
    root = osp.abspath(data_root) + '/'
    val_ann = root + 'annotations/person_keypoints_val2017.json'
    out = {
        'train_dataloader.dataset.data_root': root,
        'train_dataloader.dataset.ann_file':
        'annotations/person_keypoints_train2017.json',
        'train_dataloader.dataset.data_prefix.img': 'train2017/',
        'val_evaluator.ann_file': val_ann,
        'test_evaluator.ann_file': val_ann,
    }
    for split in ('val', 'test'):
        key = f'{split}_dataloader.dataset.'
        out[key + 'data_root'] = root
        out[key + 'ann_file'] = 'annotations/person_keypoints_val2017.json'
        out[key + 'data_prefix.img'] = 'val2017/'
        out[key + 'bbox_file'] = root + COCO_BBOX_FILE if bbox_file else None
    return out


def cpu_runtime_overrides(batch_size: int = 2,
                          max_epochs: int = 1,
                          max_iters: int = None,
                          val_interval: int = 1,
                          num_workers: int = 0) -> Dict:
    """Small batches, no worker processes, frequent logging, gloo backend."""
    out = {
        'train_cfg.max_epochs': max_epochs,
        'train_cfg.val_interval': val_interval,
        'default_hooks.logger.interval': 1,
        'default_hooks.checkpoint.interval': 1,
        'env_cfg.dist_cfg.backend': 'gloo',
    }
    for split in ('train', 'val', 'test'):
        out[f'{split}_dataloader.batch_size'] = batch_size
        out[f'{split}_dataloader.num_workers'] = num_workers
        out[f'{split}_dataloader.persistent_workers'] = num_workers > 0
    if max_iters is not None:
        # Stop an epoch-based loop early: cap the number of samples seen.
        out['train_dataloader.dataset.indices'] = max_iters * batch_size
    return out


def tiny_hrnet_extra(width: int = 8, num_blocks: int = 1) -> Dict:
    """An HRNet ``extra`` dict with branch widths (w, 2w, 4w, 8w)."""
    w = width
    return dict(
        stage1=dict(num_modules=1, num_branches=1, block='BOTTLENECK',
                    num_blocks=(num_blocks, ), num_channels=(w, )),
        stage2=dict(num_modules=1, num_branches=2, block='BASIC',
                    num_blocks=(num_blocks, ) * 2, num_channels=(w, 2 * w)),
        stage3=dict(num_modules=1, num_branches=3, block='BASIC',
                    num_blocks=(num_blocks, ) * 3,
                    num_channels=(w, 2 * w, 4 * w)),
        stage4=dict(num_modules=1, num_branches=4, block='BASIC',
                    num_blocks=(num_blocks, ) * 4,
                    num_channels=(w, 2 * w, 4 * w, 8 * w)))


def tiny_hrnet_overrides(width: int = 8) -> Dict:
    """Shrink an HRNet-based top-down config's backbone and head."""
    return {
        'model.backbone.extra': tiny_hrnet_extra(width),
        'model.backbone.init_cfg': None,
        'model.head.in_channels': width,
    }


def to_cfg_options(overrides: Dict) -> List[str]:
    """``{'a.b': v}`` -> ``['a.b=v', ...]`` for ``--cfg-options``.

    ``--cfg-options`` cannot spell a dict, so dict values are flattened into
    dotted keys (``{'m.extra': {'s': 1}}`` -> ``m.extra.s=1``).
    """
    out = []
    for key, value in overrides.items():
        if isinstance(value, dict):
            out += to_cfg_options({f'{key}.{k}': v for k, v in value.items()})
        elif value is None:
            out.append(f'{key}=None')
        elif isinstance(value, (list, tuple)):
            out.append(f'{key}={tuple(value)!r}'.replace(' ', ''))
        else:
            out.append(f'{key}={value}')
    return out



def corrupt_coco_dataset(src_root: str, dst_root: str) -> Dict:
    """Copy a generated COCO data set and break its training split.

    Three images are broken (garbage bytes, a zero-byte file, a deleted
    file) and eight annotations of the other images get one fault each
    (NaN bbox, negative and zero size, all keypoints invisible, a visible
    keypoint outside the image, 16 keypoints instead of 17, two stray
    keypoint values, a NaN keypoint); one more becomes an unlabelled person
    (``num_keypoints=0``, all zeros), which is not an error. Needs at least
    3 training images and 11 annotations outside the first three.

    Returns:
        dict: ``image_faults`` {file name: kind}, ``image_fault_ann_ids``
        (annotations of the broken images), ``ann_faults`` {annotation id:
        expected kind}, ``unlabelled_ann_ids``, ``good_ann_ids`` and
        ``num_annotations``.
    """
    import json
    import math
    import shutil

    shutil.copytree(src_root, dst_root)
    ann_path = osp.join(dst_root, 'annotations',
                        'person_keypoints_train2017.json')
    with open(ann_path) as f:
        coco = json.load(f)
    images = sorted(coco['images'], key=lambda im: im['id'])
    anns = sorted(coco['annotations'], key=lambda a: a['id'])

    image_faults = {}
    for img, kind in zip(images[:3], ('garbage', 'zero_bytes', 'missing')):
        path = osp.join(dst_root, 'train2017', img['file_name'])
        if kind == 'missing':
            os.remove(path)
        else:
            with open(path, 'wb') as f:
                f.write(b'' if kind == 'zero_bytes' else os.urandom(2000))
        image_faults[img['file_name']] = kind
    broken = {img['id'] for img in images[:3]}
    image_fault_ann_ids = [a['id'] for a in anns if a['image_id'] in broken]
    rest = [a for a in anns if a['image_id'] not in broken]
    nan = math.nan

    def nan_bbox(a):
        a['bbox'][2] = nan

    def negative(a):
        a['bbox'][2] = -abs(a['bbox'][2])

    def zero_area(a):
        a['bbox'][3] = 0.0

    def invisible(a):
        a['keypoints'][2::3] = [0] * (len(a['keypoints']) // 3)

    def outside(a):
        a['keypoints'][0:3] = [-40.0, 10.0, 2]

    def count16(a):
        a['keypoints'] = a['keypoints'][:48]

    def count_stray(a):
        a['keypoints'] = a['keypoints'] + [1, 1]

    def nan_keypoint(a):
        a['keypoints'][3] = nan
        a['keypoints'][5] = 2

    def unlabelled(a):
        a['keypoints'] = [0] * len(a['keypoints'])
        a['num_keypoints'] = 0

    faults = [(nan_bbox, 'bbox_nonfinite'), (negative, 'bbox_negative'),
              (zero_area, 'bbox_zero_area'),
              (invisible, 'keypoints_invisible'),
              (outside, 'keypoints_outside_image'),
              (count16, 'keypoint_count'), (count_stray, 'keypoint_count'),
              (nan_keypoint, 'keypoints_nonfinite')]
    if len(rest) < len(faults) + 3:
        raise ValueError('corrupt_coco_dataset needs more annotations')
    ann_faults = {}
    for a, (fault, kind) in zip(rest, faults):
        fault(a)
        ann_faults[a['id']] = kind
    unlabelled(rest[len(faults)])
    with open(ann_path, 'w') as f:
        json.dump(coco, f)  # NaN is written as the NaN token
    done = set(ann_faults) | {rest[len(faults)]['id']}
    return dict(
        image_faults=image_faults,
        image_fault_ann_ids=image_fault_ann_ids,
        ann_faults=ann_faults,
        unlabelled_ann_ids=[rest[len(faults)]['id']],
        good_ann_ids=[a['id'] for a in rest if a['id'] not in done],
        num_annotations=len(anns))


# --------------------------------------------------------------------------
# Fault injection for the reliability tests (tests/test_reliability).
# Registered when this module is imported; a config run in a subprocess
# gets them with
#   custom_imports = dict(imports=['mmpose_ext', 'mmpose_ext.testing'])
# Never use them in a real config.
# --------------------------------------------------------------------------
import time  # noqa: E402

from mmengine.dist import get_rank  # noqa: E402
from mmengine.hooks import Hook  # noqa: E402

from mmpose.registry import HOOKS  # noqa: E402


@HOOKS.register_module(force=True)
class InjectNonFiniteHook(Hook):
    """Make the targets of chosen training iterations NaN/Inf.

    Fills ``gt_fields.<field>`` of every sample of the batch with ``value``
    before the forward pass, so the loss of that iteration is non-finite (as
    a corrupt label would make it).

    Args:
        iters (Sequence[int]): 1-based training iterations to corrupt.
        ranks (Sequence[int], optional): Only on these ranks (None: all).
        value (float): Fill value. Defaults to NaN.
        field (str): The ``gt_fields`` entry. Defaults to 'heatmaps'.
    """
    priority = 'VERY_HIGH'

    def __init__(self, iters=(), ranks=None, value=float('nan'),
                 field='heatmaps'):
        self.iters = set(int(i) for i in iters)
        self.ranks = None if ranks is None else set(ranks)
        self.value = float(value)
        self.field = field
        self.injected = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        it = runner.iter + 1
        if it not in self.iters or (self.ranks is not None
                                    and get_rank() not in self.ranks):
            return
        for sample in data_batch['data_samples']:
            sample.gt_fields.get(self.field).fill_(self.value)
        self.injected.append(it)


@HOOKS.register_module(force=True)
class PauseAfterIterHook(Hook):
    """After iteration ``iter`` (and its checkpoint), write ``ready_file``
    and sleep ``seconds``, so that a test can kill the process at a known
    point in mid-epoch."""
    priority = 'LOWEST'  # after CheckpointHook

    def __init__(self, iter, ready_file, seconds=120.0):
        self.iter = int(iter)
        self.ready_file = ready_file
        self.seconds = float(seconds)

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.iter + 1 == self.iter and get_rank() == 0:
            with open(self.ready_file, 'w') as f:
                f.write(str(self.iter))
            time.sleep(self.seconds)
