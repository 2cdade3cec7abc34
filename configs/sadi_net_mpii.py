# SADI-Net, MPII, 256x256, PCKh@0.5 (Gao et al., IEEE Access 2023):
# RFM stacked hourglass + Spatial Fusion Module + Distribution Learning
# Module head, tested with flip and a six-scale image pyramid.
#
# Inherits MMPose's MPII setup (configs/_base_/topdown_mpii.py: runtime,
# schedule, data, MpiiPCKAccuracy = PCKh@0.5 with the head boxes of
# `mpii_gt_val.mat`, fault tolerance) and the SADI-Net pieces in
# configs/_base_/sadi_net.py; only what differs is set here.
#
#   python tools/train.py configs/sadi_net_mpii.py
#   python tools/test.py configs/sadi_net_mpii.py work_dirs/.../best_PCK_*.pth
#
# Single-scale test:
#   --cfg-options "model.test_cfg.multiscale_test.scales=(1.0,)"
# Prediction from the DLM: --cfg-options model.test_cfg.predict_from=average
# (or =regression). Ablations: configs/ablations/sadi_net_mpii_*.py.
_base_ = ['./_base_/topdown_mpii.py', './_base_/sadi_net.py']

# runtime: the paper's optimiser (schedule inherited: 210 epochs, x0.1 at
# 170 and 200)
optim_wrapper = _base_.sadi_optim_wrapper
auto_scale_lr = dict(base_batch_size=_base_.sadi_batch_size)

# codecs: MSRA heatmaps decode H_rfm; training targets also need the
# normalised coordinates (mu, sigma, RLE): IntegralRegressionLabel without
# its heatmap normalisation = MSRA heatmaps + RegressionLabel labels.
codec = dict(
    type='MSRAHeatmap', input_size=(256, 256), heatmap_size=(64, 64), sigma=2)
target_codec = dict(
    type='IntegralRegressionLabel',
    input_size=(256, 256),
    heatmap_size=(64, 64),
    sigma=2.0,
    normalize=False)

num_keypoints = 16
model = dict(
    type='MultiScaleTopdownPoseEstimator',
    backbone=dict(
        _delete_=True, **_base_.sadi_backbone, num_keypoints=num_keypoints),
    neck=_base_.sadi_neck,
    head=dict(
        _delete_=True,
        **_base_.sadi_head,
        num_keypoints=num_keypoints,
        decoder=codec),
    test_cfg=_base_.sadi_test_cfg)

# pipelines: the base config's training pipeline is bound to its codec, so
# it is redefined (val/test pipelines need no codec and are inherited).
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    _base_.sadi_random_bbox_transform,
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=target_codec),
    dict(type='PackPoseInputs'),
]
train_dataloader = dict(
    batch_size=_base_.sadi_batch_size, dataset=dict(pipeline=train_pipeline))
