# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""The SG-HRNet configs: inheritance from MMPose's, the paper's recipe."""
import os.path as osp

import pytest

from .helpers import by_type, load_repo_config

COCO = 'configs/sg_hrnet_w32_coco.py'
MPII = 'configs/sg_hrnet_w32_mpii.py'


@pytest.mark.parametrize('path,k,size,hm', [
    (COCO, 17, (192, 256), (48, 64)),
    (MPII, 16, (256, 256), (64, 64)),
])
def test_model_codec_and_recipe(repo_root, path, k, size, hm):
    cfg = load_repo_config(repo_root, path)
    assert cfg.default_scope == 'mmpose'
    assert cfg.custom_imports.imports == ['mmpose_ext']
    assert not cfg.custom_imports.allow_failed_imports

    bb, head = cfg.model.backbone, cfg.model.head
    assert bb.type == 'SGHRNet' and tuple(bb.sgm_stages) == (2, 3, 4)
    assert bb.final_sgm and bb.extra.stage4.num_channels == (32, 64, 128, 256)
    assert bb.init_cfg.checkpoint.endswith('hrnet_w32-36af842e.pth')
    assert head.type == 'SGHeatmapHead' and head.out_channels == k
    assert head.deconv_out_channels is None
    assert 'deconv_kernel_sizes' not in head  # `_delete_` left no HeatmapHead
    dwa = head.multi_task_loss
    assert (dwa.type, dwa.mode, dwa.temperature) == ('DWAMultiTaskLoss',
                                                     'iter', 1.0)
    assert head.decoder.type == 'DiskSegHeatmap'
    assert tuple(head.decoder.input_size) == size
    assert tuple(head.decoder.heatmap_size) == hm

    pipe = cfg.train_dataloader.dataset.pipeline
    enc = by_type(pipe, 'GenerateTarget').encoder
    assert enc.type == 'DiskSegHeatmap' and enc.sigma == 2
    assert enc.disk_radius == 5
    assert tuple(by_type(pipe, 'TopdownAffine').input_size) == size
    aug = by_type(pipe, 'RandomBBoxTransform')
    assert tuple(aug.scale_factor) == (0.65, 1.35) and aug.rotate_factor == 45
    assert by_type(pipe, 'RandomFlip').direction == 'horizontal'

    # the paper's recipe: Adam 1e-3, x0.1 at 170/200, 210 epochs, batch 32
    assert cfg.optim_wrapper.optimizer.type == 'Adam'
    assert cfg.optim_wrapper.optimizer.lr == 1e-3
    assert cfg.train_cfg.max_epochs == 210
    steps = [s for s in cfg.param_scheduler if s.type == 'MultiStepLR']
    assert steps[0].milestones == [170, 200] and steps[0].gamma == 0.1
    assert cfg.train_dataloader.batch_size == 32
    # flip test with the quarter-offset shift
    assert cfg.model.test_cfg.flip_test and cfg.model.test_cfg.shift_heatmap


def test_coco_evaluates_on_detections_with_coco_metric(repo_root):
    cfg = load_repo_config(repo_root, COCO)
    val = cfg.val_dataloader.dataset
    assert val.type == 'CocoDataset' and val.test_mode
    assert val.bbox_file.endswith(
        'person_detection_results/COCO_val2017_detections_AP_H_56_person.json')
    assert cfg.val_evaluator.type == 'CocoMetric'
    assert cfg.test_dataloader.dataset.bbox_file == val.bbox_file
    assert cfg.default_hooks.checkpoint.save_best == 'coco/AP'
    assert by_type(cfg.train_dataloader.dataset.pipeline, 'RandomHalfBody')


def test_mpii_evaluates_pckh_with_head_boxes(repo_root):
    cfg = load_repo_config(repo_root, MPII)
    val = cfg.val_dataloader.dataset
    assert val.type == 'MpiiDataset'
    assert val.headbox_file.endswith('mpii_gt_val.mat')
    assert cfg.val_evaluator.type == 'MpiiPCKAccuracy'
    assert cfg.default_hooks.checkpoint.save_best == 'PCK'


@pytest.mark.parametrize('path,index', [(COCO, 6), (MPII, 5)])
def test_disk_radius_is_one_cfg_option_away(repo_root, path, index):
    cfg = load_repo_config(repo_root, path)
    cfg.merge_from_dict(
        {f'train_dataloader.dataset.pipeline.{index}.encoder.disk_radius': 9})
    enc = by_type(cfg.train_dataloader.dataset.pipeline,
                   'GenerateTarget').encoder
    assert enc.disk_radius == 9 and enc.type == 'DiskSegHeatmap'


@pytest.mark.parametrize('name,check', [
    ('sg_hrnet_w32_mpii_r3.py', lambda c: by_type(
        c.train_dataloader.dataset.pipeline,
        'GenerateTarget').encoder.disk_radius == 3),
    ('sg_hrnet_w32_mpii_r9.py', lambda c: by_type(
        c.train_dataloader.dataset.pipeline,
        'GenerateTarget').encoder.disk_radius == 9),
    ('sg_hrnet_w32_mpii_sgm_stage_input.py',
     lambda c: c.model.backbone.sgm_position == 'stage_input'),
    ('sg_hrnet_w32_mpii_dwa_epoch.py',
     lambda c: c.model.head.multi_task_loss.mode == 'epoch'
     and c.model.head.multi_task_loss.temperature == 2.0),
])
def test_ablation_configs(repo_root, name, check):
    cfg = load_repo_config(repo_root, osp.join('configs', 'ablations', name))
    assert check(cfg)
    assert cfg.model.backbone.type == 'SGHRNet'


def test_w32_builds_within_parameter_budget(repo_root):
    """28.54M for HRNet-W32 + 1x1 head; the SGMs add < 0.2%."""
    from mmengine.registry import init_default_scope

    from mmpose.registry import MODELS
    init_default_scope('mmpose')
    cfg = load_repo_config(repo_root, COCO)
    model = MODELS.build(cfg.model)
    n = sum(p.numel() for p in model.parameters())
    n_sgm = sum(p.numel() for p in model.backbone.sgms.parameters())
    assert n_sgm == 4 * (32 * 32 * 9 + 32 + 32 + 1)
    assert (n - n_sgm) == pytest.approx(28.54e6, rel=1e-3)
    assert n_sgm / (n - n_sgm) < 0.002
