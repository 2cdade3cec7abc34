# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""The SADI-Net configs: inheritance, codecs, recipe, ablation switches, and
that every config builds a model that runs."""
import os.path as osp

import pytest
import torch
from mmpose.registry import MODELS

from .helpers import (assert_spread_matches_clipped_normals, by_type,
                      load_repo_config)

MPII = 'configs/sadi_net_mpii.py'
LSP = 'configs/sadi_net_lsp.py'
COCO = 'configs/sadi_net_coco.py'
ABL = 'configs/ablations/sadi_net_mpii_{}.py'
ABLATIONS = ('hourglass', 'rfm', 'hourglass-sfm-dlm', 'loss-mse', 'loss-joint',
             'loss-joint-no-rle')


@pytest.mark.parametrize('path,k,size,hm', [
    (MPII, 16, (256, 256), (64, 64)),
    (LSP, 14, (256, 256), (64, 64)),
    (COCO, 17, (192, 256), (48, 64)),
])
def test_model_codecs_and_recipe(repo_root, path, k, size, hm):
    cfg = load_repo_config(repo_root, path)
    assert cfg.default_scope == 'mmpose'
    assert cfg.custom_imports.imports == ['mmpose_ext']
    assert not cfg.custom_imports.allow_failed_imports

    model = cfg.model
    assert model.type == 'MultiScaleTopdownPoseEstimator'
    bb, neck, head = model.backbone, model.neck, model.head
    assert bb.type == 'RFMHourglassNet' and bb.block == 'rfm'
    assert bb.num_keypoints == k and 'feat_channel' not in bb  # _delete_
    assert tuple(bb.stage_channels) == tuple(
        neck.in_channels) == (64, 128, 256, 512)
    assert neck.type == 'SpatialFusionModule' and neck.out_channels == 2048
    assert head.type == 'DLMHead' and head.num_keypoints == k
    assert head.in_channels == neck.out_channels
    assert 'num_stages' not in head  # no CPMHead/HeatmapHead leftovers
    assert head.predict_from == 'heatmap'
    # the DLM: RLE's likelihood on at RLE's weight (lambda / rle_weight =
    # 100, the likelihood in charge of mu), rendered from the RLE loss's
    # own flow; the hourglass feels the DLM x1e-7 (the neck's scale)
    assert (head.lambda_dlm, head.rle_weight) == (100.0, 1.0)
    assert neck.backbone_grad_scale == 1e-7
    assert head.loss_rle.type == 'RLELoss'
    assert head.loss_rle.q_distribution == 'gaussian'
    assert head.renderer.type == 'FlowLatticeRenderer'
    assert head.decoder.type == 'MSRAHeatmap'
    assert tuple(head.decoder.input_size) == size
    assert tuple(head.decoder.heatmap_size) == hm

    pipe = cfg.train_dataloader.dataset.pipeline
    enc = by_type(pipe, 'GenerateTarget').encoder
    assert enc.type == 'IntegralRegressionLabel' and not enc.normalize
    assert tuple(enc.input_size) == size and tuple(enc.heatmap_size) == hm
    assert enc.sigma == head.decoder.sigma == 2
    assert tuple(by_type(pipe, 'TopdownAffine').input_size) == size
    for loader in ('val_dataloader', 'test_dataloader'):
        vp = cfg[loader].dataset.pipeline
        assert tuple(by_type(vp, 'TopdownAffine').input_size) == size
    # the stacked hourglass's augmentation (Newell's code: rotation 30
    # with probability 0.4, scale 0.25, both clipped normals)
    assert_spread_matches_clipped_normals(
        by_type(pipe, 'RandomBBoxTransform'), 30, 0.25, rotate_prob=0.4)
    assert by_type(pipe, 'RandomFlip').direction == 'horizontal'

    # the paper: Adam 1e-3, x0.1 at 170/200, 210 epochs
    assert cfg.optim_wrapper.optimizer.type == 'Adam'
    assert cfg.optim_wrapper.optimizer.lr == 1e-3
    assert cfg.train_cfg.max_epochs == 210
    steps = [s for s in cfg.param_scheduler if s.type == 'MultiStepLR']
    assert steps[0].milestones == [170, 200] and steps[0].gamma == 0.1

    # test: flip + six-scale image pyramid
    tc = model.test_cfg
    assert tc.flip_test and tc.shift_heatmap
    assert len(tc.multiscale_test.scales) == 6
    assert 1.0 in tc.multiscale_test.scales
    # the regressed means: training resolution only (flip), as RLE
    assert tuple(tc.multiscale_test.keypoint_scales) == (1.0, )


def test_mpii_pckh(repo_root):
    cfg = load_repo_config(repo_root, MPII)
    assert cfg.val_evaluator.type == 'MpiiPCKAccuracy'
    assert cfg.val_dataloader.dataset.headbox_file.endswith('mpii_gt_val.mat')
    assert cfg.default_hooks.checkpoint.save_best == 'PCK'


def test_lsp_combines_three_sets_and_uses_torso_pck(repo_root):
    cfg = load_repo_config(repo_root, LSP)
    train = cfg.train_dataloader.dataset
    assert train.type == 'SkipBadSamples'  # fault tolerance wrapper
    assert train.dataset_type == 'CombinedDataset'
    assert osp.isfile(train.metainfo.from_file)
    types = [d.type for d in train.datasets]
    assert types == ['LspDataset', 'LspDataset', 'MpiiDataset']
    assert train.datasets[0].split == 'train'
    assert train.datasets[1].variant == 'lspet'
    conv = train.datasets[2].pipeline[0]
    assert conv.type == 'KeypointConverter' and conv.num_keypoints == 14
    # every LSP joint from the MPII joint of the same name (LSP "neck" is
    # MPII's "upper_neck"), from the two data sets' own meta files
    from mmpose.datasets.datasets.utils import parse_pose_metainfo

    from mmpose_ext.datasets import LspDataset
    mpii = parse_pose_metainfo(
        dict(from_file=osp.join(
            repo_root, 'configs/_base_/datasets/mpii.py')))['keypoint_id2name']
    lsp = parse_pose_metainfo(LspDataset.METAINFO)['keypoint_id2name']
    pairs = [tuple(m) for m in conv.mapping]
    assert sorted(b for _, b in pairs) == list(range(14))
    for a, b in pairs:
        assert mpii[a] == ('upper_neck' if lsp[b] == 'neck' else lsp[b])
    val = cfg.val_dataloader.dataset
    assert val.type == 'LspDataset' and val.split == 'test' and val.test_mode
    assert 'headbox_file' not in val
    assert cfg.test_dataloader.dataset.type == 'LspDataset'
    assert cfg.val_evaluator.type == 'TorsoPCKAccuracy'
    assert cfg.val_evaluator.thr == 0.2
    assert cfg.test_evaluator.type == 'TorsoPCKAccuracy'


def test_coco_metric_with_detections(repo_root):
    cfg = load_repo_config(repo_root, COCO)
    assert cfg.val_evaluator.type == 'CocoMetric'
    assert cfg.val_dataloader.dataset.bbox_file.endswith(
        'COCO_val2017_detections_AP_H_56_person.json')
    assert by_type(cfg.train_dataloader.dataset.pipeline, 'RandomHalfBody')


@pytest.mark.parametrize('name,block,neck,with_dlm,lam,rle', [
    ('hourglass', 'basic', False, False, 100.0, 1.0),
    ('rfm', 'rfm', False, False, 100.0, 1.0),
    ('hourglass-sfm-dlm', 'basic', True, True, 100.0, 1.0),
    ('loss-mse', 'rfm', True, True, 0.0, 0.0),
    ('loss-joint', 'rfm', True, True, 100.0, 1.0),
    ('loss-joint-no-rle', 'rfm', True, True, 100.0, 0.0),
])
def test_ablation_switches(repo_root, name, block, neck, with_dlm, lam, rle):
    cfg = load_repo_config(repo_root, ABL.format(name))
    m = cfg.model
    assert m.backbone.block == block
    assert (m.neck is not None) == neck
    assert m.head.with_dlm == with_dlm
    assert m.head.lambda_dlm == lam and m.head.rle_weight == rle
    if neck:  # the DLM's pull on the hourglass, scaled as in the paper model
        assert m.neck.backbone_grad_scale == 1e-7
    assert cfg.val_evaluator.type == 'MpiiPCKAccuracy'


@pytest.mark.parametrize('path', [MPII, LSP, COCO] +
                         [ABL.format(a) for a in ABLATIONS])
def test_every_config_builds_and_runs(repo_root, path):
    cfg = load_repo_config(repo_root, path)
    model = MODELS.build(cfg.model).eval()
    k = cfg.model.head.num_keypoints
    w, h = cfg.model.head.decoder.input_size
    x = torch.randn(1, 3, h // 4, w // 4)  # full width, small input
    with torch.no_grad():
        out = model(x, None, mode='tensor')
    assert out.shape == (1, k, h // 16, w // 16)
