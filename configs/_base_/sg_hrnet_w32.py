# Shared pieces of the SG-HRNet-W32 configs (sg_hrnet_w32_coco.py and
# sg_hrnet_w32_mpii.py). Inherited next to MMPose's own HRNet-W32 config, so
# every name here is new (prefixed `sg_`): MMEngine forbids a key defined in
# two bases. The main configs pick these up as `_base_.sg_*`.
#
# Paper: Tang et al., "Segmentation Guided Attention Networks for Human Pose
# Estimation", Traitement du Signal 41(5), 2024 (SG-HRNet).

# Backbone: HRNet-W32 (the `extra` and the ImageNet init come from MMPose's
# config) plus four segmentation guided modules: on the high-resolution
# branch of stages 2, 3 and 4 (before each stage's final fusion) and on the
# fused stage-4 output. `OptionalPretrained` = MMPose's `Pretrained` when the
# ImageNet file can be read or downloaded (as in configs/
# hrnet_w32_coco_baseline.py); offline it logs a warning and keeps the
# random init. Set `model.backbone.init_cfg=None` to skip it.
sg_backbone = dict(
    type='SGHRNet',
    sgm_stages=(2, 3, 4),
    final_sgm=True,
    sgm_position='pre_fuse',
    init_cfg=dict(type='OptionalPretrained'))

# Dynamic weight averaging as in the paper: per iteration, T = 1.
# (MTAN's variant: mode='epoch', temperature=2.0.) The segmentation scale
# lambda depends on the heatmap size (the BCE is summed over pixels), so each
# main config sets `task_scales`.
sg_multi_task_loss = dict(
    type='DWAMultiTaskLoss',
    task_names=('kpt', 'seg'),
    mode='iter',
    temperature=1.0)

# Disk radius of the segmentation target, in heatmap pixels (paper: 5; its
# ablation: 3, 5, 9).
sg_disk_radius = 5

# Training recipe of the paper (HRNet's): Adam, lr 1e-3, x0.1 at epochs 170
# and 200 (MMPose's MultiStepLR, inherited), 210 epochs, 32 crops per
# iteration; rotation within +-45 degrees, scale within [0.65, 1.35]
# (MMPose samples both from a truncated normal on exactly these ranges),
# horizontal flip.
sg_optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3))
sg_batch_size = 32
sg_random_bbox_transform = dict(
    type='RandomBBoxTransform', scale_factor=(0.65, 1.35), rotate_factor=45.0)
