# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""TorsoPCKAccuracy: LSP's PCK@0.2 normalised by its own torso joints."""
import numpy as np
import pytest
from mmpose.datasets.datasets.utils import parse_pose_metainfo
from mmpose.registry import METRICS

from mmpose_ext.datasets import LspDataset
from mmpose_ext.evaluation.metrics.torso_pck import TorsoPCKAccuracy

L_SHOULDER, R_HIP = 9, 2


def _person(rng, torso=100.):
    kpts = rng.uniform(0, 200, (1, 14, 2))
    kpts[0, R_HIP] = [100, 200]
    kpts[0, L_SHOULDER] = [100, 200 - torso]  # ||lsho - rhip|| = torso
    return kpts


def _sample(gt, pred, vis=None):
    vis = np.ones(gt.shape[:2]) if vis is None else vis
    return dict(
        gt_instances=dict(keypoints=gt, keypoints_visible=vis),
        pred_instances=dict(keypoints=pred))


def _metric(**kwargs):
    m = TorsoPCKAccuracy(**kwargs)
    m.dataset_meta = parse_pose_metainfo(LspDataset.METAINFO)
    return m


def _run(metric, samples):
    metric.process([], samples)
    return metric.evaluate(len(samples))


def test_perfect_predictions():
    rng = np.random.default_rng(0)
    gts = [_person(rng) for _ in range(3)]
    res = _run(_metric(), [_sample(g, g.copy()) for g in gts])
    assert res['PCK'] == 1.0 and res['skipped_instances'] == 0
    for group in ('Head', 'Shoulder', 'Elbow', 'Wrist', 'Hip', 'Knee',
                  'Ankle'):
        assert res[group] == 1.0
    assert res['PCK_left_wrist'] == 1.0


def test_threshold_is_relative_to_the_lsp_torso():
    rng = np.random.default_rng(1)
    gt = _person(rng, torso=100.)
    pred = gt.copy()
    pred[0, 6, 0] += 19.9  # right wrist: within 0.2 * 100
    pred[0, 11, 0] += 20.1  # left wrist: outside
    res = _run(_metric(thr=0.2), [_sample(gt, pred)])
    assert res['PCK_right_wrist'] == 1.0
    assert res['PCK_left_wrist'] == 0.0
    assert res['Wrist'] == 0.5
    assert res['PCK'] == pytest.approx(13 / 14)
    # doubling the torso makes both correct
    gt2, pred2 = gt.copy(), pred.copy()
    gt2[0, L_SHOULDER, 1] = 0.0
    pred2[0, L_SHOULDER, 1] = 0.0
    assert _run(_metric(), [_sample(gt2, pred2)])['PCK'] == 1.0


def test_both_diagonals_option():
    rng = np.random.default_rng(2)
    gt = _person(rng, torso=100.)
    gt[0, 8] = [0., 0.]  # right shoulder
    gt[0, 3] = [0., 50.]  # left hip: diagonal length 50
    pred = gt.copy()
    pred[0, 0, 0] += 16  # 0.2 * mean(100, 50) = 15 < 16 < 20
    one = _run(_metric(), [_sample(gt, pred)])
    two = _run(_metric(torso_pairs=((9, 2), (8, 3))), [_sample(gt, pred)])
    assert one['PCK_right_ankle'] == 1.0
    assert two['PCK_right_ankle'] == 0.0


def test_person_without_torso_is_skipped_and_counted():
    rng = np.random.default_rng(3)
    good = _person(rng)
    bad = _person(rng)
    vis = np.ones((1, 14))
    vis[0, L_SHOULDER] = 0  # no labelled torso pair
    pred_bad = bad + 1000  # would all be wrong if it were counted
    res = _run(_metric(),
               [_sample(good, good.copy()),
                _sample(bad, pred_bad, vis)])
    assert res['skipped_instances'] == 1 and res['num_instances'] == 2
    assert res['PCK'] == 1.0
    assert np.isfinite(res['PCK'])


def test_all_skipped_gives_zero_not_nan():
    rng = np.random.default_rng(4)
    gt = _person(rng)
    vis = np.zeros((1, 14))
    res = _run(_metric(), [_sample(gt, gt.copy(), vis)])
    assert res['skipped_instances'] == 1 and res['PCK'] == 0.0


def test_unlabelled_joints_are_not_counted():
    rng = np.random.default_rng(5)
    gt = _person(rng)
    pred = gt.copy()
    pred[0, 0] += 500
    vis = np.ones((1, 14))
    vis[0, 0] = 0
    res = _run(_metric(), [_sample(gt, pred, vis)])
    assert res['PCK'] == 1.0 and np.isnan(res['PCK_right_ankle'])


def test_registered_and_invalid_arguments():
    assert METRICS.get('TorsoPCKAccuracy') is TorsoPCKAccuracy
    with pytest.raises(ValueError, match='thr'):
        TorsoPCKAccuracy(thr=0)
    with pytest.raises(ValueError, match='torso_pairs'):
        TorsoPCKAccuracy(torso_pairs=((9, ), ))
    with pytest.raises(ValueError, match='torso pair'):
        _run(
            TorsoPCKAccuracy(torso_pairs=((20, 2), )),
            [_sample(np.zeros((1, 14, 2)), np.zeros((1, 14, 2)))])
