# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""The model configs turn the reliability features on by default."""
import os.path as osp

import pytest
from mmengine.config import Config

MODEL_CONFIGS = {
    'configs/sg_hrnet_w32_coco.py': 'CocoDataset',
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
    assert hooks == ['SyncBuffersHook', 'BadSampleHook', 'NonFiniteLossHook']
    ds = cfg.train_dataloader.dataset
    assert ds.type == 'SkipBadSamples' and ds.dataset_type == dataset_type
    assert ds.strict is False


def test_lsp_config_keeps_fault_tolerant_loop_and_hooks(repo_root):
    # Its training set is a CombinedDataset (LSP + LSPET + MPII), not wrapped.
    cfg = Config.fromfile(osp.join(repo_root, 'configs/sadi_net_lsp.py'))
    assert cfg.train_cfg.type == 'ResumableEpochBasedTrainLoop'
    assert cfg.default_hooks.checkpoint.type == 'AtomicCheckpointHook'
    assert cfg.train_dataloader.dataset.type == 'CombinedDataset'
