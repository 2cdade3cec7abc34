# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""The model configs turn the reliability features on by default."""
import os.path as osp

import pytest
from mmengine.config import Config

MODEL_CONFIGS = {
    'configs/sg_hrnet_w32_coco.py': 'CocoDataset',
    'configs/baselines/hrnet_w32_sg-recipe_coco.py': 'CocoDataset',
    'configs/baselines/hrnet_w32_sg-recipe_mpii.py': 'MpiiDataset',
    'configs/sg_hrnet_w32_mpii.py': 'MpiiDataset',
    'configs/sadi_net_mpii.py': 'MpiiDataset',
    'configs/sadi_net_coco.py': 'CocoDataset',
    'configs/quickstart/sg_hrnet_w16_synthetic_coco.py': 'CocoDataset',
}


@pytest.mark.parametrize('path,dataset_type', sorted(MODEL_CONFIGS.items()))
def test_model_config_enables_fault_tolerance(repo_root, path, dataset_type):
    cfg = Config.fromfile(osp.join(repo_root, path))
    assert cfg.default_hooks.checkpoint.type == 'AtomicCheckpointHook'
    assert cfg.train_cfg.type == 'ResumableEpochBasedTrainLoop'
    assert cfg.train_cfg.max_epochs > 0 and 'by_epoch' not in cfg.train_cfg
    hooks = [h['type'] for h in cfg.custom_hooks]
    assert hooks == [
        'SyncBuffersHook', 'BadSampleHook', 'NonFiniteLossHook',
        'RecipeCheckHook'
    ]
    ds = cfg.train_dataloader.dataset
    assert ds.type == 'SkipBadSamples' and ds.dataset_type == dataset_type
    assert ds.strict is False


def test_lsp_config_wraps_its_combined_dataset(repo_root):
    # LSP + LSPET + MPII: the CombinedDataset itself is wrapped, so bad
    # samples of any of the three are skipped
    cfg = Config.fromfile(osp.join(repo_root, 'configs/sadi_net_lsp.py'))
    assert cfg.train_cfg.type == 'ResumableEpochBasedTrainLoop'
    assert cfg.default_hooks.checkpoint.type == 'AtomicCheckpointHook'
    ds = cfg.train_dataloader.dataset
    assert ds.type == 'SkipBadSamples' and ds.strict is False
    assert ds.dataset_type == 'CombinedDataset' and len(ds.datasets) == 3


@pytest.mark.parametrize('path,name,num_keypoints', [
    ('configs/sg_hrnet_w32_coco.py', 'coco', 17),
    ('configs/sg_hrnet_w32_mpii.py', 'mpii', 16),
    ('configs/baselines/hrnet_w32_sg-recipe_mpii.py', 'mpii', 16),
    ('configs/sadi_net_mpii.py', 'mpii', 16),
    ('configs/sadi_net_coco.py', 'coco', 17),
    ('configs/sadi_net_lsp.py', 'lsp', 14),
])
def test_init_model_reads_the_meta_through_the_wrapper(repo_root, path, name,
                                                       num_keypoints):
    """MMPose's init_model() without a checkpoint takes the meta from the
    training set's config; a wrapper without it made MPII models COCO's."""
    from mmpose.apis.inference import dataset_meta_from_config
    cfg = Config.fromfile(osp.join(repo_root, path))
    meta = dataset_meta_from_config(cfg, dataset_mode='train')
    assert meta is not None, path
    assert meta['dataset_name'] == name
    assert meta['num_keypoints'] == num_keypoints
    assert len(meta['flip_indices']) == num_keypoints
