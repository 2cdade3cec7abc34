# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Distributed evaluation without a shared file system: 2 gloo processes,
each in its own working directory (as on two nodes), evaluate
TorsoPCKAccuracy over MMEngine's BaseMetric.evaluate. With the plugin the
result equals a single-process evaluation and no file is written; with
parts that do not cover the data set every rank raises; MMEngine's own
file-based collection fails in the same setting."""
import json
import os
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


def _worker(rank, init_file, base, mode):
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
    samples = _samples()
    # DefaultSampler(shuffle=False, round_up=True): rank r takes r, r+2,
    # ...; rank 1 gets sample 0 again as padding
    padded = samples + samples[:1]
    mine = padded[rank::2]
    if mode == 'short' and rank == 1:
        mine = mine[:-3]  # e.g. a sampler that dropped the tail
    metric = _metric()
    for i in range(0, len(mine), 2):
        metric.process([], mine[i:i + 2])
    try:
        res = dict(metrics=metric.evaluate(NUM))
    except Exception as e:  # noqa: BLE001  reported to the test
        res = dict(error=type(e).__name__, message=str(e))
    with open(os.path.join(base, f'{mode}_rank{rank}.json'), 'w') as f:
        json.dump(res, f)
    os._exit(0)  # no teardown of a broken group


def _run(tmp_path, mode):
    ctx = mp.get_context('fork')
    procs = [
        ctx.Process(
            target=_worker,
            args=(rank, str(tmp_path / f'init_{mode}'), str(tmp_path), mode))
        for rank in (0, 1)
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
def test_parts_short_of_the_data_set_raise_on_every_rank(tmp_path):
    r0, r1 = _run(tmp_path, 'short')
    for r in (r0, r1):
        assert r['error'] == 'ResultCollectionError'
        assert 'hold [6, 3] results (together 9) but the data set has 11' \
            in r['message']


@pytest.mark.slow
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
