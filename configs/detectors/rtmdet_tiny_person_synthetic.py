# RTMDet-tiny, one class (person), 160x160 input, trained from scratch on the
# generated COCO-format data set of the quick start (data/synthetic_coco).
#
# Inherits MMDet's own RTMDet-tiny config (model, AdamW, EMA, runtime) and
# changes only what differs:
#   * one class and the COCO *keypoint* annotation files of the generated
#     set (they hold person boxes; MMDet's CocoDataset reads them as is);
#   * no ImageNet-pretrained CSPNeXt (`init_cfg=None`): nothing can be
#     downloaded on the build machines;
#   * a small input (160: the 320x240 images at half size; the people are
#     large) and a short schedule (20 epochs of 300 images) that fits a
#     2-core CPU (see docs/inference.md for the time and the box AP);
#   * a light augmentation (random resize/crop, HSV, flip) instead of
#     Mosaic/MixUp, which need many more iterations to pay off.
#
#   python tools/train_detector.py THIS_CONFIG --work-dir WORK_DIR
#   python tools/detect_persons.py THIS_CONFIG CKPT --ann-file ... --eval
#
# Other data: --cfg-options data_root=... is NOT enough (the base substitutes
# data_root when parsed); override the dataloaders' data_root and the
# evaluator's ann_file, as tools/quickstart.sh does.
_base_ = 'mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py'

custom_imports = dict(imports=['mmpose_ext'], allow_failed_imports=False)

data_root = 'data/synthetic_coco/'
metainfo = dict(classes=('person', ), palette=[(220, 20, 60)])
img_scale = (160, 160)
max_epochs = 20
base_lr = 0.004
batch_size = 8

model = dict(
    backbone=dict(init_cfg=None),
    bbox_head=dict(num_classes=1),
    test_cfg=dict(nms_pre=1000, score_thr=0.01, max_per_img=100))

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='RandomResize',
        scale=img_scale,
        ratio_range=(0.75, 1.25),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=img_scale),
    dict(type='YOLOXHSVRandomAug'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Pad', size=img_scale, pad_val=dict(img=(114, 114, 114))),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='Pad', size_divisor=32, pad_val=dict(img=(114, 114, 114))),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]

train_dataloader = dict(
    batch_size=batch_size,
    num_workers=0,
    persistent_workers=False,
    pin_memory=False,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/person_keypoints_train2017.json',
        data_prefix=dict(img='train2017/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=4),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=batch_size,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/person_keypoints_val2017.json',
        data_prefix=dict(img='val2017/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root +
                     'annotations/person_keypoints_val2017.json')
test_evaluator = val_evaluator

train_cfg = dict(
    max_epochs=max_epochs, val_interval=max_epochs, dynamic_intervals=None)
optim_wrapper = dict(optimizer=dict(lr=base_lr))
param_scheduler = [
    dict(
        type='LinearLR', start_factor=1.0e-3, by_epoch=False, begin=0, end=50),
    dict(
        type='CosineAnnealingLR',
        eta_min=base_lr * 0.05,
        begin=max_epochs // 2,
        end=max_epochs,
        T_max=max_epochs // 2,
        by_epoch=True,
        convert_to_iter_based=True),
]
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
# EMA as in MMDet's config; no PipelineSwitchHook (no Mosaic stage here).
custom_hooks = [
    dict(
        type='EMAHook',
        ema_type='ExpMomentumEMA',
        momentum=0.0002,
        update_buffers=True,
        priority=49)
]
auto_scale_lr = dict(enable=False, base_batch_size=batch_size)
