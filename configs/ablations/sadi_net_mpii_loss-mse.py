# SADI-Net loss ablation (paper Table V, "original MSE loss", 89.3 PCKh@0.5
# in the paper): the full model trained with L = L_rfm only (lambda_dlm =
# 0). The SFM and the DLM then get no gradient (and are not run in
# training); evaluation predicts from H_rfm as always.
_base_ = ['../sadi_net_mpii.py']

model = dict(head=dict(lambda_dlm=0.0, rle_weight=0.0))
# the SFM/DLM parameters are unused in training: let DDP know
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=True)
