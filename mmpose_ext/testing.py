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
