# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Torso-normalised PCK (PCK@0.2 of LSP) with LSP's own torso joints.

MMPose's ``PCKAccuracy(norm_item='torso')`` hard-codes keypoints 4 and 5
(the JHMDB layout; in LSP order those are the left knee and ankle). The LSP
protocol (Sapp & Taskar's PCK as in the MPII/LSP evaluation code,
``eval_pck.m``) normalises by the torso diameter
``||left_shoulder - right_hip||`` (LSP joints 9 and 2, 0-based) and counts a
joint as correct when ``||pred - gt|| <= thr * torso``.
"""
from collections import OrderedDict
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from mmpose.registry import METRICS

# LSP-style report groups: name -> keypoint names (left/right averaged,
# "Head" = neck + head top, as the paper's tables and eval_pck.m).
DEFAULT_GROUPS = OrderedDict(
    Head=('head_top', 'neck'),
    Shoulder=('left_shoulder', 'right_shoulder'),
    Elbow=('left_elbow', 'right_elbow'),
    Wrist=('left_wrist', 'right_wrist'),
    Hip=('left_hip', 'right_hip'),
    Knee=('left_knee', 'right_knee'),
    Ankle=('left_ankle', 'right_ankle'))


@METRICS.register_module()
class TorsoPCKAccuracy(BaseMetric):
    """PCK normalised by the torso size, per joint and mean.

    For each person the torso size is the mean length of the ``torso_pairs``
    whose two ground-truth joints are both labelled (``keypoints_visible >
    0``). A person with no such pair (or a torso shorter than ``min_torso``
    pixels) cannot be normalised: it is skipped, counted in
    ``skipped_instances`` and a warning is logged (no division by zero). A
    joint counts when it is labelled; it is correct when its distance to the
    ground truth is ``<= thr * torso``.

    Args:
        thr (float): Threshold relative to the torso. Defaults to 0.2.
        torso_pairs (Sequence[tuple[int, int]]): Keypoint index pairs whose
            lengths define the torso. Defaults to ``((9, 2),)``: LSP's left
            shoulder - right hip. ``((9, 2), (8, 3))`` averages both
            diagonals.
        groups (dict, optional): Report name -> keypoint names, averaged
            (names from ``dataset_meta``). Defaults to the LSP table groups
            (Head, Shoulder, ..., Ankle); groups whose names are not in the
            dataset are left out.
        min_torso (float): Smallest usable torso in pixels. Defaults to 1.
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): Metric name prefix. Defaults to None.

    Results (``compute_metrics``): ``PCK`` (mean over all evaluated joints of
    all persons, in [0, 1]), one ``PCK_<keypoint name>`` per joint, one entry
    per report group, and ``skipped_instances`` / ``num_instances``.
    """

    default_prefix: Optional[str] = None

    def __init__(self,
                 thr: float = 0.2,
                 torso_pairs: Sequence[Tuple[int, int]] = ((9, 2), ),
                 groups: Optional[Dict[str, Sequence[str]]] = None,
                 min_torso: float = 1.0,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        if not thr > 0:
            raise ValueError(f'thr must be > 0, got {thr!r}')
        pairs = [tuple(p) for p in torso_pairs]
        if not pairs or any(
                len(p) != 2 or not all(
                    isinstance(i, int) and i >= 0 for i in p) for p in pairs):
            raise ValueError('torso_pairs must be a non-empty list of '
                             f'(int, int) index pairs, got {torso_pairs!r}')
        self.thr = float(thr)
        self.torso_pairs = pairs
        self.groups = OrderedDict(groups) if groups is not None \
            else DEFAULT_GROUPS
        self.min_torso = float(min_torso)

    def process(self, data_batch: Sequence[dict],
                data_samples: Sequence[dict]) -> None:
        """Collect predictions and ground truth of a batch.

        Args:
            data_batch (Sequence[dict]): The data batch (unused).
            data_samples (Sequence[dict]): Packed outputs with
                ``pred_instances.keypoints`` (N, K, 2) and
                ``gt_instances.keypoints`` (N, K, 2),
                ``gt_instances.keypoints_visible`` (N, K).
        """
        for data_sample in data_samples:
            pred = np.asarray(data_sample['pred_instances']['keypoints'])
            gt = data_sample['gt_instances']
            gt_kpts = np.asarray(gt['keypoints'])
            vis = np.asarray(gt['keypoints_visible'])
            if vis.ndim == 3:  # (N, K, 2) visibility + weights
                vis = vis[..., 0]
            self.results.append(
                dict(
                    pred=pred[..., :2].reshape(-1, *gt_kpts.shape[-2:]),
                    gt=gt_kpts[..., :2],
                    mask=vis > 0))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Compute the metrics (see the class docstring)."""
        logger = MMLogger.get_current_instance()
        pred = np.concatenate([r['pred'] for r in results])
        gt = np.concatenate([r['gt'] for r in results])
        mask = np.concatenate([r['mask'] for r in results])
        num_kpts = gt.shape[1]
        for a, b in self.torso_pairs:
            if max(a, b) >= num_kpts:
                raise ValueError(f'torso pair ({a}, {b}) out of range for '
                                 f'{num_kpts} keypoints')

        lengths = np.stack([
            np.linalg.norm(gt[:, a] - gt[:, b], axis=-1)
            for a, b in self.torso_pairs
        ], -1)  # (N, P)
        pair_ok = np.stack(
            [mask[:, a] & mask[:, b] for a, b in self.torso_pairs], -1)
        n_ok = pair_ok.sum(-1)
        torso = np.where(pair_ok, lengths, 0.).sum(-1) / np.maximum(n_ok, 1)
        usable = (n_ok > 0) & (torso >= self.min_torso)
        skipped = int((~usable).sum())
        if skipped:
            logger.warning(
                f'TorsoPCKAccuracy: skipped {skipped} of {len(gt)} instances '
                'without a labelled torso (pairs '
                f'{self.torso_pairs}) or with torso < {self.min_torso} px')

        dist = np.linalg.norm(pred - gt, axis=-1)  # (N, K)
        evaluated = mask & usable[:, None]
        correct = (dist <= self.thr * torso[:, None]) & evaluated
        counts = evaluated.sum(0)
        per_joint = np.where(counts > 0,
                             correct.sum(0) / np.maximum(counts, 1), np.nan)

        names = self._keypoint_names(num_kpts)
        metrics = OrderedDict()
        for name, acc in zip(names, per_joint):
            metrics[f'PCK_{name}'] = float(acc)
        index = {n: i for i, n in enumerate(names)}
        for group, members in self.groups.items():
            ids = [index[m] for m in members if m in index]
            if len(ids) == len(members) and counts[ids].sum() > 0:
                metrics[group] = float(correct[:, ids].sum() /
                                       counts[ids].sum())
        total = evaluated.sum()
        metrics['PCK'] = float(correct.sum() / total) if total else 0.0
        metrics['skipped_instances'] = skipped
        metrics['num_instances'] = int(len(gt))
        return metrics

    def _keypoint_names(self, num_kpts: int):
        meta = self.dataset_meta or {}
        id2name = meta.get('keypoint_id2name')
        if id2name and len(id2name) == num_kpts:
            return [id2name[i] for i in range(num_kpts)]
        return [str(i) for i in range(num_kpts)]
