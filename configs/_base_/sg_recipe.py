# The SG-HRNet paper's training recipe (Tang et al., Traitement du Signal
# 41(5), 2024, section 4.3), shared by the SG-HRNet configs and their
# same-recipe HRNet-W32 baselines (configs/baselines/hrnet_w32_sg-recipe_*).
# The paper's recipe words are HRNet's (Sun et al. 2019); where they are
# vague, HRNet's code (leoxiaobin/deep-high-resolution-net.pytorch,
# lib/dataset/JointsDataset.py and experiments/*/hrnet/w32_*.yaml) decides.
# Names are prefixed `sgr_`: MMEngine forbids a key defined in two bases.

# Adam, lr 1e-3, 32 crops per optimiser step in total (HRNet's code: no
# weight decay with Adam). The schedule (x0.1 at epochs 170 and 200, 210
# epochs) and MMPose's 500-iteration linear warm-up are inherited from
# MMPose's HRNet-W32 configs. On N GPUs keep the total at 32:
# train_dataloader.batch_size = 32 / N (RecipeCheckHook warns otherwise).
sgr_optimizer = dict(type='Adam', lr=1e-3)
sgr_batch_size = 32

# ImageNet-pretrained HRNet-W32 (the paper's "pretrain: Y"). If it cannot be
# read (offline, wrong path) training stops before the first iteration and
# says how to provide it; `model.backbone.init_cfg.allow_random_init=True`
# opts in to HRNet's own random initialisation instead.
sgr_backbone_init = dict(
    type='CheckedPretrained',
    checkpoint='https://download.openmmlab.com/mmpose/'
    'pretrain_models/hrnet_w32-36af842e.pth')

# Augmentation as HRNet's code draws it (the paper repeats HRNet's words
# "rotation +-45, scale 0.65-1.35"):
#   scale  s ~ clip(N(1, sf), 1 - sf, 1 + sf)                      (always)
#   rotate r ~ clip(N(0, rf), -2 rf, 2 rf) with probability 0.6, else 0
# with (rf, sf) = (45, 0.35) for COCO and (30, 0.25) for MPII, no box
# shift. MMPose's RandomBBoxTransform draws truncnorm(-1, 1) * factor
# instead (std 0.5396 factor), so passing 45 and (0.65, 1.35) to it would
# HALVE the spread. The factors below give the same standard deviations as
# HRNet's clipped normals (std of clip(N(0,1), -a, a): 0.7184 for a = 1,
# 0.9594 for a = 2):
#   rotate_factor = rf * 0.9594 / 0.5396,
#   scale_factor  = 1 -+ sf * 0.7184 / 0.5396
# COCO: 80.0 and (0.534, 1.466), MMPose's own HRNet defaults within 7% (80,
# (0.5, 1.5)); MPII: 53.3 and (0.667, 1.333). tests/test_configs checks the
# sampled spreads against HRNet's formula.
sgr_coco_bbox_transform = dict(
    type='RandomBBoxTransform',
    rotate_factor=80.0,
    rotate_prob=0.6,
    scale_factor=(0.534, 1.466),
    scale_prob=1.0,
    shift_prob=0)  # HRNet has no box shift (MMPose's default: p 0.3)
sgr_mpii_bbox_transform = dict(
    type='RandomBBoxTransform',
    rotate_factor=53.3,
    rotate_prob=0.6,
    scale_factor=(0.667, 1.333),
    scale_prob=1.0,
    shift_prob=0)
