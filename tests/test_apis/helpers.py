# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Small real models for the inference tests: configs written to files (the
tools and ``MMPoseInferencer`` take paths) and randomly initialised weights
saved as MMEngine checkpoints.

* pose: the baseline HRNet config (``configs/hrnet_w32_coco_baseline.py``)
  with tiny widths and a 96x128 input;
* detector: MMDet's own ``rtmdet/rtmdet_tiny_8xb32-300e_coco.py`` (80 COCO
  classes, person = label 0) with a 320 test size and no pretrained
  backbone.
"""
import os.path as osp

import numpy as np
import torch
from mmengine.config import Config

from mmpose_ext.devkit.testing import tiny_hrnet_overrides

BASELINE = 'configs/hrnet_w32_coco_baseline.py'
POSE_INPUT = (96, 128)  # (w, h)
POSE_HEATMAP = (24, 32)


def mmdet_config_path(rel: str) -> str:
    """A config shipped in the installed mmdet package."""
    import mmdet
    path = osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs', rel)
    assert osp.isfile(path), path
    return path


POSE_CONFIGS = {
    'baseline': BASELINE,
    'sg_hrnet': 'configs/sg_hrnet_w32_coco.py',
    'sadi_net': 'configs/sadi_net_coco.py',
}

SADI_TINY = {
    'model.backbone.num_stacks': 2,
    'model.backbone.stage_channels': (8, 16, 32, 64),
    'model.backbone.stem_channels': 8,
    'model.neck.in_channels': (8, 16, 32, 64),
    'model.neck.fuse_channels': 16,
    'model.neck.head_channels': (16, 32, 64, 128),
    'model.neck.out_channels': 64,
    'model.head.in_channels': 64,
    'model.test_cfg.multiscale_test.scales': (1.0, ),
}


def small_pose_cfg(repo_root: str, config: str = BASELINE) -> Config:
    """A top-down config of ours (HRNet family or SADI-Net) shrunk to tiny
    widths and a 96x128 input (``config``: a path or a key of
    :data:`POSE_CONFIGS`)."""
    cfg = Config.fromfile(
        osp.join(repo_root, POSE_CONFIGS.get(config, config)))
    tiny = SADI_TINY if cfg.model.backbone.type == 'RFMHourglassNet' \
        else tiny_hrnet_overrides(width=8)
    cfg.merge_from_dict({
        **tiny,
        'model.head.decoder.input_size': POSE_INPUT,
        'model.head.decoder.heatmap_size': POSE_HEATMAP,
    })
    codec = cfg.model.head.decoder
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        for t in cfg[loader].dataset.pipeline:
            if t.type == 'TopdownAffine':
                t.input_size = codec.input_size
            if t.type == 'GenerateTarget':
                t.encoder.input_size = codec.input_size
                t.encoder.heatmap_size = codec.heatmap_size
    return cfg


def save_pose_model(cfg: Config,
                    out_dir: str,
                    name: str = 'pose',
                    peaked: bool = False):
    """Dump ``cfg`` and save initialised weights (``init_weights``).

    With ``peaked``, weights whose heatmaps are O(1), like a trained
    model's: Kaiming-initialised convolutions and BN statistics calibrated
    on random crops (every BN output then has unit scale). MMPose's init
    gives near-flat heatmaps at tiny widths, where argmax near-ties make
    keypoint comparisons between backends meaningless.

    Returns:
        tuple: ``(config_path, checkpoint_path)``.
    """
    from mmpose.apis import init_model
    cfg_path = osp.join(out_dir, f'{name}.py')
    cfg.dump(cfg_path)
    torch.manual_seed(0)
    model = init_model(cfg_path, None, device='cpu')
    model.init_weights()
    if peaked:
        _peak_heatmaps(model)
    ckpt = osp.join(out_dir, f'{name}.pth')
    torch.save(
        dict(
            state_dict=model.state_dict(),
            meta=dict(dataset_meta=model.dataset_meta)), ckpt)
    return cfg_path, ckpt


def _peak_heatmaps(model) -> None:
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity='relu')
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average
    w, h = POSE_INPUT
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(4, 3, h, w), None, mode='tensor')
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = 0.1
    model.eval()


def small_detector_cfg(test_size: int = 320) -> Config:
    """MMDet's RTMDet-tiny COCO config, offline, with a small test size."""
    cfg = Config.fromfile(
        mmdet_config_path('rtmdet/rtmdet_tiny_8xb32-300e_coco.py'))
    cfg.model.backbone.init_cfg = None
    for t in cfg.test_dataloader.dataset.pipeline:
        if t.type == 'Resize':
            t.scale = (test_size, test_size)
        if t.type == 'Pad':  # pad to a multiple of 32, not to a square
            t.pop('size', None)
            t.size_divisor = 32
    return cfg


def save_detector(cfg: Config, out_dir: str, name: str = 'det'):
    """Dump ``cfg`` and save initialised weights (``init_weights``).

    Returns:
        tuple: ``(config_path, checkpoint_path)``.
    """
    from mmdet.apis import init_detector
    cfg_path = osp.join(out_dir, f'{name}.py')
    cfg.dump(cfg_path)
    torch.manual_seed(0)
    model = init_detector(cfg_path, None, device='cpu')
    model.init_weights()
    # Freshly initialised box regressors predict distances ~0, i.e. empty
    # boxes that the head drops; a positive bias gives every anchor point a
    # box of about 4 strides, so the untrained detector yields boxes.
    # Class scores are all ~0.01 at init: make 'person' (label 0) likely
    # and its score depend on the image, so that boxes rank.
    for conv in getattr(model.bbox_head, 'rtm_reg', []):
        torch.nn.init.constant_(conv.bias, 2.0)
    for conv in getattr(model.bbox_head, 'rtm_cls', []):
        torch.nn.init.normal_(conv.weight, std=1.0)
        torch.nn.init.constant_(conv.bias[:1], 0.0)
    ckpt = osp.join(out_dir, f'{name}.pth')
    torch.save(
        dict(
            state_dict=model.state_dict(),
            meta=dict(dataset_meta=model.dataset_meta)), ckpt)
    return cfg_path, ckpt


# two overlapping person boxes on the generated val image 000000000013.jpg
# (x1, y1, x2, y2), for the backend equality tests
EXPORT_BOXES = np.array([[40, 30, 200, 230], [150, 10, 310, 235]], np.float32)


def export_test_models(repo_root: str, out_dir: str):
    """The tiny, peaked SG-HRNet and SADI-Net (SADI-Net at three test
    scales) that the ONNX and OpenVINO backend tests export, saved under
    ``out_dir``; heatmaps are output for the comparisons.

    Yields:
        tuple: ``(name, config_path, checkpoint)`` per model.
    """
    for name in ('sg_hrnet', 'sadi_net'):
        cfg = small_pose_cfg(repo_root, name)
        if name == 'sadi_net':
            cfg.model.test_cfg.multiscale_test.scales = (0.75, 1.0, 1.25)
        cfg.model.test_cfg.output_heatmaps = True
        yield (name, *save_pose_model(cfg, out_dir, name, peaked=True))
