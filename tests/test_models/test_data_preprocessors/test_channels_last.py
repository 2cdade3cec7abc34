# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""ChannelsLastPoseDataPreprocessor: same batch, NHWC storage, and a tiny
SG-HRNet computes the same losses and gradients from it."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmpose.registry import DATASETS, MODELS

from mmpose_ext.devkit.testing import coco_data_overrides, tiny_hrnet_overrides

PREPROC = dict(
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True)


@pytest.fixture(scope='module')
def setup(repo_root, synthetic_coco):
    init_default_scope('mmpose')
    cfg = Config.fromfile(osp.join(repo_root, 'configs/sg_hrnet_w32_coco.py'))
    cfg.merge_from_dict({
        **coco_data_overrides(synthetic_coco),
        **tiny_hrnet_overrides(8),
        # well-conditioned (PyTorch's default) weights: HRNet's Normal(0.001)
        # init puts the BN variances near their eps, where fp32 rounding
        # differences between memory layouts grow to ~1.5% of a gradient;
        # this test is about the layout, not the initialisation
        'model.backbone.init_cfg':
        None,
    })
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    torch.manual_seed(0)
    data = pseudo_collate([dataset[i] for i in range(2)])
    return cfg, data


def _preprocess(data, **kwargs):
    pre = MODELS.build(
        dict(type='ChannelsLastPoseDataPreprocessor', **PREPROC, **kwargs))
    plain = MODELS.build(dict(type='PoseDataPreprocessor', **PREPROC))
    return pre(dict(data), True), plain(dict(data), True)


def test_same_batch_stored_channels_last(setup):
    _, data = setup
    got, ref = _preprocess(data)
    assert got['inputs'].shape == ref['inputs'].shape == (2, 3, 256, 192)
    assert got['inputs'].is_contiguous(memory_format=torch.channels_last)
    assert not got['inputs'].is_contiguous()
    assert ref['inputs'].is_contiguous()
    assert torch.equal(got['inputs'], ref['inputs'])
    assert got['data_samples'] is not None


def test_other_devices_are_left_alone(setup):
    _, data = setup
    got, _ = _preprocess(data, devices=('cuda', ))
    assert got['inputs'].is_contiguous()


@pytest.mark.parametrize('devices', ['cpu', ('cpu', 1)])
def test_invalid_devices(devices):
    with pytest.raises(ValueError, match='devices'):
        MODELS.build(
            dict(type='ChannelsLastPoseDataPreprocessor', devices=devices))


def test_same_losses_and_gradients(setup):
    cfg, data = setup
    grads, losses = [], []
    for kind in ('PoseDataPreprocessor', 'ChannelsLastPoseDataPreprocessor'):
        torch.manual_seed(0)
        model = MODELS.build(
            dict(cfg.model, data_preprocessor=dict(PREPROC, type=kind)))
        model.init_weights()
        model.train()
        batch = model.data_preprocessor(dict(data), True)
        loss, _ = model.parse_losses(model(**batch, mode='loss'))
        loss.backward()
        losses.append(loss.detach())
        grads.append({
            n: p.grad
            for n, p in model.named_parameters() if p.grad is not None
        })
        # the parameters keep their layout (optimizers, DDP buckets)
        assert all(p.is_contiguous() for p in model.parameters())
    assert torch.isfinite(losses[0])
    torch.testing.assert_close(losses[1], losses[0], rtol=1e-4, atol=1e-6)
    assert grads[0].keys() == grads[1].keys()
    for name, g in grads[0].items():
        torch.testing.assert_close(
            grads[1][name], g, rtol=1e-3, atol=1e-5, msg=name)
