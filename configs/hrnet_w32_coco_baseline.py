# HRNet-W32, 256x192, COCO: MMPose's own recipe, inherited unchanged (the
# "MMPose model zoo" reference: 74.9 AP in MMPose's zoo).
#
# What it answers: "is a model trained here as good as MMPose's HRNet-W32?"
# It is NOT the baseline for "do the SGMs help?": SG-HRNet trains with the
# paper's recipe (32 crops per step, Adam 1e-3, HRNet's augmentation), and
# its like-for-like baseline is configs/baselines/hrnet_w32_sg-recipe_coco.py.
#
# Only three things differ from MMPose's config, none of them in the math:
#   * the plugin is imported (safe checkpoint loading under torch >= 2.6);
#   * the ImageNet initialisation is `CheckedPretrained`: MMPose's
#     `Pretrained`, but when the file cannot be read (offline) training stops
#     with an error that says how to provide it, or how to opt in to HRNet's
#     random init (`model.backbone.init_cfg.allow_random_init=True`);
#   * the batch is stored channels_last on CPU, as in the SG-HRNet configs.
# Data paths are MMPose's (`data/coco/`); README.md ("Data") shows the
# --cfg-options that point the loaders and the evaluator elsewhere.
_base_ = [
    'mmpose::body_2d_keypoint/topdown_heatmap/coco/'
    'td-hm_hrnet-w32_8xb64-210e_coco-256x192.py'
]

custom_imports = dict(imports=['mmpose_ext'], allow_failed_imports=False)

model = dict(
    backbone=dict(init_cfg=dict(type='CheckedPretrained')),
    # as the SG-HRNet configs (same batch, stored channels_last on CPU), so
    # that speed comparisons are like for like
    data_preprocessor=dict(type='ChannelsLastPoseDataPreprocessor'))
