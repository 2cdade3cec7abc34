# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""LspDataset: LSP (3x14xN, 1 = occluded) and LSP-extended (14x3xN,
1 = visible) from joints.mat + images; meta; MPII->LSP combination;
the COCO-json converter.

The conventions tests read hand-written ``joints.mat`` files (literal
numbers below), not the synthetic generator's, so a wrong convention shared
by generator and reader cannot pass. What the released files hold:

* LSP ``joints.mat``: ``joints`` is 3 x 14 x N; ``joints[0, j, n]`` = x,
  ``joints[1, j, n]`` = y, ``joints[2, j, n]`` = 1 if joint j of image n is
  OCCLUDED, 0 if visible; image n (0-based) is ``images/im%04d.jpg`` %
  (n + 1); standard split: first half train, last half test.
* LSPET ``joints.mat``: ``joints`` is 14 x 3 x N; ``joints[j, 0, n]`` = x,
  ``joints[j, 1, n]`` = y, ``joints[j, 2, n]`` = 1 if VISIBLE, 0 if
  occluded; image ``images/im%05d.jpg`` % (n + 1); all training.
* The loader's choices (module docstring of mmpose_ext.datasets.lsp, after
  CPM's genJSON.m): every joint with coordinates is labelled
  (``keypoints_visible`` = 1) whatever its flag; the LSPET person box is the
  tight box of the visible joints (all labelled joints if none is visible),
  the LSP box that of all labelled joints.
"""
import importlib.util
import os
import os.path as osp
import shutil
import sys

import numpy as np
import pytest
from mmengine.config import Config
from mmpose.datasets.datasets.utils import parse_pose_metainfo
from mmpose.registry import DATASETS
from PIL import Image
from scipy.io import savemat

from mmpose_ext.datasets.lsp import LspDataset, load_lsp_joints

NUM_TRAIN, NUM_VAL = 12, 6  # conftest's synthetic_lsp
NAN = float('nan')

# Joint order (both releases): r_ankle, r_knee, r_hip, l_hip, l_knee,
# l_ankle, r_wrist, r_elbow, r_shoulder, l_shoulder, l_elbow, l_wrist, neck,
# head_top. Rows: (x, y, flag AS STORED IN THE FILE).

# LSP: flag 1 = occluded
LSP_PEOPLE = [
    [(31, 150, 0), (33, 120, 0), (36, 90, 0), (52, 90, 0), (55, 121, 1),
     (57, 152, 1), (20, 95, 0), (25, 72, 0), (34, 55, 0), (54, 55, 0),
     (66, 73, 1), (71, 94, 1), (44, 48, 0), (45, 22, 0)],
    [(10.5, 140, 0), (12, 110, 0), (14, 80, 0), (30, 80, 0), (32, 111, 0),
     (34, 141, 0), (8, 85, 0), (11, 65, 0), (15, 50, 0), (29, 50, 0),
     (33, 66, 0), (37, 86, 0), (22, 44, 0), (22.5, 20, 1)],
    [(61, 130, 1), (62, 100, 1), (63, 70, 0), (75, 70, 0), (76, 101, 0),
     (77, 131, 0), (55, 72, 0), (58, 60, 0), (62, 45, 0), (76, 45, 0),
     (80, 61, 0), (84, 73, 0), (69, 40, 0), (70, 15, 0)],
]
# occluded joints per LSP person (the rows flagged 1 above)
LSP_OCCLUDED = [[4, 5, 10, 11], [13], [0, 1]]
# tight boxes (x1, y1, x2, y2) of all 14 joints, read off the table
LSP_BOXES = [[20, 22, 71, 152], [8, 20, 37, 141], [55, 15, 84, 131]]

# LSPET: flag 1 = VISIBLE. Person A: the occluded left leg is a guess far
# off the body; B: an occluded head outside the image and a wrist far out;
# C: nothing visible, the left wrist not annotated at all (NaN).
LSPET_PEOPLE = [
    [(30, 190, 1), (35, 150, 1), (40, 110, 1), (60, 110, 1), (65, 150, 0),
     (120, 195, 0), (20, 100, 1), (25, 80, 1), (38, 60, 1), (62, 60, 1),
     (75, 80, 1), (80, 100, 1), (50, 50, 1), (50, 20, 1)],
    [(100, 180, 1), (102, 140, 1), (104, 100, 1), (124, 100, 1), (126, 141, 1),
     (128, 182, 1), (150, 40, 0), (96, 70, 1), (106, 55, 1), (122, 55, 1),
     (132, 72, 1), (138, 90, 1), (114, 48, 1), (-6, -9, 0)],
    [(10, 60, 0), (12, 50, 0), (14, 40, 0), (20, 40, 0), (22, 50, 0),
     (24, 61, 0), (8, 42, 0), (9, 35, 0), (13, 30, 0), (21, 30, 0),
     (25, 36, 0), (NAN, NAN, 0), (17, 27, 0), (17, 18, 0)],
]
LSPET_OCCLUDED = [[4, 5], [6, 13], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13]]
LSPET_UNLABELLED = [[], [], [11]]
# boxes of the visible joints (C: none visible -> all labelled joints) ...
LSPET_BOXES_VISIBLE = [[20, 20, 80, 190], [96, 48, 138, 182], [8, 18, 25, 61]]
# ... and of all labelled joints
LSPET_BOXES_LABELLED = [[20, 20, 120, 195], [-6, -9, 150, 182],
                        [8, 18, 25, 61]]
IMG_W, IMG_H = 160, 210  # blank JPEGs, larger than every box


def _write(root, people, variant):
    """joints.mat in the release's layout + blank images."""
    people = np.array(people, dtype=np.float64)  # (N, 14, 3)
    if variant == 'lsp':
        joints = people.transpose(2, 1, 0)  # [coord, joint, image]
        names = 'im{:04d}.jpg'
    else:
        joints = people.transpose(1, 2, 0)  # [joint, coord, image]
        names = 'im{:05d}.jpg'
    os.makedirs(osp.join(root, 'images'))
    savemat(osp.join(root, 'joints.mat'), {'joints': joints})
    for n in range(len(people)):
        Image.new('RGB', (IMG_W, IMG_H)).save(
            osp.join(root, 'images', names.format(n + 1)))
    return str(root)


@pytest.fixture(scope='module')
def handwritten_lsp(tmp_path_factory):
    return _write(tmp_path_factory.mktemp('hand_lsp'), LSP_PEOPLE, 'lsp')


@pytest.fixture(scope='module')
def handwritten_lspet(tmp_path_factory):
    return _write(tmp_path_factory.mktemp('hand_lspet'), LSPET_PEOPLE, 'lspet')


def _field(ds, key):
    return np.stack([ds.get_data_info(i)[key][0] for i in range(len(ds))])


def _flags(indices_per_person, n=14):
    out = np.zeros((len(indices_per_person), n), dtype=np.float32)
    for p, idx in enumerate(indices_per_person):
        out[p, idx] = 1
    return out


def test_handwritten_joints_mat_layouts(tmp_path):
    """The tables above are written in the release layouts (checks the test
    helper against single literal entries)."""
    from scipy.io import loadmat
    raw = loadmat(
        osp.join(_write(tmp_path / 'a', LSP_PEOPLE, 'lsp'),
                 'joints.mat'))['joints']
    assert raw.shape == (3, 14, 3)
    assert (raw[0, 5, 0], raw[1, 5, 0], raw[2, 5, 0]) == (57, 152, 1)
    raw = loadmat(
        osp.join(_write(tmp_path / 'b', LSPET_PEOPLE, 'lspet'),
                 'joints.mat'))['joints']
    assert raw.shape == (14, 3, 3)
    assert (raw[13, 0, 1], raw[13, 1, 1], raw[13, 2, 1]) == (-6, -9, 0)


def test_lsp_handwritten_fields_and_split(handwritten_lsp):
    every = LspDataset(data_root=handwritten_lsp, split='all', test_mode=True)
    assert len(every) == 3
    kpts = _field(every, 'keypoints')
    want = np.array(LSP_PEOPLE, dtype=np.float32)
    assert np.array_equal(kpts, want[..., :2])
    assert np.array_equal(
        _field(every, 'keypoints_visible'), np.ones(
            (3, 14)))  # every LSP joint is labelled
    assert np.array_equal(
        _field(every, 'keypoints_occluded'), _flags(LSP_OCCLUDED))
    assert np.array_equal(
        _field(every, 'bbox'), np.array(LSP_BOXES, dtype=np.float32))
    assert [every.get_data_info(i)['num_keypoints'] for i in range(3)] == \
        [14, 14, 14]
    assert {every.get_data_info(i)['lsp_variant'] for i in range(3)} == \
        {'lsp'}
    # standard split: first half train, last half test (N // 2 by default)
    train = LspDataset(data_root=handwritten_lsp, split='train')
    test = LspDataset(data_root=handwritten_lsp, split='test', test_mode=True)
    assert len(train) == 2 and len(test) == 1
    assert [
        osp.basename(train.get_data_info(i)['img_path']) for i in range(2)
    ] == ['im0001.jpg', 'im0002.jpg']
    info = test.get_data_info(0)
    assert osp.basename(info['img_path']) == 'im0003.jpg'
    assert info['img_id'] == 3
    assert np.array_equal(info['keypoints'][0], want[2, :, :2])
    assert np.array_equal(info['bbox'][0], np.float32(LSP_BOXES[2]))
    # occluded_as_invisible: the stored flag 1 (occluded) -> not labelled
    strict = LspDataset(
        data_root=handwritten_lsp,
        split='all',
        test_mode=True,
        occluded_as_invisible=True)
    assert np.array_equal(
        _field(strict, 'keypoints_visible'), 1 - _flags(LSP_OCCLUDED))
    # LSP's box may be restricted to the visible joints on request
    vis = LspDataset(
        data_root=handwritten_lsp,
        split='all',
        test_mode=True,
        bbox_joints='visible')
    assert np.array_equal(
        vis.get_data_info(0)['bbox'][0], np.float32([20, 22, 54, 150]))


def test_lspet_handwritten_fields_and_boxes(handwritten_lspet):
    ds = LspDataset(data_root=handwritten_lspet, test_mode=True)
    assert len(ds) == 3  # LSPET is a training set: no test split by default
    info = ds.get_data_info(0)
    assert info['lsp_variant'] == 'lspet'
    assert [osp.basename(ds.get_data_info(i)['img_path']) for i in range(3)
            ] == ['im00001.jpg', 'im00002.jpg', 'im00003.jpg']
    want = np.array(LSPET_PEOPLE, dtype=np.float32)[..., :2]
    want[2, 11] = 0  # not annotated: stored as (0, 0)
    assert np.array_equal(_field(ds, 'keypoints'), want)
    labelled = 1 - _flags(LSPET_UNLABELLED)
    # occluded LSPET joints stay labelled (they count in the loss, as in
    # CPM's label maps); only the NaN joint is not
    assert np.array_equal(_field(ds, 'keypoints_visible'), labelled)
    assert np.array_equal(
        _field(ds, 'keypoints_occluded'), _flags(LSPET_OCCLUDED))
    assert [ds.get_data_info(i)['num_keypoints'] for i in range(3)] == \
        [14, 14, 13]
    # the box encloses the visible joints only (CPM's objpos for LSPET)
    assert np.array_equal(
        _field(ds, 'bbox'), np.array(LSPET_BOXES_VISIBLE, dtype=np.float32))
    old = LspDataset(
        data_root=handwritten_lspet, test_mode=True, bbox_joints='labelled')
    assert np.array_equal(
        _field(old, 'bbox'), np.array(LSPET_BOXES_LABELLED, dtype=np.float32))
    # occluded_as_invisible: the stored flag 0 (occluded) -> not labelled
    strict = LspDataset(
        data_root=handwritten_lspet,
        test_mode=True,
        occluded_as_invisible=True)
    flags = np.array(LSPET_PEOPLE)[..., 2]
    # person C has no joint left and is dropped (MMPose skips instances with
    # num_keypoints == 0)
    assert len(strict) == 2
    assert np.array_equal(
        _field(strict, 'keypoints_visible'), (flags * labelled)[:2])
    # an explicit test split takes the last images
    test = LspDataset(
        data_root=handwritten_lspet, split='test', num_test=1, test_mode=True)
    assert len(test) == 1 and test.get_data_info(0)['img_id'] == 3


def test_coordinate_offset_moves_keypoints_and_boxes(handwritten_lspet):
    ds = LspDataset(
        data_root=handwritten_lspet, test_mode=True, coordinate_offset=1)
    assert np.array_equal(
        ds.get_data_info(0)['keypoints'][0, 13], np.float32([49, 19]))
    assert np.array_equal(
        ds.get_data_info(0)['bbox'][0], np.float32([19, 19, 79, 189]))


def test_lsp_pipeline_geometry_on_synthetic_data(synthetic_lsp):
    """The generated set loads with the right split and fields (its own
    conventions are checked against the hand-written files above)."""
    train = LspDataset(
        data_root=synthetic_lsp, split='train', num_test=NUM_VAL)
    test = LspDataset(
        data_root=synthetic_lsp,
        split='test',
        num_test=NUM_VAL,
        test_mode=True)
    assert len(train) == NUM_TRAIN and len(test) == NUM_VAL
    info = test.get_data_info(0)
    assert info['img_path'].endswith(
        osp.join('images', f'im{NUM_TRAIN + 1:04d}.jpg'))
    assert info['keypoints'].shape == (1, 14, 2)
    assert info['flip_indices'] == [
        5, 4, 3, 2, 1, 0, 11, 10, 9, 8, 7, 6, 12, 13
    ]


def test_wrong_array_shape_names_the_file(tmp_path):
    bad = tmp_path / 'joints.mat'
    savemat(str(bad), {'joints': np.zeros((2, 14, 5))})
    with pytest.raises(ValueError, match='joints.mat.*shape'):
        load_lsp_joints(str(bad))
    savemat(str(bad), {'other': np.zeros((3, 14, 5))})
    with pytest.raises(ValueError, match='joints.mat.*no "joints"'):
        load_lsp_joints(str(bad))
    savemat(str(bad), {'joints': np.zeros((14, 3, 5))})
    with pytest.raises(ValueError, match=r'joints.mat.*3x14xN'):
        load_lsp_joints(str(bad), variant='lsp')
    (tmp_path / 'images').mkdir()
    with pytest.raises(ValueError, match='joints.mat'):
        LspDataset(data_root=str(tmp_path), variant='lsp')


def test_missing_image_names_file_and_index(synthetic_lsp, tmp_path):
    root = tmp_path / 'lsp'
    shutil.copytree(synthetic_lsp, root)
    os.remove(root / 'images' / 'im0003.jpg')
    with pytest.raises(
            FileNotFoundError,
            match=r'joints.mat: joints column 2 .*im0003.jpg'):
        LspDataset(data_root=str(root), split='all')


def test_invalid_arguments(synthetic_lsp):
    with pytest.raises(ValueError, match='split'):
        LspDataset(data_root=synthetic_lsp, split='trainval')
    with pytest.raises(ValueError, match='variant'):
        LspDataset(data_root=synthetic_lsp, variant='mpii')
    with pytest.raises(ValueError, match='num_test'):
        LspDataset(data_root=synthetic_lsp, num_test=-1)
    with pytest.raises(ValueError, match='num_test'):
        LspDataset(data_root=synthetic_lsp, split='test', num_test=1000)


def test_pipeline_and_registry(synthetic_lsp):
    ds = DATASETS.build(
        dict(
            type='LspDataset',
            data_root=synthetic_lsp,
            split='test',
            num_test=NUM_VAL,
            test_mode=True,
            pipeline=[
                dict(type='LoadImage'),
                dict(type='GetBBoxCenterScale'),
                dict(type='TopdownAffine', input_size=(64, 64)),
                dict(type='PackPoseInputs'),
            ]))
    item = ds[0]
    assert tuple(item['inputs'].shape) == (3, 64, 64)
    assert item['data_samples'].gt_instances.keypoints.shape == (1, 14, 2)
    assert ds.metainfo['dataset_name'] == 'lsp'


def test_the_class_reads_the_one_meta_file(repo_root):
    """The LSP meta is written once, in configs/_base_/datasets/lsp.py: the
    data set class reads that file (no copy of it in the package)."""
    assert osp.samefile(LspDataset.METAINFO['from_file'],
                        osp.join(repo_root, 'configs/_base_/datasets/lsp.py'))
    meta = parse_pose_metainfo(LspDataset.METAINFO)
    assert meta['num_keypoints'] == 14
    assert meta['keypoint_id2name'][12] == 'neck'
    # person-centric left/right swap: 0 right_ankle <-> 5 left_ankle, ...
    assert meta['flip_indices'] == [
        5, 4, 3, 2, 1, 0, 11, 10, 9, 8, 7, 6, 12, 13
    ]


def _mpii_to_lsp(repo_root):
    """The one MPII -> LSP joint mapping: the LSP config's."""
    cfg = Config.fromfile(osp.join(repo_root, 'configs/sadi_net_lsp.py'))
    return [tuple(m) for m in cfg.mpii_to_lsp]


def test_combined_lsp_and_mpii(synthetic_lsp, synthetic_mpii, repo_root):
    meta = dict(
        from_file=osp.join(repo_root, 'configs/_base_/datasets/lsp.py'))
    combined = DATASETS.build(
        dict(
            type='CombinedDataset',
            metainfo=meta,
            datasets=[
                dict(
                    type='LspDataset',
                    data_root=synthetic_lsp,
                    split='train',
                    num_test=NUM_VAL,
                    pipeline=[]),
                dict(
                    type='MpiiDataset',
                    data_root=synthetic_mpii,
                    ann_file='annotations/mpii_train.json',
                    data_prefix=dict(img='images/'),
                    pipeline=[
                        dict(
                            type='KeypointConverter',
                            num_keypoints=14,
                            mapping=_mpii_to_lsp(repo_root))
                    ]),
            ],
            pipeline=[]))
    mpii = DATASETS.build(
        dict(
            type='MpiiDataset',
            data_root=synthetic_mpii,
            ann_file='annotations/mpii_train.json',
            data_prefix=dict(img='images/')))
    assert len(combined) == NUM_TRAIN + len(mpii)
    sample = combined[NUM_TRAIN]  # first MPII person, converted
    src = mpii.get_data_info(0)['keypoints'][0]
    assert sample['keypoints'].shape == (1, 14, 2)
    for mpii_id, lsp_id in _mpii_to_lsp(repo_root):
        assert np.allclose(sample['keypoints'][0, lsp_id], src[mpii_id])
    assert sample['flip_indices'] == parse_pose_metainfo(
        LspDataset.METAINFO)['flip_indices']


def _coco(root, out, repo_root):
    return DATASETS.build(
        dict(
            type='CocoDataset',
            data_root=root,
            ann_file=str(out),
            data_prefix=dict(img='images/'),
            test_mode=True,
            metainfo=dict(
                from_file=osp.join(repo_root,
                                   'configs/_base_/datasets/lsp.py'))))


def _lsp2coco(repo_root):
    """tools/lsp2coco.py as a module (in-process: a subprocess would spend
    seconds importing MMPose)."""
    spec = importlib.util.spec_from_file_location(
        'lsp2coco', osp.join(repo_root, 'tools', 'lsp2coco.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lsp2coco_converter(synthetic_lsp, repo_root, tmp_path, monkeypatch):
    out = tmp_path / 'lsp_test.json'
    monkeypatch.setattr(sys, 'argv', [
        'lsp2coco.py', synthetic_lsp,
        str(out), '--split', 'test', '--num-test',
        str(NUM_VAL)
    ])
    _lsp2coco(repo_root).main()
    coco = _coco(synthetic_lsp, out, repo_root)
    lsp = LspDataset(
        data_root=synthetic_lsp,
        split='test',
        num_test=NUM_VAL,
        test_mode=True)
    assert len(coco) == len(lsp) == NUM_VAL
    a, b = coco.get_data_info(0), lsp.get_data_info(0)
    assert osp.basename(a['img_path']) == osp.basename(b['img_path'])
    assert np.allclose(a['keypoints'], b['keypoints'], atol=1e-3)
    assert np.array_equal(a['keypoints_visible'], b['keypoints_visible'])


def test_lsp2coco_lspet_flags_and_boxes_match_the_dataset(
        handwritten_lspet, repo_root, tmp_path):
    """COCO v: 2 visible, 1 occluded (still labelled), 0 not annotated; the
    box is the one LspDataset uses (visible joints for LSPET)."""
    from mmpose_ext.datasets.lsp import lsp_to_coco as convert
    out = tmp_path / 'lspet.json'
    raw = convert(handwritten_lspet, str(out))
    v = np.array([a['keypoints'][2::3] for a in raw['annotations']])
    flags = np.array(LSPET_PEOPLE)[..., 2]
    labelled = 1 - _flags(LSPET_UNLABELLED)
    assert np.array_equal(v, np.where(flags == 1, 2, 1) * labelled)
    assert [a['bbox'] for a in raw['annotations']
            ] == [[x1, y1, x2 - x1, y2 - y1]
                  for x1, y1, x2, y2 in LSPET_BOXES_VISIBLE]
    coco = _coco(handwritten_lspet, out, repo_root)
    lsp = LspDataset(data_root=handwritten_lspet, test_mode=True)
    assert np.array_equal(_field(coco, 'bbox'), _field(lsp, 'bbox'))
    assert np.array_equal(
        _field(coco, 'keypoints_visible'), _field(lsp, 'keypoints_visible'))
    assert np.allclose(_field(coco, 'keypoints'), _field(lsp, 'keypoints'))
    old = convert(handwritten_lspet, str(out), bbox_joints='labelled')
    assert old['annotations'][1]['bbox'] == [-6, -9, 156, 191]
