# SADI-Net ablation (paper Table III, "RFM", 89.6 PCKh@0.5 in the paper):
# the stacked hourglass with Receptive Fortified Modules, no SFM, no DLM;
# the head only supervises the per-stack heatmaps (MSE).
_base_ = ['../sadi_net_mpii.py']

model = dict(backbone=dict(block='rfm'), neck=None, head=dict(with_dlm=False))
