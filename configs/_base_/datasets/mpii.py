# MPII keypoint meta (16 keypoints, flip pairs, skeleton, sigmas): MMPose's
# own file, inherited unchanged. Configs reference it as
# `metainfo=dict(from_file='{{fileDirname}}/.../_base_/datasets/mpii.py')`,
# an absolute path once parsed, so it resolves from any working directory.
_base_ = ['mmpose::_base_/datasets/mpii.py']
