# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Detect ranks that drift apart in distributed training."""
import fnmatch
import hashlib
import json
import logging
import os
import os.path as osp
from typing import Dict, Optional, Sequence

import torch
from mmengine import dist
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmpose.registry import HOOKS

__all__ = ['RankConsistencyHook', 'RankDivergenceError', 'state_digest']


class RankDivergenceError(RuntimeError):
    """The ranks of a distributed run no longer hold the same state."""


def state_digest(state_dict: Dict[str, torch.Tensor]) -> str:
    """SHA-256 of the bytes of every tensor of a state dict (sorted keys)."""
    h = hashlib.sha256()
    for key in sorted(state_dict):
        value = state_dict[key]
        if not isinstance(value, torch.Tensor):
            continue
        h.update(key.encode())
        h.update(value.detach().cpu().contiguous().reshape(-1).view(
            torch.uint8).numpy().tobytes())
    return h.hexdigest()


@HOOKS.register_module()
class RankConsistencyHook(Hook):
    """Check that every rank holds the same model state and logged weights.

    Under DDP every rank applies the same averaged gradients, so parameters,
    buffers and loss weights (e.g. the DWA weights of
    :class:`~mmpose_ext.models.losses.DWAMultiTaskLoss`, which all-reduces
    its loss history) must stay bitwise identical. A rank that diverges
    (a non-deterministic op, a rank-local update, a missed collective) trains
    silently wrong. Every ``interval`` iterations this hook gathers, from
    every rank, a SHA-256 digest of the model's parameters, the current
    message-hub values of ``scalar_keys`` and the values of the state-dict
    entries ``buffer_keys``, and compares them.

    With ``dump_dir``, each rank also appends what it saw to
    ``{dump_dir}/rank{R}.jsonl`` (one JSON object per checked iteration) and
    writes its final state dict to ``{dump_dir}/rank{R}_final.pth``, for
    checks outside the run. Not distributed, only the dump is written.

    Args:
        interval (int): Check every ``interval`` training iterations.
            Defaults to 50.
        scalar_keys (Sequence[str]): fnmatch patterns of message-hub scalars
            (as logged, e.g. ``'train/dwa_w_*'``). Defaults to
            ``('train/dwa_w_*',)``.
        buffer_keys (Sequence[str]): fnmatch patterns of state-dict keys
            recorded by value. Defaults to
            ``('*multi_task_loss.weights', '*multi_task_loss.history')``.
        check_state (bool): Compare a digest of all parameters (not the
            buffers: MMEngine's DDP wrapper leaves BN statistics rank-local
            between the epoch-end averages of ``SyncBuffersHook`` unless
            SyncBN is used; list buffers that must agree at every iteration
            in ``buffer_keys``). Hashing costs about 1 s per GB. Defaults to
            True.
        action (str): ``'raise'`` :class:`RankDivergenceError` or ``'warn'``.
            Defaults to ``'raise'``.
        dump_dir (str, optional): Folder for the per-rank records. A relative
            path is taken inside ``work_dir``. Defaults to None.

    Example:
        >>> custom_hooks = [dict(type='RankConsistencyHook', interval=100)]
    """

    priority = 'LOW'  # after the update and after RuntimeInfoHook

    def __init__(self,
                 interval: int = 50,
                 scalar_keys: Sequence[str] = ('train/dwa_w_*', ),
                 buffer_keys: Sequence[str] = ('*multi_task_loss.weights',
                                               '*multi_task_loss.history'),
                 check_state: bool = True,
                 action: str = 'raise',
                 dump_dir: Optional[str] = None):
        if action not in ('raise', 'warn'):
            raise ValueError(f"action must be 'raise' or 'warn', got "
                             f'{action!r}')
        self.interval = int(interval)
        self.scalar_keys = tuple(scalar_keys)
        self.buffer_keys = tuple(buffer_keys)
        self.check_state = check_state
        self.action = action
        self.dump_dir = dump_dir
        self.num_checks = 0

    def _model(self, runner):
        return runner.model.module if is_model_wrapper(
            runner.model) else runner.model

    def before_train(self, runner) -> None:
        if self.dump_dir is not None:
            if not osp.isabs(self.dump_dir):
                self.dump_dir = osp.join(runner.work_dir, self.dump_dir)
            os.makedirs(self.dump_dir, exist_ok=True)

    def _record(self, runner) -> dict:
        state = self._model(runner).state_dict()
        scalars = {}
        for name, buf in runner.message_hub.log_scalars.items():
            if any(fnmatch.fnmatch(name, p) for p in self.scalar_keys):
                scalars[name] = float(buf.current())
        buffers = {
            k: v.detach().cpu().double().reshape(-1).tolist()
            for k, v in state.items() if any(
                fnmatch.fnmatch(k, p) for p in self.buffer_keys)
        }
        rec = dict(
            iter=runner.iter + 1,
            rank=dist.get_rank(),
            scalars=scalars,
            buffers=buffers)
        if self.check_state:
            # parameters only: MMEngine's DDP wrapper does not broadcast
            # buffers (BN statistics differ between the epoch-end
            # SyncBuffersHook averages, unless SyncBN is used)
            rec['digest'] = state_digest(
                dict(self._model(runner).named_parameters()))
        return rec

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        """Gather, compare and (optionally) dump."""
        if not self.every_n_train_iters(runner, self.interval):
            return
        rec = self._record(runner)
        if self.dump_dir is not None:
            path = osp.join(self.dump_dir, f'rank{rec["rank"]}.jsonl')
            with open(path, 'a') as f:
                f.write(json.dumps(rec) + '\n')
        self.num_checks += 1
        if dist.get_world_size() < 2:
            return
        records = dist.all_gather_object(rec)
        ref = records[0]
        bad = [
            r['rank'] for r in records[1:]
            if (r['scalars'], r['buffers'],
                r.get('digest')) != (ref['scalars'], ref['buffers'],
                                     ref.get('digest'))
        ]
        if bad:
            diff = {
                r['rank']: dict(scalars=r['scalars'], digest=r.get('digest'))
                for r in records
            }
            msg = (f'ranks {bad} differ from rank 0 at iteration '
                   f'{rec["iter"]}: {diff}')
            if self.action == 'raise':
                raise RankDivergenceError(msg)
            print_log(msg, logger='current', level=logging.WARNING)

    def after_train(self, runner) -> None:
        """Write this rank's final state dict (with ``dump_dir``)."""
        if self.dump_dir is None:
            return
        state = {
            k: v.detach().cpu()
            for k, v in self._model(runner).state_dict().items()
        }
        torch.save(state,
                   osp.join(self.dump_dir, f'rank{dist.get_rank()}_final.pth'))
