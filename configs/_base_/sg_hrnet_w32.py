# The SG-HRNet model pieces (Tang et al., "Segmentation Guided Attention
# Networks for Human Pose Estimation", Traitement du Signal 41(5), 2024),
# added by configs/sg_hrnet_w32_{coco,mpii}.py to their same-recipe HRNet-W32
# baselines (configs/baselines/). Names are prefixed `sg_`: MMEngine forbids
# a key defined in two bases.

# Backbone: HRNet-W32 (`extra` and the ImageNet init come from the
# baseline) plus four segmentation guided modules: on the high-resolution
# branch of stages 2, 3 and 4 (before each stage's final fusion) and on the
# fused stage-4 output.
sg_backbone = dict(
    type='SGHRNet',
    sgm_stages=(2, 3, 4),
    final_sgm=True,
    sgm_position='pre_fuse')

# Dynamic weight averaging as in the paper: per iteration, T = 1.
# (MTAN's variant: mode='epoch', temperature=2.0; no DWA: mode='fixed'.)
# The segmentation scale lambda depends on the heatmap size (the BCE is
# summed over pixels), so each main config sets `task_scales`.
sg_multi_task_loss = dict(
    type='DWAMultiTaskLoss',
    task_names=('kpt', 'seg'),
    mode='iter',
    temperature=1.0)

# The segmentation loss: element-wise BCE on the SGM logits, summed over
# the pixels of each map (eq. 6; SGHeatmapHead)
sg_loss_seg = dict(type='BCELoss', reduction='none')

# Disk radius of the segmentation target, in heatmap pixels (paper: 5; its
# ablation: 3, 5, 9).
sg_disk_radius = 5
