# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import InstanceData, PixelData

from mmpose_ext.models.heads import SGHeatmapHead

K, C, H, W, N = 5, 8, 16, 12, 4
LAMBDA = 1.6e-6  # the head's default (64x48 heatmaps)
CODEC = dict(type='DiskSegHeatmap', input_size=(48, 64), heatmap_size=(W, H),
             sigma=2, disk_radius=3)


def _head(**kwargs):
    cfg = dict(in_channels=C, out_channels=K, decoder=CODEC)
    cfg.update(kwargs)
    return SGHeatmapHead(**cfg)


def _samples(batch=2, visible=None, seed=0):
    from mmpose.registry import KEYPOINT_CODECS
    from mmpose.structures import PoseDataSample
    codec = KEYPOINT_CODECS.build(CODEC)
    rng = np.random.default_rng(seed)
    out = []
    for b in range(batch):
        kpts = rng.uniform([4, 4], [44, 60], size=(1, K, 2))
        vis = np.ones((1, K)) if visible is None else visible[b]
        enc = codec.encode(kpts, vis)
        ds = PoseDataSample()
        ds.gt_fields = PixelData(
            heatmaps=torch.from_numpy(enc['heatmaps']),
            seg_masks=torch.from_numpy(enc['seg_masks']))
        ds.gt_instance_labels = InstanceData(
            keypoint_weights=torch.from_numpy(enc['keypoint_weights']))
        ds.set_metainfo(dict(flip_indices=list(range(K)),
                             input_size=(48, 64)))
        out.append(ds)
    return out


def _feats(batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    segs = [torch.randn(batch, 1, H, W, generator=g) for _ in range(N)]
    return tuple(segs) + (torch.randn(batch, C, H, W, generator=g), )


def test_loss_terms_and_logged_keys():
    head = _head()
    feats, samples = _feats(), _samples()
    losses = head.loss(feats, samples)
    assert set(losses) == {'loss_kpt', 'loss_seg', 'dwa_w_kpt', 'dwa_w_seg',
                           'acc_pose'}
    # first step: DWA weights are 1
    assert losses['dwa_w_kpt'].item() == losses['dwa_w_seg'].item() == 1.0

    gt_hm = torch.stack([d.gt_fields.heatmaps for d in samples])
    w = torch.cat([d.gt_instance_labels.keypoint_weights for d in samples])
    pred = head.forward(feats)
    assert tuple(pred.shape) == (2, K, H, W)
    mse = (((pred - gt_hm)**2) * w[..., None, None]).mean()  # MMPose's MSE
    torch.testing.assert_close(losses['loss_kpt'], mse)

    gt_seg = torch.stack([d.gt_fields.seg_masks for d in samples])
    bce = torch.stack([
        F.binary_cross_entropy_with_logits(
            s, gt_seg, reduction='none').sum(dim=(1, 2, 3))
        for s in feats[:N]])  # (N, B): per map, summed over pixels
    torch.testing.assert_close(losses['loss_seg'], LAMBDA * bce.mean())


def test_dwa_weights_change_after_two_steps():
    head = _head()
    for seed in range(3):
        losses = head.loss(_feats(seed=seed), _samples(seed=seed))
    assert losses['dwa_w_kpt'].item() != 1.0
    assert losses['dwa_w_kpt'].item() + losses['dwa_w_seg'].item() == \
        pytest.approx(2.0)


def test_sample_without_visible_keypoints_gives_finite_losses():
    head = _head()
    samples = _samples(visible=[np.zeros((1, K)), np.zeros((1, K))])
    assert all(d.gt_fields.seg_masks.sum() == 0 for d in samples)
    losses = head.loss(_feats(), samples)
    assert all(torch.isfinite(v).all() for v in losses.values())
    assert losses['loss_kpt'].item() == 0
    assert losses['loss_seg'].item() > 0  # BCE towards an all-zero mask


@pytest.mark.parametrize('flip', [False, True])
def test_predict_ignores_seg_maps_unless_asked(flip):
    head = _head().eval()
    samples = _samples()
    feats = [_feats(), _feats(seed=1)] if flip else _feats()
    test_cfg = dict(flip_test=flip, shift_heatmap=True)
    preds = head.predict(feats, samples, test_cfg=test_cfg)
    assert isinstance(preds, list) and len(preds) == 2
    assert preds[0].keypoints.shape == (1, K, 2)

    preds, fields = head.predict(
        feats, samples, test_cfg=dict(test_cfg, output_seg_maps=True))
    assert len(fields) == 2
    seg = fields[0].seg_maps
    assert tuple(seg.shape) == (N, H, W)
    assert 0 <= seg.min() and seg.max() <= 1
    if not flip:
        torch.testing.assert_close(seg, torch.sigmoid(
            torch.cat(feats[:N], dim=1)[0]))

    _, fields = head.predict(
        feats, samples,
        test_cfg=dict(test_cfg, output_seg_maps=True, output_heatmaps=True))
    assert {'heatmaps', 'seg_maps'} <= set(fields[0].keys())


def test_bad_inputs_raise_value_error():
    head = _head()
    with pytest.raises(ValueError, match='seg_logits'):
        head.loss((torch.rand(2, C, H, W), ), _samples())
    small = tuple(torch.rand(2, 1, H // 2, W // 2) for _ in range(N)) + (
        torch.rand(2, C, H // 2, W // 2), )
    with pytest.raises(ValueError, match='seg_masks'):
        head.loss(small, _samples())
    with pytest.raises(ValueError, match='in_channels'):
        head.forward(_feats()[:-1] + (torch.rand(2, C + 1, H, W), ))
    with pytest.raises(ValueError, match='num_seg_maps'):
        _head(num_seg_maps=0)


def _blob_batch(batch, seed):
    """Images with bright blobs at the keypoints: learnable masks."""
    from mmpose.registry import KEYPOINT_CODECS
    from mmpose.structures import PoseDataSample
    codec = KEYPOINT_CODECS.build(
        dict(type='DiskSegHeatmap', input_size=(64, 64), heatmap_size=(16, 16),
             sigma=2, disk_radius=3))
    rng = np.random.default_rng(seed)
    imgs, samples = [], []
    yy, xx = np.mgrid[0:64, 0:64]
    for _ in range(batch):
        kpts = rng.uniform(6, 58, size=(1, 3, 2))
        img = rng.normal(0, 0.2, size=(64, 64))
        for x, y in kpts[0]:
            img += np.exp(-((xx - x)**2 + (yy - y)**2) / 18.)
        imgs.append(torch.from_numpy(np.repeat(img[None], 3, 0)).float())
        enc = codec.encode(kpts, np.ones((1, 3)))
        ds = PoseDataSample()
        ds.gt_fields = PixelData(heatmaps=torch.from_numpy(enc['heatmaps']),
                                 seg_masks=torch.from_numpy(enc['seg_masks']))
        ds.gt_instance_labels = InstanceData(
            keypoint_weights=torch.from_numpy(enc['keypoint_weights']))
        samples.append(ds)
    return torch.stack(imgs), samples


def test_segmentation_loss_trains_the_sgms():
    from mmpose.registry import MODELS

    from mmpose_ext.testing import tiny_hrnet_extra
    torch.manual_seed(0)
    # lambda chosen as in the configs: pi sigma^2 / (ln2 (HW)^2), 16x16 maps
    lam = math.pi * 2**2 / (math.log(2) * (16 * 16)**2)
    model = MODELS.build(
        dict(type='TopdownPoseEstimator',
             backbone=dict(type='SGHRNet', extra=tiny_hrnet_extra(4)),
             head=dict(type='SGHeatmapHead', in_channels=4, out_channels=3,
                       multi_task_loss=dict(type='DWAMultiTaskLoss',
                                            task_scales=(1.0, lam)))))
    model.init_weights()
    sgm_before = {k: v.clone() for k, v in model.backbone.sgms.state_dict(
    ).items()}
    # a high lr: a handful of steps must show learning, not just drift
    optim = torch.optim.Adam(model.parameters(), lr=3e-2)
    imgs, samples = _blob_batch(4, seed=0)
    raw = []
    for _ in range(12):
        losses = model.loss(imgs, samples)
        raw.append(losses['loss_seg'].item() /
                   (losses['dwa_w_seg'].item() * lam))
        optim.zero_grad()
        sum(v for k, v in losses.items() if 'loss' in k).backward()
        optim.step()
    # the best constant prediction (each mask's foreground fraction p) costs
    # H(p) per pixel; beating it means the maps localise the keypoints
    masks = torch.stack([d.gt_fields.seg_masks for d in samples])
    p = masks.mean(dim=(1, 2, 3))
    entropy = -(p * p.log() + (1 - p) * (1 - p).log())
    best_constant = (entropy * masks[0].numel()).mean().item()
    assert raw[-1] < 0.9 * raw[0] and raw[-1] < best_constant, (
        raw, best_constant)
    for k, v in model.backbone.sgms.state_dict().items():
        assert not torch.equal(v, sgm_before[k]), k
