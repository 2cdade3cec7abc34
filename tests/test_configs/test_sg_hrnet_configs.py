# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""The SG-HRNet configs: the paper's recipe, shared key by key with the
same-recipe HRNet baselines; HRNet's augmentation spreads."""
import os.path as osp

import numpy as np
import pytest

from .helpers import (assert_spread_matches_clipped_normals, by_type,
                      clipped_normal_spread, load_repo_config)

COCO = 'configs/sg_hrnet_w32_coco.py'
MPII = 'configs/sg_hrnet_w32_mpii.py'
BASE_COCO = 'configs/baselines/hrnet_w32_sg-recipe_coco.py'
BASE_MPII = 'configs/baselines/hrnet_w32_sg-recipe_mpii.py'
QUICKSTART = 'configs/quickstart/sg_hrnet_w16_synthetic_coco.py'


def _flatten(obj, prefix=''):
    """{dotted key: leaf} of a config (lists indexed). ``_scope_`` keys
    (MMEngine marks dicts inherited from ``mmpose::`` files with the
    default scope) are not settings and are left out."""
    out = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k != '_scope_':
                out.update(_flatten(v, f'{prefix}{k}.'))
    elif isinstance(obj, (list, tuple)) and any(
            isinstance(v, (dict, list, tuple)) for v in obj):
        for i, v in enumerate(obj):
            out.update(_flatten(v, f'{prefix}{i}.'))
    else:
        out[prefix[:-1]] = obj
    return out


# The keys by which SG-HRNet may differ from its same-recipe baseline: the
# SGMs, the segmentation loss (+ DWA) and its target (the disk mask added to
# the same heatmaps by DiskSegHeatmap).
SG_ONLY = {
    'model.backbone.type',
    'model.backbone.sgm_stages',
    'model.backbone.final_sgm',
    'model.backbone.sgm_position',
    'model.head.type',
    'model.head.loss_seg.type',
    'model.head.loss_seg.reduction',
    'model.head.multi_task_loss.type',
    'model.head.multi_task_loss.task_names',
    'model.head.multi_task_loss.mode',
    'model.head.multi_task_loss.temperature',
    'model.head.multi_task_loss.task_scales',
    'model.head.decoder.type',
    'model.head.decoder.disk_radius',
    'codec.type',
    'codec.disk_radius',
    # names of the SG-HRNet pieces (configs/_base_/sg_hrnet_w32.py)
    'sg_backbone.type',
    'sg_backbone.sgm_stages',
    'sg_backbone.final_sgm',
    'sg_backbone.sgm_position',
    'sg_multi_task_loss.type',
    'sg_multi_task_loss.task_names',
    'sg_multi_task_loss.mode',
    'sg_multi_task_loss.temperature',
    'sg_loss_seg.type',
    'sg_loss_seg.reduction',
    'sg_disk_radius'
}


@pytest.mark.parametrize('sg,base,index', [(COCO, BASE_COCO, 6),
                                           (MPII, BASE_MPII, 5)])
def test_sg_hrnet_differs_from_its_baseline_only_in_the_sgms(
        repo_root, sg, base, index):
    a = _flatten(load_repo_config(repo_root, sg)._cfg_dict.to_dict())
    b = _flatten(load_repo_config(repo_root, base)._cfg_dict.to_dict())
    encoder = f'train_dataloader.dataset.pipeline.{index}.encoder.'
    allowed = SG_ONLY | {encoder + 'type', encoder + 'disk_radius'}
    differ = {k for k in a.keys() | b.keys() if a.get(k) != b.get(k)}
    assert differ - allowed == set(), sorted(differ - allowed)
    # ... and they do differ in the model (not two copies of one config)
    assert {'model.backbone.type', 'model.head.type'} <= differ
    assert a['model.backbone.type'] == 'SGHRNet'
    assert b['model.backbone.type'] == 'HRNet'
    assert b['model.head.type'] == 'HeatmapHead'


@pytest.mark.parametrize('path,rf,sf',
                         [(COCO, 45, 0.35), (BASE_COCO, 45, 0.35),
                          (QUICKSTART, 45, 0.35), (MPII, 30, 0.25),
                          (BASE_MPII, 30, 0.25)])
def test_augmentation_matches_hrnets_code(repo_root, path, rf, sf):
    """The paper repeats HRNet's "rotation +-45, scale 0.65-1.35"; HRNet's
    code draws clipped normals (COCO 45 / 0.35, MPII 30 / 0.25, rotation
    with probability 0.6). The config's RandomBBoxTransform must give the
    same spreads (within 10%): passing the words to MMPose's truncated
    normal would halve them."""
    from mmpose.datasets.transforms import RandomBBoxTransform
    cfg = load_repo_config(repo_root, path)
    aug = by_type(cfg.train_dataloader.dataset.pipeline, 'RandomBBoxTransform')
    assert_spread_matches_clipped_normals(aug, rf, sf, rotate_prob=0.6)
    # the literal reading is far off: MMPose's draw with the paper's words
    literal = RandomBBoxTransform(
        rotate_factor=rf, scale_factor=(1 - sf, 1 + sf))
    np.random.seed(0)
    _, _, rotate_w = literal._get_transform_params(100000)
    assert float(rotate_w.std()) < 0.7 * clipped_normal_spread(rf, sf, 0.6)[1]


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
    # ImageNet weights, and no silent fallback to random init
    assert bb.init_cfg.type == 'CheckedPretrained'
    assert bb.init_cfg.checkpoint.endswith('hrnet_w32-36af842e.pth')
    assert not bb.init_cfg.get('allow_random_init', False)
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
    assert by_type(pipe, 'RandomFlip').direction == 'horizontal'

    # the paper's recipe: Adam 1e-3, x0.1 at 170/200, 210 epochs, batch 32
    assert cfg.optim_wrapper.optimizer.type == 'Adam'
    assert cfg.optim_wrapper.optimizer.lr == 1e-3
    assert cfg.train_cfg.max_epochs == 210
    steps = [s for s in cfg.param_scheduler if s.type == 'MultiStepLR']
    assert steps[0].milestones == [170, 200] and steps[0].gamma == 0.1
    assert cfg.train_dataloader.batch_size == 32
    # the recipe's TOTAL batch, which RecipeCheckHook and --auto-scale-lr
    # scale from
    assert cfg.auto_scale_lr.base_batch_size == 32
    assert 'RecipeCheckHook' in [h['type'] for h in cfg.custom_hooks]
    # flip test with the quarter-offset shift
    assert cfg.model.test_cfg.flip_test and cfg.model.test_cfg.shift_heatmap
    # the last checkpoint is kept (the tables report it) besides the best
    ckpt = cfg.default_hooks.checkpoint
    assert ckpt.save_last and ckpt.interval == 10 and ckpt.save_best


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
    ('sg_hrnet_w32_coco_no-dwa.py',
     lambda c: c.model.head.multi_task_loss.mode == 'fixed'),
    ('sg_hrnet_w32_mpii_r3.py',
     lambda c: by_type(c.train_dataloader.dataset.pipeline, 'GenerateTarget'
                       ).encoder.disk_radius == 3),
    ('sg_hrnet_w32_mpii_r9.py',
     lambda c: by_type(c.train_dataloader.dataset.pipeline, 'GenerateTarget'
                       ).encoder.disk_radius == 9),
    ('sg_hrnet_w32_mpii_sgm_stage_input.py',
     lambda c: c.model.backbone.sgm_position == 'stage_input'),
    ('sg_hrnet_w32_mpii_dwa_epoch.py', lambda c: c.model.head.multi_task_loss.
     mode == 'epoch' and c.model.head.multi_task_loss.temperature == 2.0),
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
