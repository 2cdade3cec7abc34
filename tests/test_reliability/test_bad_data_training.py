# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Training SG-HRNet on a data set with 3 broken images and 8 broken
annotations (2 dataloader workers): the epoch completes, every bad sample
is skipped and the end-of-epoch count is exact, and the valid edge cases
(all keypoints invisible, a visible keypoint outside the image, a box partly
outside the image) are trained on, not skipped."""
import logging
import math

from mmengine.logging import MMLogger

from mmpose_ext.devkit.testing import corrupt_coco_dataset
from .conftest import tiny_sg_hrnet_cfg


class Capture(logging.Handler):

    def __init__(self):
        super().__init__(logging.INFO)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_training_skips_and_counts_bad_samples(repo_root, synthetic_coco,
                                               tmp_path):
    from mmengine.runner import Runner
    root = str(tmp_path / 'coco')
    faults = corrupt_coco_dataset(synthetic_coco, root)
    cfg = tiny_sg_hrnet_cfg(
        repo_root,
        root,
        tmp_path / 'work',
        max_epochs=1,
        ckpt_interval=100,
        batch_size=3,
        robust_data=True)
    cfg.train_dataloader.num_workers = 2
    cfg.train_dataloader.persistent_workers = False
    runner = Runner.from_cfg(cfg)
    handler = Capture()
    MMLogger.get_current_instance().addHandler(handler)
    try:
        runner.train()
    finally:
        MMLogger.get_current_instance().removeHandler(handler)
    msgs = handler.messages
    n_img = len(faults['image_fault_ann_ids'])
    n_ann = len(faults['ann_faults'])
    assert (n_img, n_ann) == (4, 8)
    # 18 annotations - 8 broken - 1 unlabelled = 9 samples (4 of them on
    # the broken images, replaced when loaded), batch 3 -> 3 iterations
    ds = runner.train_dataloader.dataset
    ids = {ds.get_data_info(i)['id'] for i in range(len(ds))}
    assert len(ds) == 9
    assert ids == set(faults['good_ann_ids']) | set(
        faults['image_fault_ann_ids']) | set(faults['valid_edge_cases'])
    assert runner.iter == 3 and runner.epoch == 1
    summary = [m for m in msgs if m.startswith('Epoch 1: ')]
    assert summary == [
        f"Epoch 1: {n_img} bad samples skipped while loading (all ranks; "
        f"{{'load_error': {n_img}}}); {n_ann} bad annotations left out "
        'when the data set was built.'
    ]
    assert runner.message_hub.get_info('bad_samples_total') == n_img
    # the warnings came from the worker processes too: the main process
    # logged the annotation faults; the counts reached it through batches
    for ann_id in faults['ann_faults']:
        assert any(f'annotation id={ann_id} ' in m for m in msgs)
    # the valid edge cases were trained on: never named as bad, and no
    # iteration had a non-finite loss (an all-invisible person has zero
    # keypoint weights, a keypoint outside the image none in the heatmap)
    for ann_id in faults['valid_edge_cases']:
        assert not any(f'id={ann_id} ' in m for m in msgs), ann_id
    assert not any('Non-finite' in m for m in msgs)
    losses = runner.message_hub.get_scalar('train/loss').data[0]
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses)
