# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""MMPose's own heads train under CPU bfloat16 autocast once the plugin is
imported (their accuracy goes through ``to_numpy``, and numpy has no
bfloat16): the same-recipe HRNet baseline with ``--amp`` on a CPU."""
import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData, PixelData
from mmpose.models.heads import HeatmapHead
from mmpose.structures import PoseDataSample
from mmpose.utils import tensor_utils

import mmpose_ext  # noqa: F401


def test_to_numpy_takes_bfloat16_exactly():
    x = torch.randn(3, 4).bfloat16()
    out = tensor_utils.to_numpy(x)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, x.float().numpy())
    outs, device = tensor_utils.to_numpy([x, x.float()], return_device=True)
    assert [o.dtype for o in outs] == [np.float32, np.float32]
    assert str(device) == 'cpu'
    # other dtypes as before
    assert tensor_utils.to_numpy(torch.ones(2, dtype=torch.int64)).dtype \
        == np.int64


def test_mmpose_heatmap_head_loss_under_bfloat16_autocast():
    torch.manual_seed(0)
    head = HeatmapHead(
        in_channels=8,
        out_channels=3,
        deconv_out_channels=None,
        loss=dict(type='KeypointMSELoss', use_target_weight=True))
    feats = (torch.randn(2, 8, 16, 12), )
    samples = []
    for _ in range(2):
        s = PoseDataSample()
        s.gt_fields = PixelData(heatmaps=torch.rand(3, 16, 12))
        s.gt_instances = InstanceData(
            keypoints=np.zeros((1, 3, 2), np.float32),
            keypoints_visible=np.ones((1, 3), np.float32))
        s.gt_instance_labels = InstanceData(keypoint_weights=torch.ones(1, 3))
        samples.append(s)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        losses = head.loss(feats, samples, train_cfg={})
    fp32 = head.loss(feats, samples, train_cfg={})
    assert torch.isfinite(losses['loss_kpt'])
    assert losses['loss_kpt'].item() == pytest.approx(
        fp32['loss_kpt'].item(), rel=0.05)
    assert 'acc_pose' in losses
