# SADI-Net ablation (paper Table IV, "Hourglass+SPMDFM" = Hourglass + SFM +
# DLM, 89.7 PCKh@0.5 in the paper): basic-block hourglass with the Spatial
# Fusion Module neck and the Distribution Learning Module head.
_base_ = ['../sadi_net_mpii.py']

model = dict(backbone=dict(block='basic'))
