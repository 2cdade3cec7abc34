# SADI-Net, COCO, 256x192, CocoMetric (OKS AP with the person detection
# file's boxes). The paper reports MPII and LSP only; this config applies
# the same model and recipe to COCO's 17 keypoints.
#
# Inherits MMPose's COCO setup (configs/_base_/topdown_coco.py: runtime,
# schedule, COCO data, detection boxes for val, CocoMetric, fault
# tolerance) and the SADI-Net pieces in configs/_base_/sadi_net.py; only
# the model, codecs, optimiser, augmentation and the test-time pyramid
# differ.
#
# Single-scale test (6x faster on COCO val's ~100k boxes):
#   --cfg-options model.test_cfg.multiscale_test.scales="(1.0,)"
_base_ = ['./_base_/topdown_coco.py', './_base_/sadi_net.py']

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
    batch_size=_base_.sadi_batch_size, dataset=dict(pipeline=train_pipeline))
