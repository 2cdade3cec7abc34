# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""optimize_for_cpu (BN folding + channels_last): same predictions."""
import numpy as np
import pytest
import torch

from mmpose_ext.apis import TopdownInferencer, init_pose_model
from mmpose_ext.apis.fast_cpu import optimize_for_cpu
from .helpers import POSE_INPUT, save_pose_model, small_pose_cfg

pytestmark = pytest.mark.usefixtures('one_torch_thread')


@pytest.mark.parametrize('name', ['sg_hrnet', 'sadi_net'])
def test_same_outputs_without_batchnorm(name, repo_root, tmp_path):
    cfg_path, ckpt = save_pose_model(
        small_pose_cfg(repo_root, name), str(tmp_path), name)
    ref = init_pose_model(cfg_path, ckpt, device='cpu')
    fast = optimize_for_cpu(init_pose_model(cfg_path, ckpt, device='cpu'))
    assert not any(
        isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
        for m in fast.modules())
    conv = next(m for m in fast.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    w, h = POSE_INPUT
    x = torch.randn(2, 3, h, w)
    with torch.no_grad():
        a = ref(x, None, mode='tensor')
        b = fast(x, None, mode='tensor')
    a, b = (a[-1], b[-1]) if isinstance(a, (list, tuple)) else (a, b)
    assert float((a - b).abs().max()) <= 1e-5 * max(1, float(a.abs().max()))


def test_inferencer_option(repo_root, tmp_path, synthetic_coco):
    import cv2
    cfg_path, ckpt = save_pose_model(
        small_pose_cfg(repo_root, 'sg_hrnet'), str(tmp_path), 'sg')
    img = cv2.imread(f'{synthetic_coco}/val2017/000000000013.jpg')
    boxes = np.array([[40, 30, 200, 230]], np.float32)
    ref = TopdownInferencer(cfg_path, ckpt, device='cpu')(img, boxes)
    fast = TopdownInferencer(
        cfg_path, ckpt, device='cpu', optimize_cpu=True)(img, boxes)
    # untrained: heatmap maxima are ~1e-4, so compare relatively
    np.testing.assert_allclose(
        fast.keypoint_scores, ref.keypoint_scores, rtol=1e-3, atol=1e-9)
