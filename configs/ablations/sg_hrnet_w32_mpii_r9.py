# SG-HRNet-W32 on MPII with a disk radius of 9 heatmap pixels (the paper's
# radius ablation, its table 3: r=3 / 5 / 9 give 90.4 / 90.6 / 90.3
# PCKh@0.5). Everything else as configs/sg_hrnet_w32_mpii.py (r=5). Same as
#   --cfg-options train_dataloader.dataset.pipeline.5.encoder.disk_radius=9
_base_ = ['../sg_hrnet_w32_mpii.py']

train_dataloader = dict(
    dataset=dict(pipeline=[
        dict(t, encoder=dict(t['encoder'], disk_radius=9)) if t['type'] ==
        'GenerateTarget' else t
        for t in _base_.train_dataloader.dataset.pipeline
    ]))
