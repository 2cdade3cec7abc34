# Fault tolerance of every model config (docs/reliability.md), applied by
# the dataset bases configs/_base_/topdown_{coco,mpii}.py. Every name is
# prefixed `ft_` because MMEngine forbids a key defined in two bases.

# Checkpoints written to a temporary file, fsync-ed, then renamed; the
# `last_checkpoint` pointer moves only after that (CheckpointHook's args
# apply): every 10 epochs and the last one (the tables report the final
# model), plus the best on the val set (MMPose's `save_best`, never used
# for reporting).
ft_checkpoint_hook = dict(
    type='AtomicCheckpointHook', interval=10, save_last=True)
# Resuming from a checkpoint saved in mid-epoch skips the batches already
# trained in that epoch (MMEngine's loop would train them twice).
ft_train_cfg = dict(
    type='ResumableEpochBasedTrainLoop', max_epochs=210, val_interval=10)
ft_custom_hooks = [
    dict(type='SyncBuffersHook'),  # MMPose's default, kept
    dict(type='BadSampleHook'),  # per-epoch count of skipped bad samples
    dict(type='NonFiniteLossHook', max_consecutive=5),  # NaN/Inf losses
    # warns when processes x batch differs from the recipe's total batch
    # (auto_scale_lr.base_batch_size); lets an offline node resume
    dict(type='RecipeCheckHook'),
]
# Training data sets are wrapped so that a broken sample (unreadable image,
# NaN/inf values, zero-area box, wrong keypoint count) is skipped with a
# warning naming file and annotation id (strict=True raises instead); valid
# data trains exactly as MMPose's own data set yields it.
ft_skip_bad_samples = dict(type='SkipBadSamples', strict=False)
