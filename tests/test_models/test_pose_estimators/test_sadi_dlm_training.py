# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""SADI-Net's DLM in the full model: the neck's gradient scale scales
exactly the DLM's pull on the hourglass, and the regressed mean learns when
the whole model trains (docs/sadi_net.md, "Loss weights")."""
import copy

import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData, PixelData
from mmpose.codecs import IntegralRegressionLabel
from mmpose.registry import MODELS
from mmpose.structures import PoseDataSample

import mmpose_ext  # noqa: F401

K, S, HM = 4, 64, 16  # keypoints, input size, heatmap size
STEPS = 60
CODEC = dict(
    type='MSRAHeatmap', input_size=(S, S), heatmap_size=(HM, HM), sigma=2)
MODEL = dict(
    type='MultiScaleTopdownPoseEstimator',
    backbone=dict(
        type='RFMHourglassNet',
        num_keypoints=K,
        num_stacks=1,
        stage_channels=(8, 16, 32, 64),
        stem_channels=8),
    neck=dict(
        type='SpatialFusionModule',
        in_channels=(8, 16, 32, 64),
        fuse_channels=16,
        head_channels=(16, 32, 64, 128),
        out_channels=64),
    # the configs' weights (configs/_base_/sadi_net.py)
    head=dict(
        type='DLMHead',
        num_keypoints=K,
        in_channels=64,
        rle_weight=1.0,
        lambda_dlm=100.0,
        decoder=CODEC))


def _model(grad_scale, seed=0, **head):
    cfg = copy.deepcopy(MODEL)
    cfg['neck']['backbone_grad_scale'] = grad_scale
    cfg['head'].update(head)
    torch.manual_seed(seed)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


# a pose away from the crop centre (where mu starts): 14-25 px off
POSE = np.array([[12.0, 14.0], [24.0, 12.0], [14.0, 26.0], [50.0, 12.0]])


def _batch(b=8, seed=0, jitter=3.0):
    """Images (B, 3, S, S) with a bright blob at every keypoint and their
    training targets; the keypoints are :data:`POSE` moved by up to
    ``jitter`` px."""
    rng = np.random.default_rng(seed)
    kpts = POSE + rng.uniform(-jitter, jitter, (b, K, 2))
    yy, xx = np.mgrid[0:S, 0:S]
    imgs = 0.1 * rng.standard_normal((b, 3, S, S))
    for i in range(b):
        for k in range(K):
            blob = np.exp(-((xx - kpts[i, k, 0])**2 +
                            (yy - kpts[i, k, 1])**2) / 8.0)
            imgs[i, k % 3] += 2 * blob
    codec = IntegralRegressionLabel(
        input_size=(S, S), heatmap_size=(HM, HM), sigma=2, normalize=False)
    samples = []
    for kp in kpts:
        enc = codec.encode(kp[None].astype(np.float32),
                           np.ones((1, K), np.float32))
        ds = PoseDataSample(
            metainfo=dict(flip_indices=[1, 0, 3, 2], input_size=(S, S)))
        ds.gt_fields = PixelData(heatmaps=torch.from_numpy(enc['heatmaps']))
        ds.gt_instance_labels = InstanceData(
            keypoint_labels=torch.from_numpy(enc['keypoint_labels']),
            keypoint_weights=torch.from_numpy(enc['keypoint_weights']))
        samples.append(ds)
    return torch.from_numpy(imgs).float(), samples, torch.from_numpy(
        kpts).float()


def _grads(model, inputs, samples, terms):
    model.zero_grad(set_to_none=True)
    losses = model.loss(inputs, samples)
    sum(losses[t] for t in terms).backward()
    return {
        n: (p.grad.clone() if p.grad is not None else torch.zeros_like(p))
        for n, p in model.named_parameters()
    }


@pytest.mark.parametrize('scale', [1e-7, 0.3])
def test_grad_scale_scales_the_dlms_pull_on_the_hourglass_only(scale):
    """With the DLM's losses, every backbone gradient is exactly ``scale``
    times the unscaled one while the neck's and head's own gradients are
    unchanged; L_rfm's gradient is untouched."""
    inputs, samples, _ = _batch(b=4)
    ref, scaled = _model(1.0), _model(scale)
    terms = ('loss_rle', 'loss_dlm')
    g_ref = _grads(ref, inputs, samples, terms)
    g = _grads(scaled, inputs, samples, terms)
    backbone = [n for n in g if n.startswith('backbone.')]
    own = [n for n in g if not n.startswith('backbone.')]
    assert backbone and own
    assert max(float(g_ref[n].abs().max()) for n in backbone) > 0
    for n in backbone:
        # float32 sums in another order: compare relative to the largest
        tol = 1e-4 * float(g_ref[n].abs().max()) + 1e-30
        torch.testing.assert_close(
            g[n] / scale, g_ref[n], rtol=1e-3, atol=tol, msg=n)
    for n in own:
        torch.testing.assert_close(g[n], g_ref[n], msg=n)
    k_ref = _grads(ref, inputs, samples, ('loss_kpt', ))
    k = _grads(scaled, inputs, samples, ('loss_kpt', ))
    for n in k:
        torch.testing.assert_close(k[n], k_ref[n], msg=n)


def _mu_error(model, inputs, truth):
    """Mean distance (input px) of the regressed means from the truth,
    eval mode."""
    model.eval()
    with torch.no_grad():
        mu, _ = model.head.regress(model.extract_feat(inputs))
    model.train()
    return float((mu * S - truth).norm(dim=-1).mean())


@pytest.mark.slow
def test_mu_learns_when_the_whole_model_trains():
    """A short training of the whole tiny model (Adam, lr 1e-3, the
    configs' weights and gradient scale) on a small fixed set brings the
    regressed means from the crop centre much closer to the truth: the
    likelihood reaches the DLM's own parameters at full strength through
    the full model (a gradient scale applied to the DLM itself, or a lost
    likelihood, leaves them where they start)."""
    torch.set_num_threads(1)
    inputs, samples, truth = _batch(b=8)
    model = _model(1e-7)
    before = _mu_error(model, inputs, truth)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(STEPS):
        losses = model.loss(inputs, samples)
        loss = sum(v for k, v in losses.items() if k.startswith('loss'))
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = _mu_error(model, inputs, truth)
    assert before > 15, before
    assert after < 0.4 * before, (before, after)  # measured: 23.8 -> 6.6
