# HRNet-W32, MPII, 256x256, trained with EXACTLY the SG-HRNet recipe: the
# baseline that configs/sg_hrnet_w32_mpii.py is compared with. SG-HRNet
# inherits this file and adds only the segmentation guided modules and the
# segmentation loss (tests/test_configs/test_sg_hrnet_configs.py compares
# the two key by key). configs/baselines/hrnet_w32_sg-recipe_coco.py says
# which comparison each baseline answers.
#
# MMPose's HRNet-W32 MPII config (model, codec, PCKh@0.5 with the head
# boxes of mpii_gt_val.mat, flip test with the quarter-offset shift,
# schedule; configs/_base_/topdown_mpii.py, with fault tolerance) + the
# paper's recipe (configs/_base_/sg_recipe.py).
#
#   mim train mmpose configs/baselines/hrnet_w32_sg-recipe_mpii.py
_base_ = ['../_base_/topdown_mpii.py', '../_base_/sg_recipe.py']

# runtime: Adam 1e-3, 32 crops per step (schedule inherited)
optim_wrapper = dict(optimizer=_base_.sgr_optimizer)
auto_scale_lr = dict(base_batch_size=_base_.sgr_batch_size)

model = dict(backbone=dict(init_cfg=_base_.sgr_backbone_init))

# HRNet's MPII augmentation (its w32_256x256 experiment: rotation factor 30,
# scale factor 0.25, no half body, no box shift; configs/_base_/sg_recipe.py)
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    _base_.sgr_mpii_bbox_transform,
    dict(type='TopdownAffine', input_size=_base_.codec['input_size']),
    dict(type='GenerateTarget', encoder=_base_.codec),
    dict(type='PackPoseInputs'),
]
train_dataloader = dict(
    batch_size=_base_.sgr_batch_size, dataset=dict(pipeline=train_pipeline))
