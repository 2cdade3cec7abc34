# SG-HRNet-W32 on COCO without dynamic weight averaging: the two losses are
# combined with fixed weights, L = L_key + lambda * L_seg (DWAMultiTaskLoss
# mode='fixed'). Everything else as configs/sg_hrnet_w32_coco.py; compared
# with it, this isolates what DWA contributes.
_base_ = ['../sg_hrnet_w32_coco.py']

model = dict(head=dict(multi_task_loss=dict(mode='fixed')))
