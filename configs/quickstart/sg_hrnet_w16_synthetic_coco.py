# Quick start: a small SG-HRNet trained on the generated COCO-format demo set.
#
# The same model family and recipe as configs/sg_hrnet_w32_coco.py (HRNet's
# augmentation, DWA, disk masks), shrunk so that it trains in a few minutes
# on a 2-core CPU: width 16 (branches 16/32/64/128, one module per stage),
# 128x96 input, 32x24 heatmaps, batch 16, a short schedule. No ImageNet
# weights exist for width 16, so the backbone gets HRNet's own random
# initialisation (Normal(std 0.001) convolutions, BN 1/0).
# `bash tools/quickstart.sh` writes the data to data/synthetic_coco with
#   python tools/make_synthetic_dataset.py coco data/synthetic_coco \
#       --num-train 300 --num-val 40 --seed 0
# and evaluates with CocoMetric on the generated person-detection file.
_base_ = ['../sg_hrnet_w32_coco.py']

data_root = 'data/synthetic_coco/'
max_epochs = 12

codec = dict(
    type='DiskSegHeatmap',
    input_size=(96, 128),
    heatmap_size=(24, 32),
    sigma=2,
    disk_radius=3)  # the paper's 5 px at 64x48, scaled to 32x24

model = dict(
    backbone=dict(
        extra=dict(
            stage1=dict(num_blocks=(2, ), num_channels=(32, )),
            stage2=dict(num_blocks=(2, 2), num_channels=(16, 32)),
            stage3=dict(
                num_modules=1, num_blocks=(2, 2, 2),
                num_channels=(16, 32, 64)),
            stage4=dict(
                num_modules=1,
                num_blocks=(2, 2, 2, 2),
                num_channels=(16, 32, 64, 128))),
        # HRNet's own initialisation (mmpose.models.HRNet's default)
        init_cfg=[
            dict(type='Normal', std=0.001, layer=['Conv2d']),
            dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])
        ]),
    head=dict(
        in_channels=16,
        # lambda scales with 1 / (H W)^2 (docs/sg_hrnet.md, "Lambda"):
        # 1.6e-6 at 64x48 -> 2.6e-5 at 32x24
        multi_task_loss=dict(task_scales=(1.0, 2.6e-5)),
        decoder=codec))

# 16 crops per step on one process (RecipeCheckHook reads the recipe's
# total batch from here)
auto_scale_lr = dict(base_batch_size=16)
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
optim_wrapper = dict(optimizer=dict(lr=2e-3))
param_scheduler = [
    dict(type='LinearLR', begin=0, end=50, start_factor=0.01, by_epoch=False),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        milestones=[9, 11],
        gamma=0.1,
        by_epoch=True),
]
default_hooks = dict(
    logger=dict(interval=10),
    # keep only the final epoch's checkpoint: it is the quick start's result
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1, save_best=None))

# the COCO recipe's pipelines (HRNet's augmentation) at 128x96
train_pipeline = [
    dict(t, encoder=codec) if t['type'] == 'GenerateTarget' else
    dict(t, input_size=codec['input_size'])
    if t['type'] == 'TopdownAffine' else t
    for t in _base_.train_dataloader.dataset.pipeline
]
val_pipeline = [
    dict(t, input_size=codec['input_size'])
    if t['type'] == 'TopdownAffine' else t
    for t in _base_.val_dataloader.dataset.pipeline
]
train_dataloader = dict(
    batch_size=16,
    num_workers=2,
    dataset=dict(
        data_root=data_root,
        ann_file='annotations/person_keypoints_train2017.json',
        data_prefix=dict(img='train2017/'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=32,
    num_workers=2,
    dataset=dict(
        data_root=data_root,
        ann_file='annotations/person_keypoints_val2017.json',
        bbox_file=data_root + 'person_detection_results/'
        'COCO_val2017_detections_AP_H_56_person.json',
        data_prefix=dict(img='val2017/'),
        pipeline=val_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root +
                     'annotations/person_keypoints_val2017.json')
test_evaluator = val_evaluator
