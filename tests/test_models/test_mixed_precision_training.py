# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Mixed precision: tiny SG-HRNet and SADI-Net trained 50 iterations with
MMEngine's AmpOptimWrapper (bfloat16 CPU autocast, what ``--amp`` gives on
a machine without a GPU) stay finite and track the same run in float32."""
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmpose.registry import DATASETS, MODELS

from mmpose_ext.devkit.testing import (coco_data_overrides,
                                       tiny_hrnet_overrides,
                                       tiny_sadi_overrides)

ITERS = 50
SIZE, HEATMAP = (64, 64), (16, 16)
# difference of each loss term, bf16 autocast vs fp32, at any of the 50
# iterations, relative to the term's largest fp32 magnitude over the run (a
# term that crosses zero, like the RLE negative log-likelihood, has no
# meaningful pointwise relative difference); measured: docs/reliability.md
LOSS_RTOL = 0.05

CONFIGS = {
    'sg_hrnet': ('configs/sg_hrnet_w32_coco.py', tiny_hrnet_overrides(4)),
    'sadi_net': ('configs/sadi_net_coco.py', tiny_sadi_overrides(8)),
}


def _setup(repo_root, data_root, name):
    init_default_scope('mmpose')
    path, tiny = CONFIGS[name]
    cfg = Config.fromfile(osp.join(repo_root, path))
    cfg.merge_from_dict({**coco_data_overrides(data_root), **tiny})
    if name == 'sadi_net':
        cfg.model.backbone.init_cfg = None
    gen = [
        t for t in cfg.train_dataloader.dataset.pipeline
        if t.type == 'GenerateTarget'
    ][0]
    encoders = gen.encoder if isinstance(gen.encoder, list) \
        else [gen.encoder]
    for codec in encoders + [cfg.model.head.decoder]:
        codec.input_size, codec.heatmap_size = SIZE, HEATMAP
    cfg.train_dataloader.dataset.pipeline = [
        dict(type='LoadImage'),
        dict(type='GetBBoxCenterScale'),
        dict(type='TopdownAffine', input_size=SIZE),
        gen,
        dict(type='PackPoseInputs'),
    ]
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    batches = [
        pseudo_collate([dataset[i] for i in range(j, j + 2)]) for j in (0, 2)
    ]
    return cfg, batches


def _train(cfg, batches, amp):
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    wrapper = build_optim_wrapper(
        model,
        dict(
            type='AmpOptimWrapper' if amp else 'OptimWrapper',
            optimizer=dict(type='Adam', lr=1e-3)))
    dtypes = set()
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    conv.register_forward_hook(lambda m, i, o: dtypes.add(o.dtype))
    if amp:
        assert wrapper.cast_dtype == torch.bfloat16
    losses, parts = [], []
    for it in range(ITERS):
        log = model.train_step(batches[it % 2], optim_wrapper=wrapper)
        losses.append(float(log['loss']))
        parts.append({k: float(v) for k, v in log.items()})
    params_finite = all(
        bool(torch.isfinite(p).all()) for p in model.parameters())
    # the backbone really ran in bfloat16 (autocast on), parameters fp32
    assert dtypes == {torch.bfloat16 if amp else torch.float32}
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    return losses, parts, params_finite


@pytest.mark.slow
@pytest.mark.parametrize('name', ['sg_hrnet', 'sadi_net'])
def test_bf16_autocast_training_tracks_fp32(repo_root, synthetic_coco,
                                            one_torch_thread, name):
    cfg, batches = _setup(repo_root, synthetic_coco, name)
    ref, ref_parts, _ = _train(cfg, batches, amp=False)
    got, parts, params_finite = _train(cfg, batches, amp=True)
    assert params_finite
    assert all(math.isfinite(v) for p in parts for v in p.values())
    rel = {}
    for key in (k for k in ref_parts[0] if k.startswith('loss')):
        r = [p[key] for p in ref_parts]
        g = [p[key] for p in parts]
        scale = max(abs(v) for v in r)
        rel[key] = max(abs(a - b) for a, b in zip(g, r)) / scale
    print(f'{name}: loss fp32 {ref[0]:.5g} -> {ref[-1]:.5g}, bf16 '
          f'{got[0]:.5g} -> {got[-1]:.5g}; largest difference per term, '
          f'relative to its scale: {rel}')
    assert max(rel.values()) < LOSS_RTOL, rel
    # both learn: the loss falls in both runs
    assert ref[-1] < ref[0] and got[-1] < got[0]
    assert ref_parts[-1]['loss_kpt'] < ref_parts[0]['loss_kpt']
    assert parts[-1]['loss_kpt'] < parts[0]['loss_kpt']
    # the heads' float32 islands: every loss term is float32 under autocast
    if name == 'sadi_net':
        assert {'loss_kpt', 'loss_rle', 'loss_dlm'} <= set(parts[0])
    else:
        assert {'loss_kpt', 'loss_seg', 'dwa_w_kpt'} <= set(parts[0])
