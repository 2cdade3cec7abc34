# Shared pieces of the SADI-Net configs (sadi_net_mpii.py, sadi_net_lsp.py,
# sadi_net_coco.py and configs/ablations/sadi_net_*). Inherited next to one
# of MMPose's own configs, so every name here is new (prefixed `sadi_`):
# MMEngine forbids a key defined in two bases. The main configs pick these
# up as `_base_.sadi_*`.
#
# Paper: Gao et al., "Spatial Attention-based Distribution Integration
# Network for Human Pose Estimation" (SADI-Net), IEEE Access 2023,
# arXiv 2311.05323. Choices the extracted paper leaves open are marked
# "(choice)" and documented in docs/sadi_net.md.

# Backbone: stacked hourglass of Receptive Fortified Modules (basic block +
# parallel dilated conv3x3 + SE). The number of stacks and the per-scale
# widths are not given in the paper (choice): 2 stacks, depth 3, the four
# decoder scales 1/4..1/32 with the 64/128/256/512 channels the paper's SFM
# takes as input. `num_keypoints` is set by each main config.
sadi_backbone = dict(
    type='RFMHourglassNet',
    num_stacks=2,
    downsample_times=3,
    stage_channels=(64, 128, 256, 512),
    stage_blocks=(1, 1, 1, 1),
    stem_channels=64,
    block='rfm',  # 'basic' = the paper's Hourglass baseline
    block_cfg=dict(dilation=2, se_ratio=16),  # dilation 2 (choice)
    num_out_scales=4)

# Neck: global attention (softmax over scales) + local attention (softmax
# along the columns, rescaled to mean 1 (choice)) + HRNet classification
# head (128/256/512/1024 -> 2048 -> pooled vector).
sadi_neck = dict(
    type='SpatialFusionModule',
    in_channels=(64, 128, 256, 512),
    fuse_channels=256,
    head_channels=(128, 256, 512, 1024),
    out_channels=2048,
    with_global_attn=True,
    global_residual=True,
    with_local_attn=True,
    local_softmax_dim='h',
    local_rescale=True)

# Head: L = L_rfm + lambda * L_dlm (both MSE on heatmaps). The paper's
# lambda is lost; 0.1 (choice, measured): on generated MPII data
# (`tools/benchmark.py learn`, width 16, 500 iterations) lambda = 0 / 0.1 /
# 0.3 / 1 gave PCKh 65.6 / 64.0 / 56.6 / 41.3 (seed 0): the DLM gradient
# through the shared hourglass slows H_rfm's learning, and lambda = 1 (the
# two terms at equal magnitude) cost 12-23 points. docs/sadi_net.md.
# The flow density is rendered through a lattice
# (exact up to bilinear interpolation, ~1/16 of a sigma step); prediction
# from H_rfm. `num_keypoints` and `decoder` are set by each main config.
sadi_head = dict(
    type='DLMHead',
    in_channels=2048,
    with_dlm=True,
    lambda_dlm=0.1,
    dlm_target='gt',
    rle_weight=0.0,
    q_distribution='gaussian',
    render_mode='lattice',
    predict_from='heatmap',
    loss=dict(type='KeypointMSELoss', use_target_weight=True))

# Test: flip + an image pyramid of six scales (the paper's six values are
# lost; these are the usual 0.75..1.5 range, all multiples of 32 at 256).
sadi_scales = (0.75, 0.875, 1.0, 1.125, 1.25, 1.5)
sadi_test_cfg = dict(
    flip_test=True,
    flip_mode='heatmap',
    shift_heatmap=True,
    multiscale_test=dict(scales=sadi_scales, mode='resize', size_divisor=32))

# Training recipe of the paper: Adam, lr 1e-3, x0.1 at epochs 170 and 200
# (MMPose's MultiStepLR, inherited), 210 epochs; random rotation, scaling
# and flipping (the ranges are lost: Newell's hourglass recipe, +-30 degrees
# and scale 0.75-1.25, is used (choice)). Batch size: not given (choice 32).
sadi_optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3))
sadi_batch_size = 32
sadi_random_bbox_transform = dict(
    type='RandomBBoxTransform', scale_factor=(0.75, 1.25), rotate_factor=30.0)
