# SADI-Net, COCO, 256x192, CocoMetric (OKS AP with the person detection
# file's boxes). The paper reports MPII and LSP only; this config applies
# the same model and recipe to COCO's 17 keypoints.
#
# Inherits MMPose's standard top-down COCO config (HRNet-W32 256x192:
# runtime, schedule, COCO data with half-body augmentation, detection boxes
# for val, CocoMetric) and the shared pieces in configs/_base_/sadi_net.py;
# only the model, codecs, optimiser, augmentation ranges and the test-time
# pyramid differ.
#
# Single-scale test (6x faster on COCO val's ~100k boxes):
#   --cfg-options model.test_cfg.multiscale_test.scales="(1.0,)"
_base_ = [
    'mmpose::body_2d_keypoint/topdown_heatmap/coco/'
    'td-hm_hrnet-w32_8xb64-210e_coco-256x192.py',
    './_base_/sadi_net.py',
    './_base_/fault_tolerance.py',
]

custom_imports = dict(imports=['mmpose_ext'], allow_failed_imports=False)

optim_wrapper = _base_.sadi_optim_wrapper
auto_scale_lr = dict(base_batch_size=_base_.sadi_batch_size)

codec = dict(
    type='MSRAHeatmap', input_size=(192, 256), heatmap_size=(48, 64), sigma=2)
target_codec = dict(
    type='IntegralRegressionLabel',
    input_size=(192, 256),
    heatmap_size=(48, 64),
    sigma=2.0,
    normalize=False)

num_keypoints = 17
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

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='RandomHalfBody'),
    _base_.sadi_random_bbox_transform,
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=target_codec),
    dict(type='PackPoseInputs'),
]
train_dataloader = dict(
    batch_size=_base_.sadi_batch_size, dataset=dict(
        **_base_.ft_skip_bad_samples,  # fault tolerance, below
        dataset_type='CocoDataset',
        # stated on the wrapper too, where MMPose's init_model() looks for
        # it (without it a model built from this config gets COCO's meta)
        metainfo=dict(from_file='{{fileDirname}}/_base_/datasets/coco.py'),
        pipeline=train_pipeline))

# fault tolerance (configs/_base_/fault_tolerance.py, docs/reliability.md)
default_hooks = dict(checkpoint=dict(type=_base_.ft_checkpoint_hook_type))
train_cfg = dict(
    _delete_=True, type=_base_.ft_train_loop, max_epochs=210, val_interval=10)
custom_hooks = _base_.ft_custom_hooks
