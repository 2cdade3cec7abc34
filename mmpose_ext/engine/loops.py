# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""An epoch-based training loop that resumes correctly in mid-epoch, also on
another number of processes."""
import math
from typing import Iterator, List, Optional

import torch
from mmengine.dataset import DefaultSampler
from mmengine.dist import get_dist_info
from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop
from mmpose.registry import LOOPS
from torch.utils.data import BatchSampler, Sampler

from .runner_check import check_training_setup

__all__ = ['ResumableEpochBasedTrainLoop', 'EpochResumeError']

# (epoch, iter at the epoch's start): written by earlier versions
_EPOCH_START_KEY = 'mmpose_ext_epoch_start'
# the current epoch's progress record (see ResumableEpochBasedTrainLoop)
_PROGRESS_KEY = 'mmpose_ext_epoch_progress'


class EpochResumeError(RuntimeError):
    """The remaining samples of an interrupted epoch cannot be recomputed."""


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


class _RemainderSampler(Sampler):
    """This rank's share of the samples an interrupted epoch has left.

    ``remaining`` (global data set indices, in the epoch's order) is split
    across the ranks the way :class:`~mmengine.dataset.DefaultSampler`
    splits a whole epoch: rank ``r`` of ``W`` takes positions ``r, r + W,
    ...``; with ``round_up`` the list is first padded from its start to a
    multiple of ``W`` (as DefaultSampler pads an epoch), so every rank runs
    the same number of iterations.

    ``len()`` is the wrapped sampler's (the full epoch's share), so that
    ``len(dataloader)`` keeps its meaning for hooks.
    """

    def __init__(self, sampler: Sampler, remaining: List[int], rank: int,
                 world_size: int, round_up: bool):
        self.sampler = sampler
        if round_up and remaining:
            total = math.ceil(len(remaining) / world_size) * world_size
            remaining = (remaining * math.ceil(total / len(remaining)))[:total]
        self.indices = remaining[rank::world_size]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.sampler)


def epoch_order(seed: int, epoch: int, dataset_len: int,
                shuffle: bool) -> List[int]:
    """The global sample order of an epoch, as DefaultSampler draws it.

    Args:
        seed (int): The sampler's seed (identical on all ranks).
        epoch (int): The 0-based epoch (``sampler.set_epoch``).
        dataset_len (int): Number of samples in the data set.
        shuffle (bool): The sampler's ``shuffle``.

    Returns:
        list[int]: Data set indices, before padding and splitting by rank.
    """
    if not shuffle:
        return list(range(dataset_len))
    g = torch.Generator()
    g.manual_seed(seed + epoch)
    return torch.randperm(dataset_len, generator=g).tolist()


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

    This loop trains each sample of the interrupted epoch that the
    checkpoint has not seen, once, then continues normally:

    - **Same number of processes and batch size** as when the epoch
      started: the batches the checkpoint has consumed are skipped, so the
      resumed run sees exactly the batches (the same sampler order, set by
      the sampler's seed and the epoch) and iteration numbers the
      uninterrupted run would have seen; with deterministic data loading it
      reproduces the uninterrupted run. With the usual
      :class:`~torch.utils.data.BatchSampler` the skipped indices are
      dropped at the sampler (nothing is loaded for them); any other batch
      sampler is advanced by loading and discarding batches (slower, exact).
    - **Another number of processes (or batch size)**: with
      :class:`~mmengine.dataset.DefaultSampler` the processes of the old
      run together consumed a prefix of the epoch's global order (rank ``r``
      of ``W`` takes positions ``r, r + W, ...``), so the consumed samples
      are the first ``consumed = sum(batches x batch size x processes)``
      positions of that order, whatever the history of resumes. The epoch's
      order is recomputed from the sampler's seed and the epoch, and the
      rest of it is split across the new processes as DefaultSampler splits
      an epoch. Each remaining sample is trained once; as with
      DefaultSampler's own ``round_up``, when the remainder is not a
      multiple of the new number of processes, up to ``processes - 1``
      samples are repeated so that all ranks run the same number of
      iterations. This needs DefaultSampler and BatchSampler (MMEngine's and
      MMPose's defaults); with other samplers a changed world size raises
      :class:`EpochResumeError` with the fix.

    The progress of the epoch (epoch, iteration at which the current
    stretch of it started, samples consumed before that, processes, batch
    size, sampler seed, shuffle, data set size) is kept in the message hub,
    which every checkpoint saves. Checkpoints of other loops (no record)
    fall back to ``iter - epoch * len(dataloader)`` consumed batches at the
    same world size. Batch indices passed to hooks (``batch_idx``) count so
    that the epoch's last batch has index ``len(dataloader) - 1``, as in an
    uninterrupted run.

    Arguments are :class:`~mmengine.runner.EpochBasedTrainLoop`'s. In a
    config (``by_epoch`` must not be given together with ``type``)::

        train_cfg = dict(_delete_=True, type='ResumableEpochBasedTrainLoop',
                         max_epochs=210, val_interval=10)
    """

    def __init__(self, runner, *args, **kwargs):
        check_training_setup(runner)  # FSDP / DeepSpeed: refused at start
        super().__init__(runner, *args, **kwargs)

    # ------------------------------------------------------------- record
    def _sampler_info(self) -> dict:
        sampler = getattr(self.dataloader, 'sampler', None)
        batch_sampler = self.dataloader.batch_sampler
        info = dict(
            world_size=get_dist_info()[1],
            batch_size=int(getattr(batch_sampler, 'batch_size', 0) or 0),
            dataset_len=len(self.dataloader.dataset),
            default_sampler=isinstance(sampler, DefaultSampler),
            seed=None,
            shuffle=None,
            round_up=None)
        if info['default_sampler']:
            info.update(
                seed=int(sampler.seed),
                shuffle=bool(sampler.shuffle),
                round_up=bool(sampler.round_up))
        return info

    def _legacy_skip(self) -> int:
        """Consumed batches from a checkpoint without a progress record."""
        n = len(self.dataloader)
        info = self.runner.message_hub.get_info(_EPOCH_START_KEY)
        if info is not None and int(info[0]) == self._epoch:
            return self._iter - int(info[1])
        return self._iter - self._epoch * n

    def _check_skip(self, done: int) -> int:
        n = len(self.dataloader)
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

    def _plan_epoch(self):
        """Decide how this epoch runs.

        Returns:
            tuple: ``(skip, remaining, record)``: the number of leading
            batches to skip on the natural path, or ``remaining`` (the
            global indices still to train, in order) for a re-split epoch
            (then ``skip`` is None); ``record`` is the progress record to
            keep for this epoch.
        """
        now = self._sampler_info()
        prev = self.runner.message_hub.get_info(_PROGRESS_KEY)
        if prev is None or int(prev['epoch']) != self._epoch:
            if prev is None:
                skip = self._check_skip(self._legacy_skip())
            else:
                skip = 0
            record = dict(
                now,
                epoch=self._epoch,
                start_iter=self._iter - skip,
                consumed=0,
                natural=True)
            return skip, None, record

        done = self._iter - int(prev['start_iter'])
        same = (
            prev['natural'] and prev['world_size'] == now['world_size']
            and prev['batch_size'] == now['batch_size'])
        if same:
            return self._check_skip(done), None, dict(prev)

        consumed = int(prev['consumed']) + max(done, 0) * int(
            prev['batch_size']) * int(prev['world_size'])
        self._check_resplit(prev, now)
        order = epoch_order(prev['seed'], self._epoch, prev['dataset_len'],
                            prev['shuffle'])
        remaining = order[consumed:]
        record = dict(
            now,
            epoch=self._epoch,
            start_iter=self._iter,
            consumed=min(consumed, len(order)),
            natural=False)
        print_log(
            f'Resuming epoch {self._epoch + 1} on {now["world_size"]} '
            f'process(es) x batch {now["batch_size"]} (it was trained on '
            f'{prev["world_size"]} x {prev["batch_size"]}): {consumed} of its '
            f'{len(order)} samples were trained before the checkpoint; the '
            f'remaining {len(remaining)} are split across the processes.',
            logger='current')
        return None, remaining, record

    def _check_resplit(self, prev: dict, now: dict) -> None:
        why = None
        if not (prev.get('default_sampler') and now['default_sampler']):
            why = ('the training sampler is not mmengine DefaultSampler, so '
                   'the samples the old processes consumed cannot be '
                   'recomputed')
        elif type(self.dataloader.batch_sampler) is not BatchSampler:
            why = (f'the batch sampler '
                   f'{type(self.dataloader.batch_sampler).__name__} is not '
                   'torch BatchSampler')
        elif prev['dataset_len'] != now['dataset_len']:
            why = (f'the data set has {now["dataset_len"]} samples, the '
                   f'checkpoint\'s epoch had {prev["dataset_len"]}')
        elif (prev['seed'], prev['shuffle']) != (now['seed'], now['shuffle']):
            why = (f'the sampler seed/shuffle are {now["seed"]}/'
                   f'{now["shuffle"]}, the checkpoint\'s epoch used '
                   f'{prev["seed"]}/{prev["shuffle"]} (set randomness.seed '
                   'to the original run\'s)')
        if why is not None:
            raise EpochResumeError(
                f'Cannot resume epoch {self._epoch + 1} in mid-epoch on '
                f'{now["world_size"]} process(es) x batch '
                f'{now["batch_size"]}: it was started on '
                f'{prev["world_size"]} x {prev["batch_size"]} and {why}. '
                'Resume with the original number of processes and '
                'train_dataloader.batch_size, or use DefaultSampler and '
                'BatchSampler (MMPose\'s default).')

    # ---------------------------------------------------------------- run
    def run_epoch(self) -> None:
        """Iterate one epoch, leaving out what a resumed checkpoint saw."""
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        skip, remaining, record = self._plan_epoch()
        hub = self.runner.message_hub
        hub.update_info(_PROGRESS_KEY, record)
        if record['natural']:  # read by earlier versions of this loop
            hub.update_info(_EPOCH_START_KEY,
                            (self._epoch, record['start_iter']))

        batch_sampler = self.dataloader.batch_sampler
        patched: Optional[Sampler] = None
        start = skip or 0
        if remaining is not None:
            rank, world_size = get_dist_info()
            patched = batch_sampler.sampler
            batch_sampler.sampler = _RemainderSampler(patched, remaining, rank,
                                                      world_size,
                                                      record['round_up'])
            per_rank = len(batch_sampler.sampler.indices)
            num = (
                per_rank // batch_sampler.batch_size if batch_sampler.drop_last
                else math.ceil(per_rank / batch_sampler.batch_size))
            start = max(len(self.dataloader) - num, 0)
        elif skip > 0:
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
            if skip and patched is None:
                for _ in range(skip):  # exact for any batch sampler
                    next(data_iter)
            for idx, data_batch in enumerate(data_iter, start=start):
                self.run_iter(idx, data_batch)
        finally:
            if patched is not None:
                batch_sampler.sampler = patched

        self.runner.call_hook('after_train_epoch')
        self._epoch += 1
