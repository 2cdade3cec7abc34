# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""The generator's CrowdPose format: MMPose's CrowdPose layout, the real
file's fields (``crowdIndex``, ``num_keypoints`` of the limb joints),
keypoints and flags that are what was drawn, and MMPose's CrowdPoseDataset
and CocoMetric (``keypoints_crowd``) reading it."""
import importlib.util
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from mmpose_ext.devkit.synthetic import (CROWDPOSE_DET_FILE,
                                         CROWDPOSE_FROM_SKELETON,
                                         CROWDPOSE_KEYPOINTS, crowd_index,
                                         generate_dataset, render_scene,
                                         scene_rng)
from mmpose_ext.devkit.synthetic.keypoints import CROWDPOSE_SKELETON
from mmpose_ext.devkit.synthetic.skeleton import SKELETON_JOINTS

NUM_TRAIN, NUM_VAL, SEED, SIZE = 6, 4, 0, (320, 240)
K = 14
ANNS = {
    'train': 'mmpose_crowdpose_trainval.json',
    'val': 'mmpose_crowdpose_test.json'
}
# the 12 limb joints: ``num_keypoints`` counts their labelled keypoints
LIMBS = np.arange(12)


def _load_json(path):
    with open(path) as f:
        return json.load(f)


def _ann(root, split):
    return _load_json(osp.join(root, 'annotations', ANNS[split]))


@pytest.fixture(scope='module')
def crowdpose(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('synthetic_crowdpose'))
    paths = generate_dataset(
        'crowdpose', out, num_train=NUM_TRAIN, num_val=NUM_VAL, seed=SEED)
    return out, paths


def test_keypoints_are_the_metas_in_order():
    from mmpose.datasets import CrowdPoseDataset
    meta = CrowdPoseDataset._load_metainfo(CrowdPoseDataset.METAINFO)
    id2name = meta['keypoint_id2name']
    assert tuple(id2name[i] for i in range(K)) == CROWDPOSE_KEYPOINTS
    assert CROWDPOSE_SKELETON == [[a + 1, b + 1]
                                  for a, b in meta['skeleton_links']]
    # top_head is the skeleton's head top, neck its upper neck
    aliases = {'top_head': 'head_top', 'neck': 'upper_neck'}
    assert [SKELETON_JOINTS[i] for i in CROWDPOSE_FROM_SKELETON
            ] == [aliases.get(n, n) for n in CROWDPOSE_KEYPOINTS]
    assert [CROWDPOSE_KEYPOINTS[i] for i in LIMBS] == [
        n for n in CROWDPOSE_KEYPOINTS if n not in ('top_head', 'neck')
    ]


def test_layout_and_annotation_format(crowdpose):
    root, paths = crowdpose
    assert paths == {
        'data_root': root,
        'train_ann': osp.join(root, 'annotations', ANNS['train']),
        'val_ann': osp.join(root, 'annotations', ANNS['val']),
        'img_dir': osp.join(root, 'images'),
        'bbox_file': osp.join(root, 'annotations', CROWDPOSE_DET_FILE),
    }
    ann_ids, image_ids = set(), []
    for split, count in (('train', NUM_TRAIN), ('val', NUM_VAL)):
        data = _ann(root, split)
        assert set(data) == {'categories', 'images', 'annotations'}
        category, = data['categories']
        assert category['keypoints'][:12] == list(CROWDPOSE_KEYPOINTS[:12])
        assert category['keypoints'][12:] == ['head', 'neck']  # real names
        assert len(data['images']) == count
        by_image = {}
        for ann in data['annotations']:
            by_image.setdefault(ann['image_id'], []).append(ann)
        for img in data['images']:
            image_ids.append(img['id'])
            assert img['file_name'] == f'{img["id"]}.jpg'
            image = cv2.imread(osp.join(paths['img_dir'], img['file_name']))
            assert image.shape == (img['height'], img['width'], 3)
            anns = by_image[img['id']]
            assert img['crowdIndex'] == crowd_index(anns)
        for ann in data['annotations']:
            assert ann['id'] not in ann_ids
            ann_ids.add(ann['id'])
            assert set(ann) == {
                'num_keypoints', 'iscrowd', 'keypoints', 'image_id', 'bbox',
                'category_id', 'id'
            }
            kpts = np.array(ann['keypoints']).reshape(K, 3)
            assert set(kpts[:, 2]) <= {0, 1, 2}
            assert np.all(kpts[kpts[:, 2] == 0, :2] == 0)
            assert ann['num_keypoints'] == (kpts[LIMBS, 2] > 0).sum()
            x, y, bw, bh = ann['bbox']
            labelled = kpts[kpts[:, 2] > 0, :2]
            assert np.all((labelled >= [x, y]) & (labelled < [x + bw, y + bh]))
    assert image_ids == list(range(100001, 100001 + NUM_TRAIN + NUM_VAL))
    dets = _load_json(paths['bbox_file'])
    assert {d['image_id'] for d in dets} <= set(image_ids[NUM_TRAIN:])


def test_flags_and_keypoints_match_the_drawing(crowdpose):
    root, _ = crowdpose
    counts = np.zeros(3, int)
    for split, count in (('train', NUM_TRAIN), ('val', NUM_VAL)):
        data = _ann(root, split)
        first_id = data['images'][0]['id']
        by_image = {}
        for ann in data['annotations']:
            by_image.setdefault(ann['image_id'], []).append(ann)
        for index in range(count):
            scene = render_scene(
                scene_rng(SEED, 'crowdpose', split, index), SIZE, 'crowdpose',
                2)
            anns = by_image[first_id + index]
            assert len(anns) == scene.num_people
            for p, ann in enumerate(anns):
                kpts = np.array(ann['keypoints']).reshape(K, 3)
                expect = np.where(scene.in_image[p] & scene.annotated[p],
                                  np.where(scene.visible[p], 2, 1),
                                  0)[CROWDPOSE_FROM_SKELETON]
                np.testing.assert_array_equal(kpts[:, 2], expect)
                labelled = expect > 0
                np.testing.assert_array_equal(
                    kpts[labelled, :2],
                    scene.keypoints[p][CROWDPOSE_FROM_SKELETON][labelled])
                counts += np.bincount(expect, minlength=3)
    assert counts[2] > 0 and counts[1] > 0


def test_crowd_index_is_the_real_files(real_data_root):
    """CrowdPose's crowd index, computed from the real annotations, is the
    real file's ``crowdIndex`` of both images (0.33 and 0.39)."""
    real = _load_json(
        osp.join(real_data_root, 'crowdpose', 'test_crowdpose.json'))
    for img in real['images']:
        anns = [a for a in real['annotations'] if a['image_id'] == img['id']]
        assert crowd_index(anns) == img['crowdIndex']
    # a lone person, or nobody labelled: 0
    assert crowd_index(real['annotations'][:1]) == 0.0
    assert crowd_index([]) == 0.0


def test_num_keypoints_follows_the_real_files_rule(real_data_root):
    """The real file counts labelled limb keypoints, not head and neck."""
    real = _load_json(
        osp.join(real_data_root, 'crowdpose', 'test_crowdpose.json'))
    for ann in real['annotations']:
        flags = np.array(ann['keypoints']).reshape(K, 3)[:, 2]
        assert ann['num_keypoints'] == (flags[LIMBS] > 0).sum()


def test_fields_match_the_real_file(crowdpose, real_data_root):
    root, paths = crowdpose
    real = _load_json(
        osp.join(real_data_root, 'crowdpose', 'test_crowdpose.json'))
    ours = _ann(root, 'val')
    assert set(ours) == set(real)
    assert set(ours['images'][0]) == set(real['images'][0])
    assert set(ours['annotations'][0]) == set(real['annotations'][0])
    assert ours['categories'][0]['keypoints'] == \
        real['categories'][0]['keypoints']
    real_det = _load_json(
        osp.join(real_data_root, 'crowdpose', 'test_crowdpose_det_AP_40.json'))
    assert set(_load_json(paths['bbox_file'])[0]) == set(real_det[0])


def test_mmpose_reads_it_and_crowdpose_ap_is_1_for_the_ground_truth(
        crowdpose, tmp_path):
    from mmpose.datasets import CrowdPoseDataset
    from mmpose.evaluation import CocoMetric
    root, paths = crowdpose
    train = CrowdPoseDataset(
        data_root=root,
        ann_file='annotations/' + ANNS['train'],
        data_prefix=dict(img='images/'),
        pipeline=[
            dict(type='LoadImage'),
            dict(type='GetBBoxCenterScale'),
            dict(type='TopdownAffine', input_size=(192, 256)),
            dict(
                type='GenerateTarget',
                encoder=dict(
                    type='MSRAHeatmap',
                    input_size=(192, 256),
                    heatmap_size=(48, 64),
                    sigma=2)),
            dict(type='PackPoseInputs'),
        ])
    assert len(train) > 0
    assert train.get_data_info(0)['crowd_index'] is not None
    assert train[0]['data_samples'].gt_fields.heatmaps.shape == (K, 64, 48)
    assert len(
        CrowdPoseDataset(
            data_root=root,
            ann_file='annotations/' + ANNS['val'],
            bbox_file=paths['bbox_file'],
            data_prefix=dict(img='images/'),
            test_mode=True)) == len(_load_json(paths['bbox_file']))

    val = CrowdPoseDataset(
        data_root=root,
        ann_file='annotations/' + ANNS['val'],
        data_prefix=dict(img='images/'),
        test_mode=True)
    results = {}
    for offset in (0.0, 8.0):
        metric = CocoMetric(
            ann_file=paths['val_ann'],
            use_area=False,
            iou_type='keypoints_crowd',
            prefix='crowdpose',
            outfile_prefix=str(tmp_path / f'off{offset}'))
        metric.dataset_meta = val.metainfo
        samples = []
        for i in range(len(val)):
            info = val.get_data_info(i)
            bbox = info['bbox']
            samples.append({
                'id': info['id'],
                'img_id': info['img_id'],
                'category_id': 1,
                'gt_instances': {
                    'bbox_scales': (bbox[:, 2:] - bbox[:, :2]) * 1.25,
                    'bbox_scores': np.ones(1, dtype=np.float32),
                    'bboxes': bbox,
                },
                'pred_instances': {
                    'keypoints': info['keypoints'] + offset,
                    'keypoint_scores': np.ones((1, K), dtype=np.float32),
                },
            })
        metric.process([], samples)
        results[offset] = metric.evaluate(size=len(samples))
    assert results[0.0]['crowdpose/AP'] == pytest.approx(1.0)
    assert results[8.0]['crowdpose/AP'] < 0.9


def _tree_bytes(root):
    files = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = osp.join(dirpath, name)
            with open(path, 'rb') as f:
                files[osp.relpath(path, root)] = f.read()
    return files


def test_same_seed_gives_identical_files(tmp_path):
    kwargs = dict(num_train=2, num_val=2, image_size=(160, 128))
    generate_dataset('crowdpose', str(tmp_path / 'a'), seed=7, **kwargs)
    generate_dataset('crowdpose', str(tmp_path / 'b'), seed=7, **kwargs)
    generate_dataset('crowdpose', str(tmp_path / 'c'), seed=8, **kwargs)
    a, b, c = (_tree_bytes(tmp_path / k) for k in 'abc')
    assert a == b and set(a) == set(c) and a != c


def test_the_other_formats_keep_their_random_streams():
    """The format is appended to FORMATS, whose position is part of every
    image's seed (``scene_rng``): the other formats' images do not move;
    CrowdPose's images have their own stream."""
    from mmpose_ext.devkit.synthetic.scene import FORMATS
    assert FORMATS == ('coco', 'mpii', 'lsp', 'lspet', 'crowdpose')
    a = render_scene(scene_rng(0, 'coco', 'train', 0), (96, 64), 'coco', 2)
    b = render_scene(
        scene_rng(0, 'crowdpose', 'train', 0), (96, 64), 'crowdpose', 2)
    assert not np.array_equal(a.image, b.image)


def test_cli_writes_the_layout(repo_root, tmp_path, capsys):
    spec = importlib.util.spec_from_file_location(
        'make_synthetic_dataset',
        osp.join(repo_root, 'tools', 'make_synthetic_dataset.py'))
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    out = tmp_path / 'cp'
    assert cli.main([
        'crowdpose',
        str(out), '--num-train', '2', '--num-val', '1', '--image-size', '128',
        '96'
    ]) == 0
    for rel in ('annotations/' + ANNS['train'], 'annotations/' + ANNS['val'],
                'annotations/' + CROWDPOSE_DET_FILE, 'images/100001.jpg',
                'images/100003.jpg'):
        assert (out / rel).is_file(), rel
    assert f'bbox_file: {out}/annotations/{CROWDPOSE_DET_FILE}' in \
        capsys.readouterr().out


def test_benchmarks_know_the_crowdpose_format_and_reject_unknown_ones():
    from mmengine.config import Config

    from mmpose_ext.devkit.benchmark.common import dataset_format
    cfg = Config(
        dict(
            train_dataloader=dict(
                dataset=dict(
                    type='SkipBadSamples', dataset_type='CrowdPoseDataset'))))
    assert dataset_format(cfg) == 'crowdpose'
    # a wrapper naming a data set the generator has no format for: an error
    # (it used to loop for ever)
    cfg.train_dataloader.dataset.dataset_type = 'AicDataset'
    with pytest.raises(ValueError, match='AicDataset'):
        dataset_format(cfg)
