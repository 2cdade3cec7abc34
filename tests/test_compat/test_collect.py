# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Distributed evaluation without a shared file system: 2 gloo processes,
each in its own working directory (as on two nodes), evaluate
TorsoPCKAccuracy and MMPose's CocoMetric over MMEngine's
BaseMetric.evaluate. With the plugin the
result equals a single-process evaluation and no file is written; with
parts that do not cover the data set every rank raises; MMEngine's own
file-based collection fails in the same setting."""
import json
import os
import sys
from datetime import timedelta

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mmengine.evaluator import metric as metric_mod
from mmpose.datasets.datasets.utils import parse_pose_metainfo

import mmpose_ext  # noqa: F401  (installs the patch the children inherit)
from mmpose_ext.compat.collect import ResultCollectionError
from mmpose_ext.datasets import LspDataset
from mmpose_ext.evaluation.metrics.torso_pck import TorsoPCKAccuracy

NUM = 11  # persons; an odd number so that DefaultSampler pads rank 1


def _samples():
    rng = np.random.default_rng(0)
    out = []
    for i in range(NUM):
        gt = rng.uniform(0, 200, (1, 14, 2))
        gt[0, 2], gt[0, 9] = [100, 200], [100, 100]  # torso 100 px
        # person i has i joints off by 30 px (> 0.2 x torso), the rest exact
        pred = gt.copy()
        pred[0, :i % 15, 0] += 30
        out.append(
            dict(
                gt_instances=dict(
                    keypoints=gt, keypoints_visible=np.ones((1, 14))),
                pred_instances=dict(keypoints=pred)))
    return out


def _metric():
    m = TorsoPCKAccuracy()
    m.dataset_meta = parse_pose_metainfo(LspDataset.METAINFO)
    return m


def _coco_ann(data_root):
    return os.path.join(data_root, 'annotations',
                        'person_keypoints_val2017.json')


def _coco_samples(data_root):
    """One top-down sample per labelled person of the generated val set:
    the ground truth moved by a person-specific offset (AP < 1)."""
    with open(_coco_ann(data_root)) as f:
        anns = [
            a for a in json.load(f)['annotations'] if a['num_keypoints'] > 0
        ]
    out = []
    for i, a in enumerate(anns):
        kpts = np.array(a['keypoints'], np.float32).reshape(1, 17, 3)
        scale = max(a['bbox'][2], a['bbox'][3])
        out.append(
            dict(
                id=a['id'],
                img_id=a['image_id'],
                pred_instances=dict(
                    keypoints=kpts[..., :2] + 0.04 * scale * (i % 5),
                    keypoint_scores=np.ones((1, 17), np.float32)),
                gt_instances=dict()))
    return out


def _coco_metric(data_root):
    from mmpose.evaluation import CocoMetric
    m = CocoMetric(ann_file=_coco_ann(data_root))
    # MMPose's own COCO meta (found in its package from any folder)
    m.dataset_meta = parse_pose_metainfo(
        dict(from_file='configs/_base_/datasets/coco.py'))
    return m


def _worker(rank, init_file, base, mode, data_root=None):
    torch.set_num_threads(1)
    node = os.path.join(base, f'node{rank}')
    os.makedirs(node, exist_ok=True)
    os.chdir(node)  # each rank its own working directory, as on 2 nodes
    dist.init_process_group(
        'gloo',
        init_method=f'file://{init_file}',
        rank=rank,
        world_size=2,
        timeout=timedelta(seconds=20))
    if mode == 'mmengine':
        metric_mod.collect_results = \
            metric_mod.collect_results._mmpose_ext_original
    if data_root is None:
        samples, metric = _samples(), _metric()
    else:
        samples, metric = _coco_samples(data_root), _coco_metric(data_root)
    # DefaultSampler(shuffle=False, round_up=True): rank r takes r, r+2,
    # ...; rank 1 gets sample 0 again as padding
    padded = samples + samples[:1]
    mine = padded[rank::2]
    if mode == 'short' and rank == 1:
        mine = mine[:-3]  # e.g. a sampler that dropped the tail
    for i in range(0, len(mine), 2):
        metric.process([], mine[i:i + 2])
    try:
        res = dict(metrics=metric.evaluate(len(samples)))
    except Exception as e:  # noqa: BLE001  reported to the test
        res = dict(error=type(e).__name__, message=str(e))
    with open(os.path.join(base, f'{mode}_rank{rank}.json'), 'w') as f:
        json.dump(res, f)
    os._exit(0)  # no teardown of a broken group


def _run(tmp_path, mode, data_root=None):
    ctx = mp.get_context('fork')
    procs = [
        ctx.Process(
            target=_worker,
            args=(rank, str(tmp_path / f'init_{mode}'), str(tmp_path), mode,
                  data_root)) for rank in (0, 1)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(90)
        if p.exitcode is None:
            p.kill()
    out = []
    for rank in (0, 1):
        path = tmp_path / f'{mode}_rank{rank}.json'
        out.append(json.load(open(path)) if path.exists() else None)
    return out


@pytest.mark.slow
def test_two_ranks_in_different_folders_evaluate_the_whole_set(tmp_path):
    r0, r1 = _run(tmp_path, 'ok')
    expect = _metric()
    expect.process([], _samples())
    expect = expect.evaluate(NUM)
    assert r0 == r1 == dict(metrics=expect)  # broadcast to every rank
    assert 0.3 < expect['PCK'] < 0.9 and expect['num_instances'] == NUM
    # nothing written: no .dist_test under either working directory
    assert os.listdir(tmp_path / 'node0') == []
    assert os.listdir(tmp_path / 'node1') == []


@pytest.mark.slow
def test_coco_metric_two_ranks_in_different_folders(tmp_path, synthetic_coco):
    samples = _coco_samples(synthetic_coco)
    assert len(samples) % 2 == 1  # rank 1 gets a padding sample
    r0, r1 = _run(tmp_path, 'ok', synthetic_coco)
    expect = _coco_metric(synthetic_coco)
    expect.process([], samples)
    expect = expect.evaluate(len(samples))
    assert r0 == r1 == dict(metrics=expect)
    assert 0.05 < expect['coco/AP'] < 0.95
    assert os.listdir(tmp_path / 'node0') == []
    assert os.listdir(tmp_path / 'node1') == []
    # a metric over rank 0's part alone would differ: what the count check
    # protects against
    part = _coco_metric(synthetic_coco)
    part.process([], samples[0::2])
    assert part.compute_metrics(part.results)['AP'] != expect['coco/AP']


@pytest.mark.slow
def test_parts_short_of_the_data_set_raise_on_every_rank(tmp_path):
    r0, r1 = _run(tmp_path, 'short')
    for r in (r0, r1):
        assert r['error'] == 'ResultCollectionError'
        assert 'hold [6, 3] results (together 9) but the data set has 11' \
            in r['message']


@pytest.mark.slow
@pytest.mark.skipif(
    sys.version_info >= (3, 12),
    reason='Python 3.12+ tempfile.mkdtemp returns an absolute path, so on '
    "one machine the ranks reach rank 0's folder; it takes two machines")
def test_mmengine_file_collection_needs_a_shared_folder(tmp_path):
    """Why the patch exists (MMEngine 0.10.7): rank 1 cannot write its part
    under rank 0's relative .dist_test folder."""
    r0, r1 = _run(tmp_path, 'mmengine')
    assert r1['error'] == 'FileNotFoundError' and '.dist_test' in \
        r1['message']
    assert r0 is None or 'metrics' not in r0


def test_single_process_unchanged():
    samples = _samples()
    m = _metric()
    m.process([], samples)
    assert m.evaluate(NUM)['num_instances'] == NUM


def test_patch_installed():
    assert metric_mod.collect_results._mmpose_ext_patched
    assert issubclass(ResultCollectionError, RuntimeError)
