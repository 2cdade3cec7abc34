# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""An epoch-based training loop that resumes correctly in mid-epoch."""
from typing import Iterator, Optional

from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop
from mmpose.registry import LOOPS
from torch.utils.data import BatchSampler, Sampler

__all__ = ['ResumableEpochBasedTrainLoop']

_EPOCH_START_KEY = 'mmpose_ext_epoch_start'


class _SkipFirstSampler(Sampler):
    """Iterate ``sampler`` but drop its first ``num_skip`` indices, once.

    ``len()`` stays the wrapped sampler's, so that ``len(dataloader)`` and
    the batch indices that hooks see keep their full-epoch meaning.
    """

    def __init__(self, sampler: Sampler, num_skip: int):
        self.sampler = sampler
        self.num_skip = num_skip

    def __iter__(self) -> Iterator:
        for i, index in enumerate(self.sampler):
            if i >= self.num_skip:
                yield index

    def __len__(self) -> int:
        return len(self.sampler)


@LOOPS.register_module()
class ResumableEpochBasedTrainLoop(EpochBasedTrainLoop):
    """:class:`~mmengine.runner.EpochBasedTrainLoop` with mid-epoch resume.

    MMEngine's epoch-based loop restores ``epoch`` and ``iter`` from a
    checkpoint but always restarts the epoch at its first batch. After a
    resume from an iteration checkpoint saved in mid-epoch
    (``default_hooks.checkpoint.by_epoch=False``, the usual choice when an
    epoch takes hours), the batches of that epoch seen before the checkpoint
    are trained twice, the epoch ends ``k`` iterations late, and every later
    iteration number, schedule step and checkpoint is shifted.

    This loop skips the batches of the current epoch that the checkpoint has
    already consumed, so the resumed run sees exactly the batches (the same
    sampler order, set by the sampler's seed and the epoch) and iteration
    numbers the uninterrupted run would have seen; with deterministic data
    loading it reproduces the uninterrupted run.

    - The number of consumed batches is ``iter - (iter at the start of the
      epoch)``; the start iteration is kept in the message hub (saved in
      every checkpoint). For checkpoints of other loops it falls back to
      ``iter - epoch * len(dataloader)``.
    - With the usual :class:`~torch.utils.data.BatchSampler` the skipped
      indices are dropped at the sampler: nothing is loaded for them. Any
      other batch sampler (e.g. grouping by aspect ratio) is advanced by
      loading and discarding the batches, which is slower but exact.
    - Batch indices passed to hooks (``batch_idx``) keep counting from the
      start of the epoch, as in the uninterrupted run.

    Arguments are :class:`~mmengine.runner.EpochBasedTrainLoop`'s. In a
    config (``by_epoch`` must not be given together with ``type``)::

        train_cfg = dict(_delete_=True, type='ResumableEpochBasedTrainLoop',
                         max_epochs=210, val_interval=10)
    """

    def _batches_done_in_epoch(self) -> int:
        n = len(self.dataloader)
        info = self.runner.message_hub.get_info(_EPOCH_START_KEY)
        if info is not None and int(info[0]) == self._epoch:
            done = self._iter - int(info[1])
        else:
            done = self._iter - self._epoch * n
        if done < 0 or done > n:
            print_log(
                f'ResumableEpochBasedTrainLoop: cannot tell how many batches '
                f'of epoch {self._epoch + 1} were trained before the resume '
                f'(iter {self._iter}, {n} batches per epoch); running the '
                'whole epoch.',
                logger='current',
                level='WARNING')
            return 0
        return done

    def run_epoch(self) -> None:
        """Iterate one epoch, skipping batches a resumed checkpoint saw."""
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        skip = self._batches_done_in_epoch()
        self.runner.message_hub.update_info(_EPOCH_START_KEY,
                                            (self._epoch, self._iter - skip))

        batch_sampler = self.dataloader.batch_sampler
        patched: Optional[Sampler] = None
        if skip > 0:
            print_log(
                f'Resuming in mid-epoch: skipping the {skip} batches of epoch '
                f'{self._epoch + 1} trained before the checkpoint.',
                logger='current')
            if type(batch_sampler) is BatchSampler:
                patched = batch_sampler.sampler
                batch_sampler.sampler = _SkipFirstSampler(
                    patched, skip * batch_sampler.batch_size)
        try:
            data_iter = iter(self.dataloader)
            if skip > 0 and patched is None:
                for _ in range(skip):  # exact for any batch sampler
                    next(data_iter)
            for idx, data_batch in enumerate(data_iter, start=skip):
                self.run_iter(idx, data_batch)
        finally:
            if patched is not None:
                batch_sampler.sampler = patched

        self.runner.call_hook('after_train_epoch')
        self._epoch += 1
