# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""The worked example of docs/custom_dataset.md: SG-HRNet and SADI-Net on
CrowdPose's 14 keypoints (configs/examples/).

The example configs differ from their model configs only in what the
keypoint set and the data set need; they load MMPose's real CrowdPose test
annotations (``../shared/data/real/crowdpose``) with 14 keypoints and the
meta's flip pairs; the configured evaluator gives AP 1 for the ground truth
(and less for shifted or left/right-swapped keypoints); SG-HRNet's lambda
follows the loss-value rule on those annotations; and both train and test
end to end on generated CrowdPose-format data, with 14-channel heads.
"""
import json
import math
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpose.datasets.datasets.utils import parse_pose_metainfo
from mmpose.registry import DATASETS, METRICS

from mmpose_ext.devkit.testing import (cpu_runtime_overrides,
                                       tiny_hrnet_overrides,
                                       tiny_sadi_overrides)
from .helpers import by_type, load_repo_config

SG = 'configs/examples/sg_hrnet_w32_crowdpose.py'
SADI = 'configs/examples/sadi_net_crowdpose.py'
PARENT = {SG: 'configs/sg_hrnet_w32_coco.py', SADI: 'configs/sadi_net_coco.py'}
EXAMPLES = (SG, SADI)

K = 14
# CrowdPose's keypoints: left/right pairs of the 12 limb joints, then
# top_head and neck (their own mirror images)
FLIP_INDICES = [1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 12, 13]
REAL_ANN = 'test_crowdpose.json'
REAL_DET = 'test_crowdpose_det_AP_40.json'

# data and evaluation keys an example may change (train set: the flat
# arguments of the SkipBadSamples wrapper)
DATA_KEYS = {
    'train_dataloader.dataset.' + k
    for k in ('dataset_type', 'data_root', 'ann_file', 'data_prefix.img',
              'metainfo.from_file')
} | {
    f'{split}_dataloader.dataset.{k}'
    for split in ('val', 'test')
    for k in ('type', 'data_root', 'ann_file', 'bbox_file', 'data_prefix.img',
              'metainfo.from_file')
} | {
    f'{split}_evaluator.{k}'
    for split in ('val', 'test')
    for k in ('ann_file', 'use_area', 'iou_type', 'prefix')
} | {'default_hooks.checkpoint.save_best'}
# the keypoint set in the model
MODEL_KEYS = {
    SG: {'model.head.out_channels', 'model.head.multi_task_loss.task_scales'},
    SADI: {'model.backbone.num_keypoints', 'model.head.num_keypoints'},
}


def _flatten(obj, prefix=''):
    """{dotted key: leaf} of a config (lists indexed, ``_scope_`` left
    out, as in test_sg_hrnet_configs.py)."""
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


def _meta(cfg):
    return parse_pose_metainfo(dict(cfg.train_dataloader.dataset.metainfo))


def _real_train_dataset(cfg, root, pipeline=None):
    """The config's training set (with its wrapper) on the real file."""
    ds = dict(cfg.train_dataloader.dataset)
    ds.update(
        data_root=osp.join(root, 'crowdpose'),
        ann_file=REAL_ANN,
        data_prefix=dict(img=''))
    if pipeline is not None:
        ds['pipeline'] = pipeline
    return DATASETS.build(ds)


def _real_test_dataset(cfg, root, bbox_file=None):
    ds = dict(cfg.test_dataloader.dataset)
    ds.update(
        data_root=osp.join(root, 'crowdpose'),
        ann_file=REAL_ANN,
        bbox_file=bbox_file,
        data_prefix=dict(img=''),
        pipeline=[])
    return DATASETS.build(ds)


@pytest.fixture(scope='module')
def configs(repo_root):
    init_default_scope('mmpose')
    return {
        p: load_repo_config(repo_root, p)
        for p in (*EXAMPLES, *PARENT.values())
    }


# ------------------------------------------------------------------ configs


@pytest.mark.parametrize('path', EXAMPLES)
def test_example_differs_from_its_model_config_only_in_the_keypoint_set(
        configs, path):
    a = _flatten(configs[path]._cfg_dict.to_dict())
    b = _flatten(configs[PARENT[path]]._cfg_dict.to_dict())
    differ = {
        k
        for k in a.keys() | b.keys()
        if a.get(k) != b.get(k) and not k.startswith('crowdpose_')
    }
    allowed = DATA_KEYS | MODEL_KEYS[path]
    assert differ - allowed == set(), sorted(differ - allowed)
    assert MODEL_KEYS[path] <= differ  # K is set, not inherited
    # same input, heatmaps, codec sigma (and SG-HRNet's disk radius)
    cfg = configs[path]
    assert tuple(cfg.model.head.decoder.input_size) == (192, 256)
    assert tuple(cfg.model.head.decoder.heatmap_size) == (48, 64)
    if path == SG:
        assert cfg.model.head.decoder.disk_radius == 5
        enc = by_type(cfg.train_dataloader.dataset.pipeline,
                      'GenerateTarget').encoder
        assert enc.type == 'DiskSegHeatmap' and enc.disk_radius == 5


@pytest.mark.parametrize('path', EXAMPLES)
def test_k_flip_pairs_data_and_metric_come_from_crowdpose(configs, path):
    cfg = configs[path]
    meta = _meta(cfg)
    assert meta['dataset_name'] == 'crowdpose'
    assert meta['num_keypoints'] == cfg.crowdpose_num_keypoints == K
    assert meta['flip_indices'] == FLIP_INDICES
    names = [meta['keypoint_id2name'][i] for i in range(K)]
    for i, j in enumerate(meta['flip_indices']):  # left <-> right by name
        swapped = names[i].replace('left', '#').replace('right', 'left')
        assert names[j] == swapped.replace('#', 'right'), (names[i], names[j])
    assert len(meta['sigmas']) == len(meta['dataset_keypoint_weights']) == K
    if path == SG:
        assert cfg.model.head.out_channels == K
    else:
        assert cfg.model.backbone.num_keypoints == K
        assert cfg.model.head.num_keypoints == K
    # every data set reads the same meta; MMPose's init_model() finds it
    from mmpose.apis.inference import dataset_meta_from_config
    assert dataset_meta_from_config(cfg, 'train')['num_keypoints'] == K
    train = cfg.train_dataloader.dataset
    assert train.type == 'SkipBadSamples'  # the fault tolerance stays
    assert train.dataset_type == 'CrowdPoseDataset'
    for split in ('val', 'test'):
        ds = cfg[f'{split}_dataloader'].dataset
        assert ds.type == 'CrowdPoseDataset' and ds.test_mode
        assert ds.metainfo == train.metainfo
        assert ds.bbox_file.endswith('det_for_crowd_test_0.1_0.5.json')
        ev = cfg[f'{split}_evaluator']
        assert (ev.type, ev.iou_type, ev.use_area,
                ev.prefix) == ('CocoMetric', 'keypoints_crowd', False,
                               'crowdpose')
        assert ev.ann_file == ds.data_root + ds.ann_file
    assert cfg.default_hooks.checkpoint.save_best == 'crowdpose/AP'


# ---------------------------------------------------------------- real data


@pytest.mark.parametrize('path', EXAMPLES)
def test_real_annotations_load_with_14_keypoints(configs, path,
                                                 real_data_root):
    cfg = configs[path]
    with open(osp.join(real_data_root, 'crowdpose', REAL_ANN)) as f:
        anns = {a['id']: a for a in json.load(f)['annotations']}
    dataset = _real_train_dataset(cfg, real_data_root)
    # 5 persons, one without keypoint labels (MMPose drops it)
    assert len(dataset) == 4 and len(anns) == 5
    assert dataset.metainfo['flip_indices'] == FLIP_INDICES
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        kpts = np.array(anns[info['id']]['keypoints']).reshape(K, 3)
        np.testing.assert_array_equal(info['keypoints'][0], kpts[:, :2])
        np.testing.assert_array_equal(info['keypoints_visible'][0], kpts[:, 2]
                                      > 0)
    # the training pipeline: 14 targets
    sample = dataset[2]
    assert sample['data_samples'].gt_fields.heatmaps.shape == (K, 64, 48)
    assert sample['data_samples'].gt_instance_labels.keypoint_weights.shape \
        == (1, K)
    # the val/test set on the real detections
    test = _real_test_dataset(cfg, real_data_root,
                              osp.join(real_data_root, 'crowdpose', REAL_DET))
    assert len(test) == 6 and test.metainfo['num_keypoints'] == K


def test_horizontal_flip_swaps_the_real_left_and_right(configs,
                                                       real_data_root):
    """A mirrored person's left shoulder is the original right shoulder,
    mirrored: the pipeline's flip uses the meta's pairs."""
    pipeline = [
        dict(type='LoadImage'),
        dict(type='GetBBoxCenterScale'),
        dict(type='RandomFlip', prob=1.0, direction='horizontal'),
    ]
    dataset = _real_train_dataset(configs[SG], real_data_root, pipeline)
    info = dataset.get_data_info(3)
    sample = dataset[3]
    width = sample['img_shape'][1]
    flipped = sample['keypoints'][0]
    original = info['keypoints'][0]
    expected = original[FLIP_INDICES].copy()
    expected[:, 0] = width - 1 - expected[:, 0]
    np.testing.assert_allclose(flipped, expected)


def _gt_samples(dataset, keypoint_index=None, offset=0.0):
    """Top-down data samples whose predictions are the ground truth
    (optionally shifted, or with the keypoints reordered)."""
    samples = []
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        bbox = info['bbox']
        kpts = info['keypoints'] + offset
        if keypoint_index is not None:
            kpts = kpts[:, keypoint_index]
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
                'keypoints': kpts,
                'keypoint_scores': np.ones((1, K), dtype=np.float32),
            },
        })
    return samples


@pytest.mark.parametrize('path', EXAMPLES)
def test_ground_truth_gives_crowdpose_ap_1(configs, path, real_data_root,
                                           tmp_path):
    """The configured evaluator (CocoMetric, keypoints_crowd, the meta's
    sigmas) on the real annotations: AP 1 for the ground truth, less for
    keypoints 8 px off or with left and right swapped."""
    cfg = configs[path]
    dataset = _real_test_dataset(cfg, real_data_root)
    results = {}
    for name, kwargs in (('gt', {}), ('shifted', dict(offset=8.0)),
                         ('swapped', dict(keypoint_index=FLIP_INDICES))):
        ev = dict(cfg.val_evaluator)
        ev.update(
            ann_file=osp.join(real_data_root, 'crowdpose', REAL_ANN),
            outfile_prefix=str(tmp_path / name))
        metric = METRICS.build(ev)
        metric.dataset_meta = dataset.metainfo
        samples = _gt_samples(dataset, **kwargs)
        metric.process([], samples)
        results[name] = metric.evaluate(size=len(samples))
    assert results['gt']['crowdpose/AP'] == pytest.approx(1.0)
    assert results['gt']['crowdpose/AR'] == pytest.approx(1.0)
    assert results['shifted']['crowdpose/AP'] < 0.9
    assert results['swapped']['crowdpose/AP'] < 0.9


def test_sg_hrnet_lambda_follows_the_loss_value_rule(configs, real_data_root):
    """lambda * L_seg = L_key at initialisation (docs/sg_hrnet.md), on the
    real annotations through the config's own training pipeline: heatmaps
    ~0 give L_key = mean(w * H_gt^2) over B x K x H x W, SGM logits 0 give
    L_seg = ln2 * H * W."""
    cfg = configs[SG]
    dataset = _real_train_dataset(cfg, real_data_root)
    state = np.random.get_state()
    np.random.seed(0)
    try:
        terms, weights = [], []
        for _ in range(20):
            for i in range(len(dataset)):
                ds = dataset[i]['data_samples']
                w = ds.gt_instance_labels.keypoint_weights[0].numpy() > 0
                heatmaps = ds.gt_fields.heatmaps.numpy()
                terms.append((heatmaps**2 * w[:, None, None]).mean())
                weights.append(w.mean())
    finally:
        np.random.set_state(state)
    w, h = cfg.model.head.decoder.heatmap_size
    l_key, l_seg = float(np.mean(terms)), math.log(2) * h * w
    lam = cfg.model.head.multi_task_loss.task_scales[1]
    assert lam == pytest.approx(l_key / l_seg, rel=0.1)
    # the formula of the config's comment, with v measured the same way
    v = float(np.mean(weights))
    assert 0.6 < v < 0.9
    formula = v * math.pi * 2**2 / (math.log(2) * (h * w)**2)
    assert lam == pytest.approx(formula, rel=0.15)


# --------------------------------------------------------------- end to end


@pytest.fixture(scope='module')
def synthetic_crowdpose(tmp_path_factory):
    from mmpose_ext.devkit.synthetic import generate_dataset
    out = str(tmp_path_factory.mktemp('synthetic_crowdpose'))
    generate_dataset('crowdpose', out, num_train=4, num_val=2, seed=0)
    return out


def _crowdpose_data_overrides(root):
    """Point an example config at a data set in CrowdPose's layout."""
    root = osp.abspath(root) + '/'
    test_ann = root + 'annotations/mmpose_crowdpose_test.json'
    out = {'train_dataloader.dataset.data_root': root}
    for split in ('val', 'test'):
        out[f'{split}_dataloader.dataset.data_root'] = root
        out[f'{split}_dataloader.dataset.bbox_file'] = (
            root + 'annotations/det_for_crowd_test_0.1_0.5.json')
        out[f'{split}_evaluator.ann_file'] = test_ann
    return out


def _set_input_size(cfg, input_size, heatmap_size):
    """Smaller crops and heatmaps, in the model's decoder and every
    pipeline (the transforms found by type, not by position)."""
    cfg.model.head.decoder.input_size = input_size
    cfg.model.head.decoder.heatmap_size = heatmap_size
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        pipeline = cfg[loader].dataset.pipeline
        by_type(pipeline, 'TopdownAffine').input_size = input_size
        if loader == 'train_dataloader':
            enc = by_type(pipeline, 'GenerateTarget').encoder
            enc.input_size, enc.heatmap_size = input_size, heatmap_size


@pytest.mark.slow
@pytest.mark.parametrize('path', EXAMPLES)
def test_train_and_test_tiny_model_on_generated_crowdpose(
        repo_root, path, synthetic_crowdpose, tmp_path, one_torch_thread):
    """Two iterations (width 8, batch 2, 128x96 crops) + validation, then
    test: the heads predict 14 keypoints and CrowdPose's AP is reported."""
    from mmengine.runner import Runner
    cfg = Config.fromfile(osp.join(repo_root, path))
    tiny = tiny_hrnet_overrides(8) if path == SG else tiny_sadi_overrides(8)
    cfg.merge_from_dict({
        **_crowdpose_data_overrides(synthetic_crowdpose),
        **cpu_runtime_overrides(batch_size=2, max_epochs=1, max_iters=2),
        **tiny,
    })
    # 128x96 crops: faster, and clear of a PyTorch 2.13 CPU fault (the
    # backward of a 1x1 stride-2 conv on 8 channels_last channels at 128x96,
    # which width-8 SADI-Net's stem meets with 256x192 crops)
    _set_input_size(cfg, (96, 128), (24, 32))
    if path == SADI:  # one scale, with flip: the test path, 6x cheaper
        cfg.model.test_cfg.multiscale_test.scales = (1.0, )
    cfg.work_dir = str(tmp_path)
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2
    metrics = runner.test()
    assert {'crowdpose/AP', 'crowdpose/AR', 'crowdpose/AP(M)'} <= set(metrics)
    assert 0 <= metrics['crowdpose/AP'] <= 1

    model = runner.model.eval()
    with torch.no_grad():
        out = model(torch.zeros(1, 3, 128, 96), None, mode='tensor')
    heatmaps = out[0] if isinstance(out, (tuple, list)) else out
    assert heatmaps.shape == (1, K, 32, 24)
    sd = torch.load(
        osp.join(str(tmp_path), 'epoch_1.pth'),
        map_location='cpu',
        weights_only=False)['state_dict']
    if path == SG:
        assert sd['head.final_layer.weight'].shape[0] == K
    else:  # the DLM regresses mu and sigma of 14 keypoints: 4 x 14
        fc = [
            k for k, v in sd.items()
            if k.startswith('head.') and v.dim() == 2 and v.shape[0] == 4 * K
        ]
        assert fc, 'no Linear(., 4K) in the DLM head'
