# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""tools/detect_persons.py: an MMDet detector's person boxes as a COCO
``bbox_file`` that MMPose's CocoDataset reads, and a pose checkpoint
evaluated on those boxes by CocoMetric through tools/test.py.

The detector is MMDet's RTMDet-tiny COCO config with weights initialised by
the test (see tests/test_apis/helpers.py); its boxes are meaningless, the
file format and the evaluation path are what is tested.
"""
import glob
import json
import os.path as osp
import runpy
import shutil
import sys

import numpy as np
import pytest

from mmpose_ext.devkit.testing import (coco_data_overrides,
                                       cpu_runtime_overrides, to_cfg_options)
from tests.test_apis.helpers import (save_detector, save_pose_model,
                                     small_detector_cfg, small_pose_cfg)

pytestmark = pytest.mark.slow


def _tool(repo_root, name):
    return runpy.run_path(osp.join(repo_root, 'tools', name))


@pytest.fixture(scope='module')
def detections(repo_root, synthetic_coco, tmp_path_factory):
    out = str(tmp_path_factory.mktemp('detect_persons'))
    det_cfg, det_ckpt = save_detector(small_detector_cfg(), out)
    dets = osp.join(out, 'dets.json')
    rc = _tool(repo_root, 'detect_persons.py')['main']([
        det_cfg, det_ckpt, '--ann-file',
        osp.join(synthetic_coco, 'annotations',
                 'person_keypoints_val2017.json'), '--img-dir',
        osp.join(synthetic_coco, 'val2017'), '--out', dets, '--score-thr',
        '0.0', '--max-per-img', '5', '--device', 'cpu'
    ])
    assert rc == 0
    return dict(dir=out, det_cfg=det_cfg, det_ckpt=det_ckpt, dets=dets)


def test_output_is_a_coco_bbox_file(detections, synthetic_coco):
    ann_file = osp.join(synthetic_coco, 'annotations',
                        'person_keypoints_val2017.json')
    with open(ann_file) as f:
        images = {im['id']: im for im in json.load(f)['images']}
    with open(detections['dets']) as f:
        dets = json.load(f)
    assert isinstance(dets, list) and dets
    per_image = {}
    for d in dets:
        assert set(d) == {'image_id', 'category_id', 'bbox', 'score'}
        assert d['category_id'] == 1 and d['image_id'] in images
        x, y, w, h = d['bbox']
        im = images[d['image_id']]
        assert w > 0 and h > 0
        assert x >= 0 and y >= 0
        assert x + w <= im['width'] + 0.01 and y + h <= im['height'] + 0.01
        assert 0 <= d['score'] <= 1
        per_image.setdefault(d['image_id'], []).append(d['score'])
    assert max(len(s) for s in per_image.values()) <= 5  # --max-per-img
    for scores in per_image.values():
        assert scores == sorted(scores, reverse=True)


def test_mmpose_coco_dataset_reads_it(detections, synthetic_coco):
    """The file is a ``bbox_file``: one top-down sample per box."""
    from mmpose.datasets import CocoDataset
    with open(detections['dets']) as f:
        dets = json.load(f)
    ds = CocoDataset(
        data_root=synthetic_coco,
        ann_file='annotations/person_keypoints_val2017.json',
        data_prefix=dict(img='val2017/'),
        bbox_file=detections['dets'],
        test_mode=True,
        pipeline=[])
    assert len(ds) == len(dets)
    first = ds.get_data_info(0)
    x, y, w, h = dets[0]['bbox']
    np.testing.assert_allclose(
        first['bbox'][0], [x, y, x + w, y + h], atol=0.01)
    np.testing.assert_allclose(
        first['bbox_score'], [dets[0]['score']], atol=1e-5)
    assert first['img_id'] == dets[0]['image_id']


def test_pose_evaluation_on_the_detections(detections, repo_root,
                                           synthetic_coco, monkeypatch,
                                           tmp_path):
    """tools/test.py + CocoMetric on the detector's boxes reports AP."""
    cfg = small_pose_cfg(repo_root)
    cfg_path, ckpt = save_pose_model(cfg, str(tmp_path), 'pose')
    opts = to_cfg_options({
        **coco_data_overrides(synthetic_coco),
        **cpu_runtime_overrides(batch_size=8),
        'test_dataloader.dataset.bbox_file':
        detections['dets'],
    })
    work = str(tmp_path / 'test')
    monkeypatch.chdir(repo_root)
    monkeypatch.setattr(sys, 'argv', [
        'tools/test.py', cfg_path, ckpt, '--work-dir', work, '--cfg-options',
        *opts
    ])
    runpy.run_path(
        osp.join(repo_root, 'tools', 'test.py'), run_name='__main__')
    logs = sorted(glob.glob(osp.join(work, '*', '*.log')))
    log = open(logs[-1]).read()
    with open(detections['dets']) as f:
        num_boxes = len(json.load(f))
    # every detection became a top-down sample
    assert f'[{-(-num_boxes // 8)}/{-(-num_boxes // 8)}]' in log
    line = next(ln for ln in log.splitlines() if 'coco/AP:' in ln)
    ap = float(line.split('coco/AP:')[1].split()[0])
    assert 0.0 <= ap <= 1.0


def test_box_ap_of_perfect_detections_is_one(repo_root, synthetic_coco):
    """``--eval``'s person box AP: the annotated boxes score AP 1."""
    from mmpose_ext.apis import evaluate_person_boxes as evaluate
    ann_file = osp.join(synthetic_coco, 'annotations',
                        'person_keypoints_val2017.json')
    with open(ann_file) as f:
        anns = json.load(f)['annotations']
    gt = [
        dict(image_id=a['image_id'], category_id=1, bbox=a['bbox'], score=1.0)
        for a in anns
    ]
    stats = evaluate(ann_file, gt)
    assert stats['AP'] == pytest.approx(1.0)
    stats = evaluate(ann_file, gt[::2])  # half the persons missed
    assert stats['AP'] < 0.75


def test_bad_images_are_listed_and_skipped(detections, synthetic_coco,
                                           tmp_path, capsys, repo_root):
    img_dir = tmp_path / 'imgs'
    img_dir.mkdir()
    src = sorted(glob.glob(osp.join(synthetic_coco, 'val2017', '*.jpg')))[0]
    shutil.copy(src, img_dir / 'good.jpg')
    (img_dir / 'broken.jpg').write_bytes(b'not a jpeg')
    ann = dict(
        images=[
            dict(id=1, file_name='good.jpg', width=320, height=240),
            dict(id=2, file_name='broken.jpg', width=320, height=240),
            dict(id=3, file_name='missing.jpg', width=320, height=240)
        ],
        annotations=[],
        categories=[dict(id=1, name='person')])
    ann_file = tmp_path / 'ann.json'
    ann_file.write_text(json.dumps(ann))
    out = tmp_path / 'dets.json'
    main = _tool(repo_root, 'detect_persons.py')['main']
    rc = main([
        detections['det_cfg'], detections['det_ckpt'], '--ann-file',
        str(ann_file), '--img-dir',
        str(img_dir), '--out',
        str(out), '--score-thr', '0', '--device', 'cpu'
    ])
    err = capsys.readouterr().err
    assert rc == 1
    assert '2 images failed' in err
    assert 'broken.jpg' in err and 'missing.jpg' in err
    dets = json.loads(out.read_text())
    assert dets and {d['image_id'] for d in dets} == {1}
    # a pose config given as the detector: clear message, status 2
    rc = main([
        osp.join(repo_root, 'configs/hrnet_w32_coco_baseline.py'),
        detections['det_ckpt'], '--ann-file',
        str(ann_file), '--img-dir',
        str(img_dir), '--out',
        str(out), '--device', 'cpu'
    ])
    assert rc == 2
    assert 'not an MMDet detector' in capsys.readouterr().err
