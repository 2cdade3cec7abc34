# SG-HRNet-W32, COCO keypoints, 256x192 (Tang et al., Traitement du Signal
# 41(5), 2024): HRNet-W32 + segmentation guided modules + disk-mask
# supervision + dynamic weight averaging.
#
# = configs/baselines/hrnet_w32_sg-recipe_coco.py (MMPose's HRNet-W32 COCO
# config with the paper's recipe: Adam 1e-3, 32 crops per step, HRNet's
# augmentation, ImageNet init, COCO val with the person detection file,
# CocoMetric, flip test with the quarter-offset shift) + the SG-HRNet model
# pieces (configs/_base_/sg_hrnet_w32.py). Nothing else differs from the
# baseline (a test compares the two configs key by key).
#
#   mim train mmpose configs/sg_hrnet_w32_coco.py        (PYTHONPATH=. or
#   python tools/train.py configs/sg_hrnet_w32_coco.py    pip install -e .)
#
# Disk radius ablation (3/5/9 heatmap pixels), one option away:
#   --cfg-options train_dataloader.dataset.pipeline.6.encoder.disk_radius=9
_base_ = [
    './baselines/hrnet_w32_sg-recipe_coco.py',
    './_base_/sg_hrnet_w32.py',
]

# codec: the baseline's MSRA heatmaps (sigma 2, zero outside +-3 sigma,
# identical values) + the disk mask of the segmentation target
codec = dict(
    _base_.codec, type='DiskSegHeatmap', disk_radius=_base_.sg_disk_radius)

model = dict(
    backbone=_base_.sg_backbone,
    head=dict(
        type='SGHeatmapHead',
        loss_seg=_base_.sg_loss_seg,
        # lambda = 1.6e-6: lambda * L_seg (BCE summed over the 64x48 pixels,
        # 2128 at init) starts at MMPose's mean-reduced MSE (3.5e-3 at init),
        # measured on generated data (see SGHeatmapHead, docs/sg_hrnet.md)
        multi_task_loss=dict(
            **_base_.sg_multi_task_loss, task_scales=(1.0, 1.6e-6)),
        decoder=codec))

# the baseline's training pipeline, encoding with the codec above
train_dataloader = dict(
    dataset=dict(pipeline=[
        dict(t, encoder=codec) if t['type'] == 'GenerateTarget' else t
        for t in _base_.train_dataloader.dataset.pipeline
    ]))
