# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Tests of the synthetic data-set generator (real COCO / MPII / LSP layouts).

The session fixtures ``synthetic_coco`` / ``synthetic_mpii`` /
``synthetic_lsp`` (12 train + 6 val images, seed 0) come from
``tests/conftest.py``; the generator's per-image random streams
(:func:`scene_rng`) let the tests re-render any written image and compare
the files with what was drawn.
"""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
from scipy.io import loadmat

from mmpose_ext.devkit.synthetic import (COCO_DET_FILE, generate_dataset,
                                         render_scene, scene_rng)
# yapf: disable  (isort's wrapping)
from mmpose_ext.devkit.synthetic.keypoints import (COCO_FROM_SKELETON,
                                                   COCO_KEYPOINTS,
                                                   COCO_SKELETON,
                                                   LSP_FROM_SKELETON,
                                                   LSP_KEYPOINTS,
                                                   MPII_FROM_SKELETON,
                                                   MPII_KEYPOINTS,
                                                   _keypoint_names)
from mmpose_ext.devkit.synthetic.skeleton import BODY_PARTS, SKELETON_JOINTS

# yapf: enable

NUM_TRAIN, NUM_VAL, SEED, SIZE = 12, 6, 0, (320, 240)  # as in conftest.py


def _load_json(path):
    with open(path) as f:
        return json.load(f)


def _coco_ann(root, split):
    return _load_json(
        osp.join(root, 'annotations', f'person_keypoints_{split}2017.json'))


# ----------------------------------------------------------------- drawing


@pytest.mark.parametrize('fmt', ['coco', 'mpii', 'lsp'])
def test_visible_keypoints_lie_on_their_own_drawn_parts(fmt):
    """A visible joint's pixel shows one of the parts the joint belongs to;
    an occluded joint's pixel shows something drawn later (another part,
    another person or the occluder)."""
    joint_parts = {
        'left_wrist': {'left_forearm', 'left_hand'},
        'right_knee': {'right_thigh', 'right_shin'},
        'head_top': {'head'},
        'left_hip': {'torso', 'left_thigh'},
    }
    num_visible = num_occluded = 0
    for index in range(12):
        scene = render_scene(scene_rng(1, fmt, 'train', index), SIZE, fmt, 3)
        for p in range(scene.num_people):
            xy = scene.keypoints[p]
            inside = scene.in_image[p]
            ids = scene.draw_ids[xy[inside, 1], xy[inside, 0]]
            owner = scene.id_person[ids]
            visible = scene.visible[p][inside]
            assert np.all(owner[visible] == p)
            # what covers an occluded joint was drawn after the person's
            # first part, i.e. it is not the background
            assert np.all(ids[~visible & scene.annotated[p][inside]] > 0)
            num_visible += visible.sum()
            num_occluded += (~visible & scene.annotated[p][inside]).sum()
            for name, parts in joint_parts.items():
                j = SKELETON_JOINTS.index(name)
                if scene.visible[p, j]:
                    part = scene.id_part[scene.draw_ids[xy[j, 1], xy[j, 0]]]
                    assert BODY_PARTS[part] in parts, name
    assert num_visible > 5 * num_occluded > 0


def test_people_stand_out_from_the_background():
    """The person changes the pixels at visible joints; away from what was
    drawn (anti-aliased rims aside) the image is the background itself."""
    scene = render_scene(scene_rng(3, 'coco', 'val', 0), SIZE, 'coco', 2)
    diff = np.abs(scene.image.astype(int) - scene.background).sum(-1)
    person = scene.id_person[scene.draw_ids] >= 0
    near_drawn = cv2.dilate((scene.draw_ids > 0).astype(np.uint8),
                            np.ones((5, 5), np.uint8)) > 0
    assert np.all(diff[~near_drawn] == 0)
    kpts = scene.keypoints[scene.visible]
    assert np.median(diff[kpts[:, 1], kpts[:, 0]]) > 30
    assert person.mean() > 0.03


def test_left_limbs_are_lighter_than_right_limbs():
    """The left/right cue: for the same garment the left limb is lighter."""
    lighter = total = 0
    for index in range(10):
        scene = render_scene(scene_rng(4, 'lsp', 'train', index), SIZE, 'lsp')
        gray = cv2.cvtColor(scene.image, cv2.COLOR_BGR2GRAY).astype(float)
        for limb in ('thigh', 'upper_arm'):
            means = []
            for side in ('left', 'right'):
                ids = np.flatnonzero(
                    (scene.id_part == BODY_PARTS.index(f'{side}_{limb}')))
                pixels = gray[scene.draw_ids == ids[0]]
                means.append(pixels.mean() if pixels.size > 30 else np.nan)
            if not np.isnan(means).any():
                total += 1
                lighter += means[0] > means[1]
    assert total >= 10 and lighter >= 0.9 * total


# -------------------------------------------------------------------- COCO


def test_coco_layout_and_annotation_format(synthetic_coco):
    root = synthetic_coco
    assert osp.isfile(
        osp.join(root, 'person_detection_results', COCO_DET_FILE))
    ann_ids = set()
    for split, count in (('train', NUM_TRAIN), ('val', NUM_VAL)):
        data = _coco_ann(root, split)
        assert set(data) == {
            'info', 'licenses', 'categories', 'images', 'annotations'
        }
        category, = data['categories']
        assert category['id'] == 1 and category['name'] == 'person'
        assert tuple(category['keypoints']) == COCO_KEYPOINTS
        assert len(category['skeleton']) == 19
        assert len(data['images']) == count
        sizes = {}
        for img in data['images']:
            assert img['file_name'] == f'{img["id"]:012d}.jpg'
            image = cv2.imread(
                osp.join(root, f'{split}2017', img['file_name']))
            assert image.shape == (img['height'], img['width'], 3)
            sizes[img['id']] = (img['width'], img['height'])
        for ann in data['annotations']:
            assert ann['id'] not in ann_ids
            ann_ids.add(ann['id'])
            assert ann['category_id'] == 1 and ann['iscrowd'] == 0
            kpts = np.array(ann['keypoints']).reshape(17, 3)
            assert set(kpts[:, 2]) <= {0, 1, 2}
            assert np.all(kpts[kpts[:, 2] == 0, :2] == 0)
            assert ann['num_keypoints'] == (kpts[:, 2] > 0).sum() >= 5
            w, h = sizes[ann['image_id']]
            x, y, bw, bh = ann['bbox']
            assert 0 <= x and 0 <= y and x + bw <= w and y + bh <= h
            labelled = kpts[kpts[:, 2] > 0, :2]
            assert np.all((labelled >= [x, y]) & (labelled < [x + bw, y + bh]))
            assert 0 < ann['area'] <= bw * bh
            assert all(
                len(poly) >= 6 and len(poly) % 2 == 0
                for poly in ann['segmentation'])


def test_coco_flags_match_the_drawing(synthetic_coco):
    """v = 2 exactly where the joint is visible in the drawing, v = 1 where
    it is covered, v = 0 outside the image (or a face seen from behind)."""
    counts = np.zeros(3, int)
    for split, count in (('train', NUM_TRAIN), ('val', NUM_VAL)):
        data = _coco_ann(synthetic_coco, split)
        first_id = data['images'][0]['id']
        by_image = {}
        for ann in data['annotations']:
            by_image.setdefault(ann['image_id'], []).append(ann)
        for index in range(count):
            scene = render_scene(
                scene_rng(SEED, 'coco', split, index), SIZE, 'coco', 2)
            anns = by_image.get(first_id + index, [])
            assert len(anns) == scene.num_people
            for p, ann in enumerate(anns):
                kpts = np.array(ann['keypoints']).reshape(17, 3)
                expect = np.where(scene.in_image[p] & scene.annotated[p],
                                  np.where(scene.visible[p], 2, 1),
                                  0)[COCO_FROM_SKELETON]
                np.testing.assert_array_equal(kpts[:, 2], expect)
                labelled = expect > 0
                np.testing.assert_array_equal(
                    kpts[labelled, :2],
                    scene.keypoints[p][COCO_FROM_SKELETON][labelled])
                counts += np.bincount(expect, minlength=3)
    # truncation and occlusion really happen in this small set
    assert counts[0] > 0 and counts[1] > 0 and counts[2] > 5 * counts[1]


def test_written_images_are_the_rendered_scenes(synthetic_coco):
    scene = render_scene(scene_rng(SEED, 'coco', 'val', 2), SIZE, 'coco', 2)
    written = cv2.imread(
        osp.join(synthetic_coco, 'val2017', f'{NUM_TRAIN + 3:012d}.jpg'))
    person = scene.id_person[scene.draw_ids] >= 0
    jpeg_error = np.abs(written.astype(int) - scene.image)[person].mean()
    assert jpeg_error < 8  # quality 90 on a noisy texture
    assert np.abs(written.astype(int) -
                  scene.background)[person].mean() > 5 * jpeg_error


def test_coco_loads_in_mmpose_train_mode(synthetic_coco):
    from mmpose.datasets import CocoDataset
    dataset = CocoDataset(
        data_root=synthetic_coco,
        data_mode='topdown',
        ann_file='annotations/person_keypoints_train2017.json',
        data_prefix=dict(img='train2017/'),
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
    anns = _coco_ann(synthetic_coco, 'train')['annotations']
    assert len(dataset) == len(anns)
    info = dataset.get_data_info(0)
    np.testing.assert_array_equal(
        info['keypoints'][0],
        np.array(anns[0]['keypoints']).reshape(17, 3)[:, :2])
    sample = dataset[0]
    assert sample['inputs'].shape == (3, 256, 192)
    heatmaps = sample['data_samples'].gt_fields.heatmaps
    assert heatmaps.shape == (17, 64, 48)
    # the targets of visible joints peak where the joints were drawn
    weights = sample['data_samples'].gt_instance_labels.keypoint_weights[0]
    assert weights.sum() >= 5 and heatmaps.amax((1, 2))[weights > 0].min() > .9


def test_coco_val_with_detection_file(synthetic_coco):
    from mmpose.datasets import CocoDataset
    det_file = osp.join(synthetic_coco, 'person_detection_results',
                        COCO_DET_FILE)
    dets = _load_json(det_file)
    val = _coco_ann(synthetic_coco, 'val')
    assert {d['image_id'] for d in dets} <= {i['id'] for i in val['images']}
    assert all(d['category_id'] == 1 and 0 < d['score'] <= 1 for d in dets)
    # a detector's output: at least as many boxes as people, high-score boxes
    # on the people and some low-score extra boxes
    scores = np.array([d['score'] for d in dets])
    assert (scores >= 0.7).sum() >= 0.9 * len(val['annotations'])
    assert (scores < 0.5).sum() > 0
    dataset = CocoDataset(
        data_root=synthetic_coco,
        ann_file='annotations/person_keypoints_val2017.json',
        bbox_file=det_file,
        data_prefix=dict(img='val2017/'),
        test_mode=True,
        pipeline=[])
    assert len(dataset) == len(dets)
    info = dataset.get_data_info(0)
    assert osp.isfile(info['img_path'])


def _coco_gt_samples(dataset, offset=0.0):
    """Top-down data samples whose predictions are the ground truth."""
    samples = []
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        bbox = info['bbox']
        samples.append({
            'id': info['id'],
            'img_id': info['img_id'],
            'category_id': 1,
            'gt_instances': {
                # as GetBBoxCenterScale (padding 1.25) would set it
                'bbox_scales': (bbox[:, 2:] - bbox[:, :2]) * 1.25,
                'bbox_scores': np.ones(1, dtype=np.float32),
                'bboxes': info['bbox'],
            },
            'pred_instances': {
                'keypoints': info['keypoints'] + offset,
                'keypoint_scores': np.ones((1, 17), dtype=np.float32),
            },
        })
    return samples


def test_coco_metric_gives_ap_1_for_the_ground_truth(synthetic_coco, tmp_path):
    from mmpose.datasets import CocoDataset
    from mmpose.evaluation import CocoMetric
    val_ann = osp.join(synthetic_coco, 'annotations',
                       'person_keypoints_val2017.json')
    dataset = CocoDataset(
        data_root=synthetic_coco,
        ann_file=val_ann,
        data_prefix=dict(img='val2017/'),
        test_mode=True,
        pipeline=[])
    assert len(dataset) == len(_load_json(val_ann)['annotations'])
    results = {}
    for offset in (0.0, 8.0):
        metric = CocoMetric(
            ann_file=val_ann, outfile_prefix=str(tmp_path / f'off{offset}'))
        metric.dataset_meta = dataset.metainfo
        samples = _coco_gt_samples(dataset, offset)
        metric.process([], samples)
        results[offset] = metric.evaluate(size=len(samples))
    assert results[0.0]['coco/AP'] == pytest.approx(1.0)
    assert results[0.0]['coco/AR'] == pytest.approx(1.0)
    assert results[8.0]['coco/AP'] < 0.9  # the metric does discriminate


# -------------------------------------------------------------------- MPII


def test_mpii_layout_and_format(synthetic_mpii):
    ann_dir = osp.join(synthetic_mpii, 'annotations')
    heads = loadmat(osp.join(ann_dir, 'mpii_gt_val.mat'))
    val = _load_json(osp.join(ann_dir, 'mpii_val.json'))
    n = len(val)
    assert heads['headboxes_src'].shape == (2, 2, n)
    assert heads['pos_gt_src'].shape == (16, 2, n)
    assert heads['jnt_missing'].shape == (16, n)
    assert [str(v[0]) for v in heads['dataset_joints'][0]
            ][:3] == ['rank', 'rkne', 'rhip']
    np.testing.assert_array_equal(heads['pos_gt_src'],
                                  np.stack([e['joints'] for e in val], -1))
    np.testing.assert_array_equal(
        heads['jnt_missing'], 1 - np.array([e['joints_vis'] for e in val]).T)
    x1y1, x2y2 = heads['headboxes_src'][0], heads['headboxes_src'][1]
    assert np.all(x2y2 > x1y1)

    train = _load_json(osp.join(ann_dir, 'mpii_train.json'))
    images = {e['image'] for e in train} | {e['image'] for e in val}
    assert len(images) == NUM_TRAIN + NUM_VAL
    for entry in train + val:
        assert list(entry) == [
            'joints_vis', 'joints', 'image', 'scale', 'center'
        ]
        assert int(entry['image'][:-4]) >= 1 and entry['image'][-4:] == '.jpg'
        joints = np.array(entry['joints'])
        vis = np.array(entry['joints_vis'], bool)
        assert joints.shape == (16, 2)
        assert np.all(joints[~vis] == -1)
        # 1-based MATLAB pixels inside the image
        assert np.all((joints[vis] >= 1) & (joints[vis] <= SIZE))
        # centre = torso centre (pelvis/thorax midpoint), as in MPII
        if vis[6] and vis[7]:
            np.testing.assert_allclose(
                entry['center'], joints[[6, 7]].mean(0), atol=1.0)
        # scale * 200 ~ 6 head lengths (upper neck to head top), real ratio
        if vis[8] and vis[9]:
            head = np.linalg.norm(joints[9] - joints[8])
            assert 4 < entry['scale'] * 200 / head < 9
    assert osp.isfile(osp.join(synthetic_mpii, 'images', val[0]['image']))


def test_mpii_joints_follow_the_skeleton(synthetic_mpii):
    train = _load_json(
        osp.join(synthetic_mpii, 'annotations', 'mpii_train.json'))
    scene = render_scene(scene_rng(SEED, 'mpii', 'train', 0), SIZE, 'mpii', 2)
    assert sum(e['image'] == '000000001.jpg' for e in train) == \
        scene.num_people
    joints = np.array(train[0]['joints'])
    expect = scene.keypoints[0][MPII_FROM_SKELETON] + 1
    present = np.array(train[0]['joints_vis'], bool)
    np.testing.assert_array_equal(joints[present], expect[present])
    # pelvis / thorax are the hip / shoulder midpoints
    k = {name: expect[i] for i, name in enumerate(MPII_KEYPOINTS)}
    assert np.abs(k['pelvis'] - (k['left_hip'] + k['right_hip']) / 2).max() \
        <= 1
    assert np.abs(k['thorax'] -
                  (k['left_shoulder'] + k['right_shoulder']) / 2).max() <= 1


def test_mpii_loads_in_mmpose_and_pckh_is_100(synthetic_mpii):
    from mmpose.datasets import MpiiDataset
    from mmpose.evaluation import MpiiPCKAccuracy
    ann_dir = osp.join(synthetic_mpii, 'annotations')
    dataset = MpiiDataset(
        data_root=synthetic_mpii,
        ann_file='annotations/mpii_val.json',
        data_prefix=dict(img='images/'),
        headbox_file=osp.join(ann_dir, 'mpii_gt_val.mat'),
        test_mode=True,
        pipeline=[])
    val = _load_json(osp.join(ann_dir, 'mpii_val.json'))
    assert len(dataset) == len(val)
    results = {}
    for offset in (0.0, 1.0):
        metric = MpiiPCKAccuracy()
        metric.dataset_meta = dataset.metainfo
        samples = []
        for i in range(len(dataset)):
            info = dataset.get_data_info(i)
            assert info['head_size'].item() > 1
            # MpiiPCKAccuracy adds 1 to predictions (0-based -> MATLAB)
            pred = info['keypoints'] - 1 + offset * info['head_size'].item()
            samples.append({
                'gt_instances': {
                    'keypoints': info['keypoints'],
                    'keypoints_visible': info['keypoints_visible'],
                    'head_size': info['head_size'],
                    'bboxes': info['bbox'],
                },
                'pred_instances': {
                    'keypoints': pred
                },
            })
        metric.process([], samples)
        results[offset] = metric.evaluate(size=len(samples))
    assert results[0.0]['PCK'] == pytest.approx(100.0)
    assert results[0.0]['Head PCK'] == pytest.approx(100.0)
    assert results[1.0]['PCK'] < 50


# --------------------------------------------------------------------- LSP


def test_lsp_joints_mat_layout_and_flags(synthetic_lsp):
    joints = loadmat(osp.join(synthetic_lsp, 'joints.mat'))['joints']
    total = NUM_TRAIN + NUM_VAL
    assert joints.shape == (3, 14, total) and joints.dtype == np.float64
    assert set(np.unique(joints[2])) <= {0.0, 1.0}
    sizes = set()
    for i in range(total):
        image = cv2.imread(
            osp.join(synthetic_lsp, 'images', f'im{i + 1:04d}.jpg'))
        h, w = image.shape[:2]
        sizes.add((w, h))
        assert np.all((joints[:2, :, i].T >= 0)
                      & (joints[:2, :, i].T < [w, h]))
        # original LSP convention: third row 1 = occluded, 0 = visible;
        # the val split is the last NUM_VAL images
        split = 'train' if i < NUM_TRAIN else 'val'
        scene = render_scene(scene_rng(SEED, 'lsp', split, i), SIZE, 'lsp')
        assert scene.num_people == 1 and scene.image.shape == (h, w, 3)
        np.testing.assert_array_equal(joints[:2, :, i].T,
                                      scene.keypoints[0][LSP_FROM_SKELETON])
        np.testing.assert_array_equal(joints[2, :, i],
                                      ~scene.visible[0][LSP_FROM_SKELETON])
    assert len(sizes) > 1  # images of varying size
    assert 0 < joints[2].mean() < 0.3  # most joints visible (flag 0)
    assert not osp.exists(
        osp.join(synthetic_lsp, 'images', f'im{total + 1:04d}.jpg'))


def test_lspet_joints_mat_layout_and_flags(tmp_path):
    paths = generate_dataset(
        'lspet', str(tmp_path), num_train=3, num_val=2, seed=5)
    joints = loadmat(paths['joints_mat'])['joints']
    assert joints.shape == (14, 3, 5)
    assert sorted(os.listdir(
        paths['img_dir'])) == [f'im{i:05d}.jpg' for i in range(1, 6)]
    for i in range(5):
        h, w = cv2.imread(osp.join(paths['img_dir'],
                                   f'im{i + 1:05d}.jpg')).shape[:2]
        scene = render_scene(
            scene_rng(5, 'lspet', 'train' if i < 3 else 'val', i), SIZE,
            'lspet')
        assert scene.image.shape == (h, w, 3)
        np.testing.assert_array_equal(joints[:, :2, i],
                                      scene.keypoints[0][LSP_FROM_SKELETON])
        # LSP-extended convention: 1 = visible
        np.testing.assert_array_equal(joints[:, 2, i],
                                      scene.visible[0][LSP_FROM_SKELETON])


# ------------------------------------------------------------ keypoint tables


def test_keypoint_tables_are_the_dataset_metas_order():
    """The generator writes keypoints in the order MMPose reads them with."""
    from mmpose.datasets import CocoDataset, MpiiDataset

    from mmpose_ext.datasets import LspDataset
    cases = ((CocoDataset, COCO_KEYPOINTS), (MpiiDataset, MPII_KEYPOINTS),
             (LspDataset, LSP_KEYPOINTS))
    for dataset, names in cases:
        meta = dataset._load_metainfo(dataset.METAINFO)
        id2name = meta['keypoint_id2name']
        assert tuple(id2name[i] for i in range(len(id2name))) == names
    meta = CocoDataset._load_metainfo(CocoDataset.METAINFO)
    assert COCO_SKELETON == [[a + 1, b + 1] for a, b in meta['skeleton_links']]
    # LSP neck is the skeleton's upper neck; all others keep their names
    assert [SKELETON_JOINTS[i] for i in LSP_FROM_SKELETON
            ] == ['upper_neck' if n == 'neck' else n for n in LSP_KEYPOINTS]
    assert [SKELETON_JOINTS[i] for i in COCO_FROM_SKELETON] == \
        list(COCO_KEYPOINTS)


def test_a_meta_out_of_order_is_a_clear_error():
    meta = dict(dataset_name='toy', keypoint_id2name={0: 'nose', 2: 'neck'})
    with pytest.raises(RuntimeError, match='toy.py: keypoint ids'):
        _keypoint_names(meta, 'toy.py', 2, {})
    meta['keypoint_id2name'] = {0: 'nose', 1: 'tail'}
    with pytest.raises(RuntimeError, match=r"unknown: \['tail'\]"):
        _keypoint_names(meta, 'toy.py', 2, {})


# ----------------------------------------------------- determinism and args


def _tree_bytes(root):
    files = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = osp.join(dirpath, name)
            with open(path, 'rb') as f:
                files[osp.relpath(path, root)] = f.read()
    return files


@pytest.mark.parametrize('fmt', ['coco', 'mpii', 'lsp'])
def test_same_seed_gives_identical_files(fmt, tmp_path):
    kwargs = dict(num_train=2, num_val=2, image_size=(160, 128))
    a = generate_dataset(fmt, str(tmp_path / 'a'), seed=7, **kwargs)
    generate_dataset(fmt, str(tmp_path / 'b'), seed=7, **kwargs)
    generate_dataset(fmt, str(tmp_path / 'c'), seed=8, **kwargs)
    files_a, files_b, files_c = (
        _tree_bytes(tmp_path / k) for k in ('a', 'b', 'c'))
    assert files_a == files_b
    assert set(files_a) == set(files_c) and files_a != files_c
    assert set(a) >= {'data_root'} and all(osp.exists(p) for p in a.values())


def test_images_do_not_depend_on_the_split_sizes(tmp_path):
    small = generate_dataset(
        'coco',
        str(tmp_path / 's'),
        num_train=1,
        num_val=1,
        image_size=(160, 128))
    large = generate_dataset(
        'coco',
        str(tmp_path / 'l'),
        num_train=2,
        num_val=1,
        image_size=(160, 128))
    name = '000000000001.jpg'
    with open(osp.join(small['train_img_dir'], name), 'rb') as f1, \
            open(osp.join(large['train_img_dir'], name), 'rb') as f2:
        assert f1.read() == f2.read()


@pytest.mark.parametrize('kwargs, name', [
    (dict(fmt='yoga'), 'fmt'),
    (dict(num_train=0), 'num_train'),
    (dict(num_val=-3), 'num_val'),
    (dict(num_train=2.5), 'num_train'),
    (dict(seed=-1), 'seed'),
    (dict(image_size=(0, 240)), 'image_size'),
    (dict(image_size=(320, )), 'image_size'),
    (dict(max_people=0), 'max_people'),
])
def test_invalid_arguments_raise_value_error(kwargs, name, tmp_path):
    args = dict(fmt='coco', out_dir=str(tmp_path / 'out'))
    args.update(kwargs)
    with pytest.raises(ValueError, match=name) as info:
        generate_dataset(**args)
    assert '\n' not in str(info.value)
    assert not osp.exists(tmp_path / 'out' / 'annotations')


def test_unwritable_out_dir_raises_value_error(tmp_path):
    blocker = tmp_path / 'a_file'
    blocker.write_text('not a directory')
    with pytest.raises(ValueError, match='out_dir'):
        generate_dataset('mpii', str(blocker / 'sub'), num_train=1, num_val=1)


# ------------------------------------------------------ real-format parity


def test_formats_match_the_real_files(real_data_root, synthetic_coco,
                                      synthetic_mpii):
    """Same keys and layouts as MMPose's real COCO / MPII test files."""
    real = _load_json(osp.join(real_data_root, 'coco', 'test_coco.json'))
    ours = _coco_ann(synthetic_coco, 'val')
    assert set(ours) == set(real)
    assert set(ours['images'][0]) == set(real['images'][0])
    assert set(ours['annotations'][0]) == set(real['annotations'][0])
    assert ours['categories'][0]['keypoints'] == \
        real['categories'][0]['keypoints']
    assert ours['categories'][0]['skeleton'] == \
        real['categories'][0]['skeleton']
    real_det = _load_json(
        osp.join(real_data_root, 'coco', 'test_coco_det_AP_H_56.json'))
    our_det = _load_json(
        osp.join(synthetic_coco, 'person_detection_results', COCO_DET_FILE))
    assert set(our_det[0]) == set(real_det[0])

    real_mpii = _load_json(osp.join(real_data_root, 'mpii', 'test_mpii.json'))
    our_mpii = _load_json(
        osp.join(synthetic_mpii, 'annotations', 'mpii_val.json'))
    assert set(our_mpii[0]) == set(real_mpii[0])
    real_heads = loadmat(
        osp.join(real_data_root, 'mpii', 'mpii_headbox_synthetic.mat'))
    our_heads = loadmat(
        osp.join(synthetic_mpii, 'annotations', 'mpii_gt_val.mat'))
    assert real_heads['headboxes_src'].shape[:2] == \
        our_heads['headboxes_src'].shape[:2] == (2, 2)
