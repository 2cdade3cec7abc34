# SADI-Net loss ablation (paper Table V, the proposed loss, 90.1 PCKh@0.5
# in the paper): L = L_rfm + lambda * L_dlm with both terms MSE on
# heatmaps. Identical to configs/sadi_net_mpii.py (spelled out so the two
# loss variants sit side by side).
_base_ = ['../sadi_net_mpii.py']

model = dict(head=dict(lambda_dlm=0.1, dlm_target='gt', rle_weight=0.0))
