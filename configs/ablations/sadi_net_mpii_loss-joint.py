# SADI-Net loss ablation (paper Table V, the proposed loss, 90.1 PCKh@0.5
# in the paper): L = L_rfm + lambda * L_dlm, with the DLM's mean and scale
# trained by the RLE likelihood of its eq. 4. Identical to
# configs/sadi_net_mpii.py (spelled out so the loss variants sit side by
# side with configs/ablations/sadi_net_mpii_loss-mse.py).
_base_ = ['../sadi_net_mpii.py']
