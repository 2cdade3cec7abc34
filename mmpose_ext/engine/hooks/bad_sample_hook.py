# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Count the bad samples :class:`SkipBadSamples` skipped, per epoch."""
import logging
from collections import Counter
from typing import List, Optional

from mmengine import dist
from mmengine.hooks import CheckpointHook, Hook
from mmengine.logging import print_log
from mmpose.registry import HOOKS

from mmpose_ext.datasets.robust_dataset import BAD_SAMPLES_KEY, SkipBadSamples

__all__ = ['BadSampleHook', 'find_skip_bad_samples']

DATA_BATCH = Optional[dict]
# the bad samples of the current epoch so far, saved with each checkpoint
_IN_EPOCH_KEY = 'bad_samples_in_epoch'


def _checkpoint_follows(runner) -> bool:
    """Whether a CheckpointHook saves an iteration checkpoint after the
    current iteration (the same test as its ``after_train_iter``)."""
    for hook in runner.hooks:
        if (isinstance(hook, CheckpointHook) and not hook.by_epoch
                and hook.interval > 0 and
            (hook.every_n_train_iters(runner, hook.interval, hook.save_begin)
             or (hook.save_last and hook.is_last_train_iter(runner)))):
            return True
    return False


def find_skip_bad_samples(dataset) -> Optional[SkipBadSamples]:
    """The :class:`SkipBadSamples` in a chain of data set wrappers."""
    seen = 0
    while dataset is not None and seen < 16:
        if isinstance(dataset, SkipBadSamples):
            return dataset
        dataset = getattr(dataset, 'dataset', None)
        seen += 1
    return None


def _reports(data_batch: DATA_BATCH) -> List[dict]:
    out: List[dict] = []
    if not isinstance(data_batch, dict):
        return out
    for sample in data_batch.get('data_samples') or []:
        meta = getattr(sample, 'metainfo', None)
        if meta and meta.get(BAD_SAMPLES_KEY):
            out.extend(meta[BAD_SAMPLES_KEY])
    out.extend(data_batch.get(BAD_SAMPLES_KEY) or [])
    return out


@HOOKS.register_module()
class BadSampleHook(Hook):
    """Log how many bad samples each training epoch skipped.

    :class:`~mmpose_ext.datasets.SkipBadSamples` reports the samples it
    could not load through the sample that replaced them, so the counts are
    exact whatever the number of dataloader workers. At the end of each epoch
    this hook sums them over the ranks and logs, on rank 0, e.g.::

        Epoch 3: 2 bad samples skipped while loading (all ranks; load_error:
        2); 5 bad annotations left out when the data set was built.

    and keeps ``bad_samples_last_epoch`` and ``bad_samples_total`` (summed
    over ranks) in the message hub's runtime information (saved in
    checkpoints, so the total survives a resume).

    Args:
        log_each (bool): Also log each skipped sample again (file, annotation
            id, reason) in the epoch summary. Defaults to False (the data
            set already warned when it skipped them).
    """

    priority = 'NORMAL'

    def __init__(self, log_each: bool = False):
        self.log_each = log_each
        self.epoch_reports: List[dict] = []
        self.total = 0

    def before_train(self, runner) -> None:
        """Restore the total of a resumed run; warn if nothing is wrapped."""
        self.total = int(
            runner.message_hub.get_info('bad_samples_total', 0) or 0)
        ds = find_skip_bad_samples(runner.train_dataloader.dataset)
        if ds is None:
            print_log(
                'BadSampleHook: the training data set is not wrapped in '
                'SkipBadSamples, so bad samples are not skipped nor counted; '
                "use dataset=dict(type='SkipBadSamples', dataset_type=...)",
                logger='current',
                level=logging.WARNING)

    def before_train_epoch(self, runner) -> None:
        """Start the epoch's list; after a mid-epoch resume, with what the
        checkpoint's part of the epoch skipped (on every rank, whatever the
        number of processes then and now)."""
        self.epoch_reports = []
        saved = runner.message_hub.get_info(_IN_EPOCH_KEY)
        if saved is not None and int(saved['epoch']) == runner.epoch:
            self.epoch_reports = [
                dict(index=index, kind=kind)
                for index, kind in saved['samples'].items()
            ]

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: DATA_BATCH = None,
                         outputs: Optional[dict] = None) -> None:
        """Collect the batch's reports; before an iteration checkpoint,
        merge the ranks' reports into the message hub so that they are
        saved with it."""
        self.epoch_reports.extend(_reports(data_batch))
        if _checkpoint_follows(runner):
            runner.message_hub.update_info(
                _IN_EPOCH_KEY,
                dict(epoch=runner.epoch, samples=self._merged()))

    def _merged(self) -> dict:
        """The epoch's distinct bad samples of all ranks, ``{index:
        kind}`` (a collective: every rank must call it)."""
        # distinct samples (a sample can be met twice in an epoch, e.g. by
        # two dataloader workers, or as a substitute's neighbour)
        local = {
            r.get('index', i): r.get('kind', 'load_error')
            for i, r in enumerate(self.epoch_reports)
        }
        merged = {}
        if dist.is_distributed():
            for part in dist.all_gather_object(local):
                merged.update(part)
        else:
            merged = local
        return merged

    def after_train_epoch(self, runner) -> None:
        """Gather the epoch's bad samples from all ranks and log them."""
        merged = self._merged()
        runner.message_hub.update_info(_IN_EPOCH_KEY, None)
        num = len(merged)
        by_kind = dict(Counter(merged.values()))
        self.total += num
        runner.message_hub.update_info('bad_samples_last_epoch', num)
        runner.message_hub.update_info('bad_samples_total', self.total)
        ds = find_skip_bad_samples(runner.train_dataloader.dataset)
        excluded = len(ds.excluded) if ds is not None else 0
        msg = (f'Epoch {runner.epoch + 1}: {num} bad samples skipped while '
               f'loading (all ranks; {by_kind or "none"}); {excluded} bad '
               'annotations left out when the data set was built.')
        if self.log_each and self.epoch_reports:
            msg += ' This rank skipped: ' + '; '.join(
                f'id={r.get("ann_id")} "{r.get("file")}": {r.get("reason")}'
                for r in self.epoch_reports)
        print_log(
            msg,
            logger='current',
            level=logging.WARNING if num else logging.INFO)
        self.epoch_reports = []
