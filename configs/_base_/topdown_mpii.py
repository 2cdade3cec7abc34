# MPII, top-down, 256x256, as MMPose runs it (its HRNet-W32 MPII config:
# runtime, schedule, MPII train/val, MpiiPCKAccuracy = PCKh@0.5 with the
# head boxes of mpii_gt_val.mat, flip test with the quarter-offset shift)
# plus what every model config of this plugin adds to it: the plugin
# import, the channels_last batch and the fault tolerance of
# configs/_base_/fault_tolerance.py. Model configs inherit it and set their
# model, codec, training pipeline and optimiser.
_base_ = [
    'mmpose::body_2d_keypoint/topdown_heatmap/mpii/'
    'td-hm_hrnet-w32_8xb64-210e_mpii-256x256.py',
    './fault_tolerance.py',
]

custom_imports = dict(imports=['mmpose_ext'], allow_failed_imports=False)

model = dict(
    # same batch, stored channels_last on CPU: 1.1-1.24x faster there
    # (mmpose_ext/models/data_preprocessors, docs/benchmarks.md)
    data_preprocessor=dict(type='ChannelsLastPoseDataPreprocessor'))

train_dataloader = dict(
    dataset=dict(
        **_base_.ft_skip_bad_samples,
        dataset_type='MpiiDataset',
        # stated on the wrapper, where MMPose's init_model() looks for it
        # (an absolute path once parsed: any working directory works)
        metainfo=dict(from_file='{{fileDirname}}/datasets/mpii.py')))

default_hooks = dict(checkpoint=_base_.ft_checkpoint_hook)
train_cfg = dict(_delete_=True, **_base_.ft_train_cfg)
custom_hooks = _base_.ft_custom_hooks
