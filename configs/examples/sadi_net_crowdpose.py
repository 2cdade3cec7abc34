# SADI-Net on CrowdPose (14 keypoints), 256x192: the worked example of
# docs/custom_dataset.md. configs/sadi_net_coco.py (model, recipe, codecs,
# six-scale + flip test) with only what the keypoint set and the data set
# need changed; those live in ./_base_/crowdpose.py, shared with SG-HRNet's
# example.
#
#   python tools/train.py configs/examples/sadi_net_crowdpose.py
#   python tools/test.py configs/examples/sadi_net_crowdpose.py \
#       work_dirs/sadi_net_crowdpose/epoch_210.pth
_base_ = ['../sadi_net_coco.py', './_base_/crowdpose.py']

# K in both places: the hourglass's heatmap outputs (H_rfm) and the DLM
# head's mu/sigma regression (Linear(2048, 4K)) and flow targets
model = dict(
    backbone=dict(num_keypoints=_base_.crowdpose_num_keypoints),
    head=dict(num_keypoints=_base_.crowdpose_num_keypoints))

train_dataloader = dict(dataset=_base_.crowdpose_train_dataset)
val_dataloader = dict(dataset=_base_.crowdpose_test_dataset)
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, **_base_.crowdpose_evaluator)
test_evaluator = val_evaluator
default_hooks = dict(checkpoint=_base_.crowdpose_save_best)
