# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Config overrides for small CPU runs (tests, quick start, benchmarks).

Each function returns a flat ``{'dotted.key': value}`` dict, usable with
``Config.merge_from_dict`` or, through :func:`to_cfg_options`, as
``--cfg-options`` arguments of ``tools/train.py`` / ``mim train``.

Base configs substitute ``data_root`` into their dataloaders when they are
parsed, so pointing a config at another data set means overriding every key
that holds a path; :func:`coco_data_overrides` does that.
"""
import os.path as osp
from typing import Dict, List

from mmpose.models.backbones import HRNet

from mmpose_ext.models.utils import default_init_cfg

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
        stage1=dict(
            num_modules=1,
            num_branches=1,
            block='BOTTLENECK',
            num_blocks=(num_blocks, ),
            num_channels=(w, )),
        stage2=dict(
            num_modules=1,
            num_branches=2,
            block='BASIC',
            num_blocks=(num_blocks, ) * 2,
            num_channels=(w, 2 * w)),
        stage3=dict(
            num_modules=1,
            num_branches=3,
            block='BASIC',
            num_blocks=(num_blocks, ) * 3,
            num_channels=(w, 2 * w, 4 * w)),
        stage4=dict(
            num_modules=1,
            num_branches=4,
            block='BASIC',
            num_blocks=(num_blocks, ) * 4,
            num_channels=(w, 2 * w, 4 * w, 8 * w)))


#: the checkpoint the ``cli=True`` tiny overrides point at: never a file
NO_PRETRAINED_WEIGHTS = 'no-pretrained-weights-exist-for-tiny-widths.pth'


def hrnet_init_cfg() -> List[Dict]:
    """HRNet's own random initialisation (``mmpose.models.HRNet``'s default
    ``init_cfg``: Normal(std=0.001) convolutions, norm weights 1)."""
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


def tiny_sadi_overrides(width: int = 8, num_stacks: int = 2) -> Dict:
    """Shrink a SADI-Net config: branch widths (w, 2w, 4w, 8w), SFM fuse
    width 2w, classification head (2w .. 16w) -> 16w pooled vector."""
    w = width
    return {
        'model.backbone.num_stacks': num_stacks,
        'model.backbone.stage_channels': (w, 2 * w, 4 * w, 8 * w),
        'model.backbone.stem_channels': w,
        'model.neck.in_channels': (w, 2 * w, 4 * w, 8 * w),
        'model.neck.fuse_channels': 2 * w,
        'model.neck.head_channels': (2 * w, 4 * w, 8 * w, 16 * w),
        'model.neck.out_channels': 16 * w,
        'model.head.in_channels': 16 * w,
    }
