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


#: the checkpoint the ``cli=True`` tiny overrides point at: never a file
NO_PRETRAINED_WEIGHTS = 'no-pretrained-weights-exist-for-tiny-widths.pth'


def hrnet_init_cfg() -> List[Dict]:
    """HRNet's own random initialisation (``mmpose.models.HRNet``'s default
    ``init_cfg``: Normal(std=0.001) convolutions, norm weights 1)."""
    from mmpose.models.backbones import HRNet

    from mmpose_ext.models.utils import default_init_cfg
    return default_init_cfg(HRNet)


def tiny_hrnet_overrides(width: int = 8, cli: bool = False) -> Dict:
    """Shrink an HRNet-based top-down config's backbone and head. No
    ImageNet weights exist at this width: the backbone gets HRNet's own
    random initialisation, set directly, or with ``cli=True`` (for
    ``--cfg-options``, which cannot spell a list of init dicts) through the
    configs' ``CheckedPretrained`` opt-in, pointed at a file that does not
    exist so that nothing is downloaded."""
    out = {
        'model.backbone.extra': tiny_hrnet_extra(width),
        'model.head.in_channels': width,
    }
    if cli:
        out['model.backbone.init_cfg.checkpoint'] = NO_PRETRAINED_WEIGHTS
        out['model.backbone.init_cfg.allow_random_init'] = True
    else:
        out['model.backbone.init_cfg'] = hrnet_init_cfg()
    return out


def to_cfg_options(overrides: Dict) -> List[str]:
    """``{'a.b': v}`` -> ``['a.b=v', ...]`` for ``--cfg-options``.

    ``--cfg-options`` cannot spell a dict, so dict values are flattened into
    dotted keys (``{'m.extra': {'s': 1}}`` -> ``m.extra.s=1``).
    """
    out = []
    for key, value in overrides.items():
        if isinstance(value, (list, tuple)) and any(
                isinstance(v, dict) for v in value):
            raise ValueError(f'--cfg-options cannot spell {key}={value!r} '
                             '(a list of dicts); set it in a config file')
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
    file) and eight annotations of the other images get one defect each
    (NaN bbox, negative and zero size, a bbox outside the image, 16
    keypoints instead of 17, two stray keypoint values, a NaN and an Inf
    keypoint): :class:`~mmpose_ext.datasets.SkipBadSamples` must skip them.
    Three more get a change that leaves them valid, as MMPose trains on
    them (all keypoints invisible with ``num_keypoints`` unchanged, a
    visible keypoint just outside the image at x=-1, a bbox partly outside
    the image), and one becomes an unlabelled person (``num_keypoints=0``,
    all zeros), which MMPose drops and is not an error. Needs at least 3
    training images and 13 annotations outside the first three.

    Returns:
        dict: ``image_faults`` {file name: kind}, ``image_fault_ann_ids``
        (annotations of the broken images), ``ann_faults`` {annotation id:
        expected kind} (the defects), ``valid_edge_cases`` {annotation id:
        change} (valid: kept by default; ``'all_keypoints_invisible'``,
        ``'keypoint_outside_image'``, ``'bbox_partly_outside'``),
        ``unlabelled_ann_ids``, ``good_ann_ids`` (untouched annotations of
        the good images) and ``num_annotations``.
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
    sizes = {im['id']: (im['width'], im['height']) for im in images}
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

    # defects
    def nan_bbox(a):
        a['bbox'][2] = nan

    def negative(a):
        a['bbox'][2] = -abs(a['bbox'][2])

    def zero_area(a):
        a['bbox'][3] = 0.0

    def bbox_outside(a):
        a['bbox'][0] = sizes[a['image_id']][0] + 10.0

    def count16(a):
        a['keypoints'] = a['keypoints'][:48]

    def count_stray(a):
        a['keypoints'] = a['keypoints'] + [1, 1]

    def nan_keypoint(a):
        a['keypoints'][3] = nan
        a['keypoints'][5] = 2

    def inf_keypoint(a):
        a['keypoints'][4] = math.inf
        a['keypoints'][5] = 2

    # valid (MMPose trains on them)
    def invisible(a):
        a['keypoints'][2::3] = [0] * (len(a['keypoints']) // 3)

    def outside(a):
        a['keypoints'][0:3] = [-1.0, a['keypoints'][1], 2]

    def partly_outside(a):
        a['bbox'][2] += a['bbox'][0] + 20.0
        a['bbox'][0] = -20.0

    def unlabelled(a):
        a['keypoints'] = [0] * len(a['keypoints'])
        a['num_keypoints'] = 0

    faults = [(nan_bbox, 'bbox_nonfinite'), (negative, 'bbox_negative'),
              (zero_area, 'bbox_zero_area'),
              (bbox_outside, 'bbox_outside_image'),
              (count16, 'keypoint_count'), (count_stray, 'keypoint_count'),
              (nan_keypoint, 'keypoints_nonfinite'),
              (inf_keypoint, 'keypoints_nonfinite')]
    valid = [(invisible, 'all_keypoints_invisible'),
             (outside, 'keypoint_outside_image'),
             (partly_outside, 'bbox_partly_outside')]
    if len(rest) < len(faults) + len(valid) + 2:
        raise ValueError(
            f'corrupt_coco_dataset needs {len(faults) + len(valid) + 2} '
            f'annotations outside the first 3 images of {ann_path}, got '
            f'{len(rest)}')
    ann_faults, valid_edge_cases = {}, {}
    for a, (change, kind) in zip(rest, faults):
        change(a)
        ann_faults[a['id']] = kind
    for a, (change, kind) in zip(rest[len(faults):], valid):
        change(a)
        valid_edge_cases[a['id']] = kind
    unlabelled_ann = rest[len(faults) + len(valid)]
    unlabelled(unlabelled_ann)
    with open(ann_path, 'w') as f:
        json.dump(coco, f)  # NaN/Inf are written as NaN/Infinity tokens
    done = set(ann_faults) | set(valid_edge_cases) | {unlabelled_ann['id']}
    return dict(
        image_faults=image_faults,
        image_fault_ann_ids=image_fault_ann_ids,
        ann_faults=ann_faults,
        valid_edge_cases=valid_edge_cases,
        unlabelled_ann_ids=[unlabelled_ann['id']],
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
