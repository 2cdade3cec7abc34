# SADI-Net, MPII, 256x256, PCKh@0.5 (Gao et al., IEEE Access 2023):
# RFM stacked hourglass + Spatial Fusion Module + Distribution Learning
# Module head, tested with flip and a six-scale image pyramid.
#
# Inherits MMPose's Hourglass-52 MPII config (runtime, schedule, data,
# MpiiPCKAccuracy = PCKh@0.5 with the head boxes of `mpii_gt_val.mat`,
# checkpoint on the best PCK) and the shared pieces in
# configs/_base_/sadi_net.py; only what differs is set here.
#
#   python tools/train.py configs/sadi_net_mpii.py
#   python tools/test.py configs/sadi_net_mpii.py work_dirs/.../best_PCK_*.pth
#
# Single-scale test:
#   --cfg-options "model.test_cfg.multiscale_test.scales=(1.0,)"
# Prediction from the DLM: --cfg-options model.test_cfg.predict_from=average
# (or =regression). Ablations: configs/ablations/sadi_net_mpii_*.py.
_base_ = [
    'mmpose::body_2d_keypoint/topdown_heatmap/mpii/'
    'td-hm_hourglass52_8xb64-210e_mpii-256x256.py',
    './_base_/sadi_net.py',
    './_base_/fault_tolerance.py',
]

custom_imports = dict(imports=['mmpose_ext'], allow_failed_imports=False)

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
    # same batch, stored channels_last on CPU: 1.1-1.24x faster there
    # (mmpose_ext/models/data_preprocessors, docs/benchmarks.md)
    data_preprocessor=dict(type='ChannelsLastPoseDataPreprocessor'),
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
    batch_size=_base_.sadi_batch_size, dataset=dict(
        **_base_.ft_skip_bad_samples,  # fault tolerance, below
        dataset_type='MpiiDataset',
        # stated on the wrapper too, where MMPose's init_model() looks for
        # it (without it a model built from this config gets COCO's meta)
        metainfo=dict(from_file='{{fileDirname}}/_base_/datasets/mpii.py'),
        pipeline=train_pipeline))

# fault tolerance (configs/_base_/fault_tolerance.py, docs/reliability.md)
default_hooks = dict(checkpoint=dict(type=_base_.ft_checkpoint_hook_type))
train_cfg = dict(
    _delete_=True, type=_base_.ft_train_loop, max_epochs=210, val_interval=10)
custom_hooks = _base_.ft_custom_hooks
