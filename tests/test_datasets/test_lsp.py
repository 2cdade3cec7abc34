# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""LspDataset: LSP (3x14xN, 1 = occluded) and LSP-extended (14x3xN,
1 = visible) from joints.mat + images; meta; MPII->LSP combination;
the COCO-json converter."""
import os
import os.path as osp
import shutil
import subprocess
import sys

import numpy as np
import pytest
from mmengine.config import Config
from mmpose.datasets.datasets.utils import parse_pose_metainfo
from mmpose.registry import DATASETS
from scipy.io import loadmat, savemat

from mmpose_ext.datasets.lsp import LspDataset, load_lsp_joints
from mmpose_ext.datasets.lsp_meta import LSP_METAINFO, MPII_TO_LSP

NUM_TRAIN, NUM_VAL = 12, 6  # conftest's synthetic_lsp


@pytest.fixture(scope='module')
def synthetic_lspet(tmp_path_factory):
    from mmpose_ext.datasets.synthetic import generate_dataset
    out = str(tmp_path_factory.mktemp('synthetic_lspet'))
    generate_dataset('lspet', out, num_train=4, num_val=2, seed=0)
    return out


def _raw(root):
    return loadmat(osp.join(root, 'joints.mat'))['joints']


def test_lsp_splits_and_fields(synthetic_lsp):
    train = LspDataset(data_root=synthetic_lsp, split='train',
                       num_test=NUM_VAL)
    test = LspDataset(data_root=synthetic_lsp, split='test',
                      num_test=NUM_VAL, test_mode=True)
    every = LspDataset(data_root=synthetic_lsp, split='all', test_mode=True)
    assert len(train) == NUM_TRAIN and len(test) == NUM_VAL
    assert len(every) == NUM_TRAIN + NUM_VAL
    info = test.get_data_info(0)
    assert info['img_path'].endswith(
        osp.join('images', f'im{NUM_TRAIN + 1:04d}.jpg'))
    assert info['keypoints'].shape == (1, 14, 2)
    assert info['keypoints_visible'].shape == (1, 14)
    assert info['bbox'].shape == (1, 4)
    assert info['flip_indices'] == [5, 4, 3, 2, 1, 0, 11, 10, 9, 8, 7, 6,
                                    12, 13]
    raw = _raw(synthetic_lsp)  # 3 x 14 x N
    assert raw.shape == (3, 14, NUM_TRAIN + NUM_VAL)
    assert np.allclose(info['keypoints'][0], raw[:2, :, NUM_TRAIN].T)
    # the box encloses every labelled joint
    x1, y1, x2, y2 = info['bbox'][0]
    k = info['keypoints'][0]
    assert (k[:, 0] >= x1 - 1e-3).all() and (k[:, 0] <= x2 + 1e-3).all()
    assert (k[:, 1] >= y1 - 1e-3).all() and (k[:, 1] <= y2 + 1e-3).all()


def test_lsp_third_row_means_occluded(synthetic_lsp):
    ds = LspDataset(data_root=synthetic_lsp, split='all', test_mode=True)
    raw = _raw(synthetic_lsp)
    flags = np.stack([ds.get_data_info(i)['keypoints_occluded'][0]
                      for i in range(len(ds))])
    vis = np.stack([ds.get_data_info(i)['keypoints_visible'][0]
                    for i in range(len(ds))])
    assert np.array_equal(flags, raw[2].T)  # LSP: 1 = occluded
    assert 0 < flags.sum() < flags.size  # both kinds present
    assert (vis == 1).all()  # every LSP joint is annotated
    strict = LspDataset(data_root=synthetic_lsp, split='all', test_mode=True,
                        occluded_as_invisible=True)
    vis_strict = np.stack([strict.get_data_info(i)['keypoints_visible'][0]
                           for i in range(len(strict))])
    assert np.array_equal(vis_strict, 1 - raw[2].T)


def test_lspet_third_column_means_visible(synthetic_lspet):
    ds = LspDataset(data_root=synthetic_lspet, test_mode=True)
    raw = _raw(synthetic_lspet)  # 14 x 3 x N
    assert raw.shape == (14, 3, 6)
    assert len(ds) == 6  # LSPET is a training set: no test split by default
    info = ds.get_data_info(0)
    assert info['lsp_variant'] == 'lspet'
    assert info['img_path'].endswith(osp.join('images', 'im00001.jpg'))
    assert np.allclose(info['keypoints'][0], raw[:, :2, 0])
    flags = np.stack([ds.get_data_info(i)['keypoints_occluded'][0]
                      for i in range(len(ds))])
    assert np.array_equal(flags, 1 - raw[:, 2].T)  # LSPET: 1 = visible
    strict = LspDataset(data_root=synthetic_lspet, test_mode=True,
                        occluded_as_invisible=True)
    assert np.array_equal(strict.get_data_info(0)['keypoints_visible'][0],
                          raw[:, 2, 0])


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
    with pytest.raises(FileNotFoundError,
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
    ds = DATASETS.build(dict(
        type='LspDataset', data_root=synthetic_lsp, split='test',
        num_test=NUM_VAL, test_mode=True,
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


def test_config_meta_file_equals_the_class_meta(repo_root):
    cfg = Config.fromfile(
        osp.join(repo_root, 'configs/_base_/datasets/lsp.py'))
    a = parse_pose_metainfo(cfg.dataset_info.to_dict())
    b = parse_pose_metainfo(dict(LSP_METAINFO))
    for key in ('dataset_name', 'num_keypoints', 'keypoint_id2name',
                'flip_indices', 'flip_pairs', 'skeleton_links',
                'upper_body_ids', 'lower_body_ids'):
        assert a[key] == b[key], key
    for key in ('dataset_keypoint_weights', 'sigmas'):
        assert np.allclose(a[key], b[key])


def test_combined_lsp_and_mpii(synthetic_lsp, synthetic_mpii, repo_root):
    meta = dict(from_file=osp.join(repo_root,
                                   'configs/_base_/datasets/lsp.py'))
    combined = DATASETS.build(dict(
        type='CombinedDataset',
        metainfo=meta,
        datasets=[
            dict(type='LspDataset', data_root=synthetic_lsp, split='train',
                 num_test=NUM_VAL, pipeline=[]),
            dict(type='MpiiDataset', data_root=synthetic_mpii,
                 ann_file='annotations/mpii_train.json',
                 data_prefix=dict(img='images/'),
                 pipeline=[dict(type='KeypointConverter', num_keypoints=14,
                                mapping=MPII_TO_LSP)]),
        ],
        pipeline=[]))
    mpii = DATASETS.build(dict(
        type='MpiiDataset', data_root=synthetic_mpii,
        ann_file='annotations/mpii_train.json',
        data_prefix=dict(img='images/')))
    assert len(combined) == NUM_TRAIN + len(mpii)
    sample = combined[NUM_TRAIN]  # first MPII person, converted
    src = mpii.get_data_info(0)['keypoints'][0]
    assert sample['keypoints'].shape == (1, 14, 2)
    for mpii_id, lsp_id in MPII_TO_LSP:
        assert np.allclose(sample['keypoints'][0, lsp_id], src[mpii_id])
    assert sample['flip_indices'] == parse_pose_metainfo(
        dict(LSP_METAINFO))['flip_indices']


def test_lsp2coco_converter(synthetic_lsp, repo_root, tmp_path):
    out = tmp_path / 'lsp_test.json'
    subprocess.run([
        sys.executable, 'tools/lsp2coco.py', synthetic_lsp, str(out),
        '--split', 'test', '--num-test', str(NUM_VAL)
    ], cwd=repo_root, check=True, capture_output=True)
    coco = DATASETS.build(dict(
        type='CocoDataset', data_root=synthetic_lsp, ann_file=str(out),
        data_prefix=dict(img='images/'), test_mode=True,
        metainfo=dict(from_file=osp.join(repo_root,
                                         'configs/_base_/datasets/lsp.py'))))
    lsp = LspDataset(data_root=synthetic_lsp, split='test', num_test=NUM_VAL,
                     test_mode=True)
    assert len(coco) == len(lsp) == NUM_VAL
    a, b = coco.get_data_info(0), lsp.get_data_info(0)
    assert osp.basename(a['img_path']) == osp.basename(b['img_path'])
    assert np.allclose(a['keypoints'], b['keypoints'], atol=1e-3)
    assert np.array_equal(a['keypoints_visible'], b['keypoints_visible'])
