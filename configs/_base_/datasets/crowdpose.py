# CrowdPose keypoint meta (14 keypoints: 12 limb joints + top_head + neck;
# flip pairs from `swap`, skeleton, joint weights, OKS sigmas): MMPose's own
# file, inherited unchanged. Configs reference it as `metainfo=dict(
# from_file='{{fileDirname}}/.../_base_/datasets/crowdpose.py')`, an
# absolute path once parsed, so it resolves from any working directory
# (configs/examples/, docs/custom_dataset.md).
_base_ = ['mmpose::_base_/datasets/crowdpose.py']
