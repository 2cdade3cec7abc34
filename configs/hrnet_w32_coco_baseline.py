# HRNet-W32, 256x192, COCO: MMPose's own recipe, inherited unchanged.
#
# The baseline that SG-HRNet (configs/sg_hrnet_w32_coco.py) is compared with.
# Only three things differ from MMPose's config, none of them in the math:
#   * the plugin is imported (safe checkpoint loading under torch >= 2.6);
#   * the ImageNet initialisation is `OptionalPretrained`: identical to
#     `Pretrained` when the file can be read or downloaded, and a logged
#     warning plus random init when the machine is offline;
#   * the batch is stored channels_last on CPU, as in the SG-HRNet configs.
# Data paths are MMPose's (`data/coco/`); README.md ("Data") shows the
# --cfg-options that point the loaders and the evaluator elsewhere.
_base_ = [
    'mmpose::body_2d_keypoint/topdown_heatmap/coco/'
    'td-hm_hrnet-w32_8xb64-210e_coco-256x192.py'
]

custom_imports = dict(imports=['mmpose_ext'], allow_failed_imports=False)

model = dict(
    backbone=dict(init_cfg=dict(type='OptionalPretrained')),
    # as the SG-HRNet configs (same batch, stored channels_last on CPU), so
    # that speed comparisons are like for like
    data_preprocessor=dict(type='ChannelsLastPoseDataPreprocessor'))
