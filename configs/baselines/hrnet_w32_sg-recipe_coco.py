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
# schedule) + the paper's recipe (configs/_base_/sg_recipe.py) + fault
# tolerance (configs/_base_/fault_tolerance.py).
#
#   mim train mmpose configs/baselines/hrnet_w32_sg-recipe_coco.py
_base_ = [
    'mmpose::body_2d_keypoint/topdown_heatmap/coco/'
    'td-hm_hrnet-w32_8xb64-210e_coco-256x192.py',
    '../_base_/sg_recipe.py',
    '../_base_/fault_tolerance.py',
]

custom_imports = dict(imports=['mmpose_ext'], allow_failed_imports=False)

# runtime: Adam 1e-3, 32 crops per step (schedule inherited)
optim_wrapper = dict(optimizer=_base_.sgr_optimizer)
auto_scale_lr = dict(base_batch_size=_base_.sgr_batch_size)

model = dict(
    # same batch, stored channels_last on CPU: 1.1-1.24x faster there
    # (mmpose_ext/models/data_preprocessors, docs/benchmarks.md)
    data_preprocessor=dict(type='ChannelsLastPoseDataPreprocessor'),
    backbone=dict(init_cfg=_base_.sgr_backbone_init))

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
    batch_size=_base_.sgr_batch_size,
    dataset=dict(
        **_base_.ft_skip_bad_samples,  # fault tolerance
        dataset_type='CocoDataset',
        # stated on the wrapper, where MMPose's init_model() looks for it
        # (an absolute path once parsed: any working directory works)
        metainfo=dict(from_file='{{fileDirname}}/../_base_/datasets/coco.py'),
        pipeline=train_pipeline))

# fault tolerance (docs/reliability.md) and the checkpoints the tables use
default_hooks = dict(
    checkpoint=dict(type=_base_.ft_checkpoint_hook_type,
                    **_base_.sgr_checkpoint))
train_cfg = dict(
    _delete_=True, type=_base_.ft_train_loop, max_epochs=210, val_interval=10)
custom_hooks = _base_.ft_custom_hooks
