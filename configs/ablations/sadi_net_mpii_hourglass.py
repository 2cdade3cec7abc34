# SADI-Net ablation (paper Table III, "Hourglass", 88.9 PCKh@0.5 in the
# paper): the same stacked hourglass built from plain basic blocks, no SFM,
# no DLM; the head only supervises the per-stack heatmaps (MSE).
# Everything else (data, recipe, flip + six-scale test) as
# configs/sadi_net_mpii.py.
_base_ = ['../sadi_net_mpii.py']

model = dict(
    backbone=dict(block='basic'), neck=None, head=dict(with_dlm=False))
