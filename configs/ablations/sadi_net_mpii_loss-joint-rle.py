# SADI-Net loss variant (not in the paper's tables; an option of this
# implementation): L = L_rfm + lambda * L_dlm + w * RLE negative
# log-likelihood of the ground truth under (mu, sigma, flow), so the flow
# also learns the residual distribution directly as in RLE (the paper's
# eq. 4). w = 1e-3 keeps the likelihood term (O(1..10) per sample) from
# dominating the mean-reduced heatmap MSE (O(1e-3)) (choice).
_base_ = ['../sadi_net_mpii.py']

model = dict(head=dict(lambda_dlm=0.1, dlm_target='gt', rle_weight=1e-3))
