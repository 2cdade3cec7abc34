# HRNet-W32, COCO keypoints, 256x192, trained with EXACTLY the SG-HRNet
# recipe: the baseline that configs/sg_hrnet_w32_coco.py is compared with.
# SG-HRNet inherits this file and adds only the segmentation guided modules
# and the segmentation loss (tests/test_configs/test_sg_hrnet_configs.py
# compares the two key by key).
#
# What it answers: "do the SGMs help?" (same data, augmentation, optimiser,
# batch, schedule, init, heatmaps, flip test, data wrapper). For "is our
# SG-HRNet as good as MMPose's model zoo HRNet?" use
# configs/hrnet_w32_coco_baseline.py, MMPose's own recipe (batch 8 x 64,
# lr 5e-4, MMPose's augmentation).
#
# MMPose's HRNet-W32 COCO config (model, codec, COCO val with the person
# detection file, CocoMetric, flip test with the quarter-offset shift,
# schedule; configs/_base_/topdown_coco.py, with fault tolerance) + the
# paper's recipe (configs/_base_/sg_recipe.py).
#
#   mim train mmpose configs/baselines/hrnet_w32_sg-recipe_coco.py
_base_ = ['../_base_/topdown_coco.py', '../_base_/sg_recipe.py']

# runtime: Adam 1e-3, 32 crops per step (schedule inherited)
optim_wrapper = dict(optimizer=_base_.sgr_optimizer)
auto_scale_lr = dict(base_batch_size=_base_.sgr_batch_size)

model = dict(backbone=dict(init_cfg=_base_.sgr_backbone_init))

# HRNet's COCO augmentation: flip, half body (p 0.3, as MMPose's
# RandomHalfBody default and HRNet's PROB_HALF_BODY), rotation and scale
# with HRNet's spreads, no box shift (configs/_base_/sg_recipe.py)
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='RandomHalfBody'),
    _base_.sgr_coco_bbox_transform,
    dict(type='TopdownAffine', input_size=_base_.codec['input_size']),
    dict(type='GenerateTarget', encoder=_base_.codec),
    dict(type='PackPoseInputs'),
]
train_dataloader = dict(
    batch_size=_base_.sgr_batch_size, dataset=dict(pipeline=train_pipeline))
