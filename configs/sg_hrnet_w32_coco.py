# SG-HRNet-W32, COCO keypoints, 256x192 (Tang et al., Traitement du Signal
# 41(5), 2024): HRNet-W32 + segmentation guided modules + disk-mask
# supervision + dynamic weight averaging.
#
# Inherits MMPose's HRNet-W32 COCO config (runtime, data, COCO val with the
# person detection file `COCO_val2017_detections_AP_H_56_person.json`,
# CocoMetric, flip test with the quarter-offset shift) and the shared pieces
# in configs/_base_/sg_hrnet_w32.py; only what differs is set here.
#
#   mim train mmpose configs/sg_hrnet_w32_coco.py        (PYTHONPATH=. or
#   python tools/train.py configs/sg_hrnet_w32_coco.py    pip install -e .)
#
# Disk radius ablation (3/5/9 heatmap pixels), one option away:
#   --cfg-options train_dataloader.dataset.pipeline.6.encoder.disk_radius=9
_base_ = [
    'mmpose::body_2d_keypoint/topdown_heatmap/coco/'
    'td-hm_hrnet-w32_8xb64-210e_coco-256x192.py',
    './_base_/sg_hrnet_w32.py',
    './_base_/fault_tolerance.py',
]

custom_imports = dict(imports=['mmpose_ext'], allow_failed_imports=False)

# runtime: the paper's recipe (schedule and epochs are MMPose's: 210 epochs,
# x0.1 at 170 and 200, after MMPose's 500-iteration linear warm-up)
optim_wrapper = _base_.sg_optim_wrapper
auto_scale_lr = dict(base_batch_size=_base_.sg_batch_size)

# codec: MSRA-style Gaussians (sigma 2, zero outside +-3 sigma) + disk mask
codec = dict(
    type='DiskSegHeatmap',
    input_size=(192, 256),
    heatmap_size=(48, 64),
    sigma=2,
    disk_radius=_base_.sg_disk_radius)

# model: the backbone keeps MMPose's HRNet-W32 `extra` and ImageNet init
# (SGHRNet takes every HRNet argument); the head is replaced.
model = dict(
    backbone=_base_.sg_backbone,
    # same batch, stored channels_last on CPU: 1.1-1.24x faster there
    # (mmpose_ext/models/data_preprocessors, docs/benchmarks.md)
    data_preprocessor=dict(type='ChannelsLastPoseDataPreprocessor'),
    head=dict(
        _delete_=True,
        type='SGHeatmapHead',
        in_channels=32,
        out_channels=17,
        deconv_out_channels=None,
        loss=dict(type='KeypointMSELoss', use_target_weight=True),
        loss_seg=dict(type='BCELoss', reduction='none'),
        # lambda = 1.6e-6: lambda * L_seg (BCE summed over the 64x48 pixels,
        # 2128 at init) starts at MMPose's mean-reduced MSE (3.5e-3 at init),
        # measured on generated data (see SGHeatmapHead, docs/sg_hrnet.md)
        multi_task_loss=dict(
            **_base_.sg_multi_task_loss, task_scales=(1.0, 1.6e-6)),
        decoder=codec))

# pipelines: the base config's are already bound to its MSRAHeatmap codec,
# so the training one is redefined (the val/test ones need no codec).
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='RandomHalfBody'),
    _base_.sg_random_bbox_transform,
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),  # index 6
    dict(type='PackPoseInputs'),
]
train_dataloader = dict(
    batch_size=_base_.sg_batch_size, dataset=dict(
        **_base_.ft_skip_bad_samples,  # fault tolerance, below
        dataset_type='CocoDataset',
        # stated on the wrapper too, where MMPose's init_model() looks for
        # it (without it a model built from this config gets COCO's meta)
        metainfo=dict(from_file='configs/_base_/datasets/coco.py'),
        pipeline=train_pipeline))

# fault tolerance (configs/_base_/fault_tolerance.py, docs/reliability.md)
default_hooks = dict(checkpoint=dict(type=_base_.ft_checkpoint_hook_type))
train_cfg = dict(
    _delete_=True, type=_base_.ft_train_loop, max_epochs=210, val_interval=10)
custom_hooks = _base_.ft_custom_hooks
