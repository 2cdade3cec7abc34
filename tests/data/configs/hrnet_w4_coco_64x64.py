# The baseline config shrunk for CPU tests: HRNet width 4, 64x64 input.
# Data paths come from --cfg-options (mmpose_ext.devkit.testing.coco_data_overrides).
_base_ = ['../../../configs/hrnet_w32_coco_baseline.py']

codec = dict(
    type='MSRAHeatmap', input_size=(64, 64), heatmap_size=(16, 16), sigma=2)
model = dict(
    backbone=dict(
        extra=dict(
            stage1=dict(num_blocks=(1, ), num_channels=(4, )),
            stage2=dict(num_blocks=(1, 1), num_channels=(4, 8)),
            stage3=dict(
                num_modules=1, num_blocks=(1, 1, 1), num_channels=(4, 8, 16)),
            stage4=dict(
                num_modules=1,
                num_blocks=(1, 1, 1, 1),
                num_channels=(4, 8, 16, 32))),
        # HRNet's own random init (no ImageNet weights at width 4)
        init_cfg=[
            dict(type='Normal', std=0.001, layer=['Conv2d']),
            dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])
        ]),
    head=dict(in_channels=4, decoder=codec))

# Base pipelines hold the base codec (already substituted): redefine them.
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='RandomBBoxTransform'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs')
]
val_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PackPoseInputs')
]
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader
