# SADI-Net loss variant: the paper's words alone, L = L_rfm + lambda * L_dlm
# with both terms MSE on heatmaps and WITHOUT the RLE likelihood (eq. 4)
# that trains mu and sigma in the default config. Then nothing trains sigma
# and the heatmap MSE gives mu a gradient only where the rendered and the
# target blobs overlap: mu does not learn from a far start
# (tests/test_models/test_heads/test_dlm_head.py). For comparison only.
_base_ = ['../sadi_net_mpii.py']

model = dict(head=dict(rle_weight=0.0))
