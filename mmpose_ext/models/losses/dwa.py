# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Dynamic weight averaging (DWA) of several task losses.

Liu, Johns and Davison, "End-to-End Multi-Task Learning with Attention"
(MTAN, CVPR 2019), as used by SG-HRNet (Tang et al., Traitement du Signal
41(5), 2024, eqs. 7-10).
"""
import logging
import math
from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine import dist
from mmengine.logging import MessageHub, print_log
from mmpose.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class DWAMultiTaskLoss(nn.Module):
    r"""Combine task losses with dynamic weight averaging.

    .. math::

        L(t) = \sum_n w_n(t)\, \lambda_n L_n(t), \qquad
        w_n(t) = N \frac{\exp(r_n(t-1)/T)}{\sum_m \exp(r_m(t-1)/T)}, \qquad
        r_n(t-1) = \frac{L_n(t-1)}{L_n(t-2)}

    where ``N`` is the number of tasks, ``lambda_n`` a fixed per-task scale
    and ``T`` the temperature. The weights are detached constants; they are
    all 1 until two loss values of every task exist. A task whose loss falls
    faster than the others' gets a smaller weight.

    What one "step" ``t`` is depends on ``mode``:

    - ``'iter'`` (the SG-HRNet paper, with ``T=1``): ``L_n(t)`` is the loss of
      one training iteration, so the weights change every iteration.
    - ``'epoch'`` (MTAN, which uses ``T=2``): ``L_n(t)`` is the mean training
      loss of epoch ``t``, and the weights are constant within an epoch. The
      current epoch is read from MMEngine's ``MessageHub`` (``'epoch'``, kept
      up to date by the runner's ``RuntimeInfoHook``); the accumulated means
      roll over at the first training forward of a new epoch. Outside a
      runner, call :meth:`end_epoch` at the end of each epoch.
    - ``'fixed'``: no DWA, ``w_n = 1`` always (``L = sum_n lambda_n L_n``);
      the ablation that shows what DWA contributes.

    The ratio ``r`` is scale invariant, so the history holds the scaled task
    losses ``lambda_n L_n`` before DWA weighting.

    Distributed training: every training forward all-reduces (mean) the
    detached task losses across ranks before they enter the history or the
    epoch sums, so all ranks hold identical histories and use identical
    weights (a no-op when not distributed). This needs every rank to call the
    loss at every iteration, which a training step does anyway.

    Checkpoints: the history, the epoch sums and the current weights are
    persistent buffers, so they are part of ``state_dict()``; a run resumed
    from a checkpoint uses the same weights as an uninterrupted one.

    Robustness: a non-finite task loss (NaN/inf) never enters the history;
    the values of that step are dropped and a warning naming the iteration is
    logged. Non-positive values carry no ratio information (``r`` would be 0
    or undefined, e.g. a keypoint loss of a batch without any visible
    keypoint) and are dropped silently in the same way. The returned losses
    of that step are not altered: a non-finite loss still propagates so that
    the training loop (or a NaN-skipping hook) sees it.

    Args:
        task_names (Sequence[str]): Names of the tasks, in the order of the
            weights. Defaults to ``('kpt', 'seg')``.
        task_scales (Sequence[float], optional): Fixed scale ``lambda_n`` per
            task, all positive. ``None`` means 1 for every task. Defaults to
            ``None``.
        mode (str): ``'iter'``, ``'epoch'`` or ``'fixed'``. Defaults to
            ``'iter'``.
        temperature (float): Softmax temperature ``T`` > 0. Defaults to 1.0.
        reduce_across_ranks (bool): All-reduce the task losses across ranks
            before they enter the history. Defaults to ``True``.

    Example:
        >>> dwa = DWAMultiTaskLoss(task_names=('kpt', 'seg'),
        ...                        task_scales=(1.0, 0.002))
        >>> weighted, weights = dwa(dict(kpt=kpt_loss, seg=seg_loss))
        >>> total = sum(weighted.values())
    """

    _modes = ('iter', 'epoch', 'fixed')

    def __init__(self,
                 task_names: Sequence[str] = ('kpt', 'seg'),
                 task_scales: Optional[Sequence[float]] = None,
                 mode: str = 'iter',
                 temperature: float = 1.0,
                 reduce_across_ranks: bool = True):
        super().__init__()
        task_names = tuple(task_names)
        if len(task_names) < 1 or len(set(task_names)) != len(task_names):
            raise ValueError('task_names must be non-empty and unique, got '
                             f'{task_names}')
        if task_scales is None:
            task_scales = (1.0, ) * len(task_names)
        task_scales = tuple(float(s) for s in task_scales)
        if len(task_scales) != len(task_names):
            raise ValueError(
                f'task_scales has {len(task_scales)} values but task_names '
                f'has {len(task_names)} ({task_names})')
        if not all(s > 0 and math.isfinite(s) for s in task_scales):
            raise ValueError(
                f'task_scales must be finite and > 0, got {task_scales}')
        if mode not in self._modes:
            raise ValueError(f'mode must be one of {self._modes}, got '
                             f'{mode!r}')
        if not (temperature > 0 and math.isfinite(temperature)):
            raise ValueError(
                f'temperature must be finite and > 0, got {temperature}')

        self.task_names = task_names
        self.task_scales = task_scales
        self.num_tasks = len(task_names)
        self.mode = mode
        self.temperature = float(temperature)
        self.reduce_across_ranks = reduce_across_ranks

        n = self.num_tasks
        # history[0] = L(t-1), history[1] = L(t-2); float64 so that long
        # epoch sums and ratios of small losses stay exact enough.
        self.register_buffer('history', torch.zeros(2, n, dtype=torch.float64))
        self.register_buffer('num_history', torch.zeros((), dtype=torch.long))
        self.register_buffer('weights', torch.ones(n, dtype=torch.float32))
        # Epoch mode: sums of the (reduced) losses of the current epoch.
        self.register_buffer('epoch_sum', torch.zeros(n, dtype=torch.float64))
        self.register_buffer('epoch_count', torch.zeros((), dtype=torch.long))
        self.register_buffer('epoch', torch.full((), -1, dtype=torch.long))
        # Number of training forwards, to name the step when no runner runs.
        self.register_buffer('num_steps', torch.zeros((), dtype=torch.long))

    # ------------------------------------------------------------------ API
    def forward(
        self, losses: Union[Mapping[str, Tensor], Sequence[Tensor]]
    ) -> Tuple[Dict[str, Tensor], Tensor]:
        """Weight the task losses.

        In training mode this also records the losses (see the class doc):
        the weights applied now come from earlier steps only.

        Args:
            losses (dict[str, Tensor] | Sequence[Tensor]): The scalar loss of
                every task, keyed by task name or in ``task_names`` order.

        Returns:
            tuple:
            - weighted (dict[str, Tensor]): ``w_n * lambda_n * L_n`` per task
              name; their sum is the multi-task loss.
            - weights (Tensor): The DWA weights ``w_n`` applied, shape
              ``(num_tasks,)``, detached.
        """
        # float32 at least: the weights multiply the losses, and the
        # history (float64) must never see a 0 or inf of a half type
        values = [
            v.float() if v.dtype in (torch.float16, torch.bfloat16) else v
            for v in self._as_list(losses)
        ]
        scaled = [v * s for v, s in zip(values, self.task_scales)]

        if self.training:
            self._maybe_roll_epoch()
        weights = self.weights.detach().clone()
        weighted = {
            name: w.to(v.dtype) * v
            for name, w, v in zip(self.task_names, weights.to(
                values[0].device), scaled)
        }
        if self.training:
            self._record(scaled)
        return weighted, weights

    def end_epoch(self) -> None:
        """Close the current epoch in ``mode='epoch'``.

        Pushes the epoch's mean losses into the history (if the epoch saw any
        valid loss) and recomputes the weights for the next epoch. A no-op in
        ``mode='iter'``. Called automatically when the runner's epoch changes;
        call it yourself only when training without an MMEngine runner.
        """
        if self.mode != 'epoch':
            return
        if int(self.epoch_count) > 0:
            self._push(self.epoch_sum / self.epoch_count.to(torch.float64))
        self.epoch_sum.zero_()
        self.epoch_count.zero_()

    def compute_weights(self) -> Tensor:
        """The weights the next step will use, from the current history.

        Returns:
            Tensor: shape ``(num_tasks,)``, all ones while fewer than two
            loss values are recorded.
        """
        if int(self.num_history) < 2:
            return torch.ones(
                self.num_tasks,
                dtype=torch.float32,
                device=self.history.device)
        prev, prev2 = self.history[0], self.history[1]
        ratio = prev / prev2  # both > 0: only such values enter the history
        w = self.num_tasks * torch.softmax(ratio / self.temperature, dim=0)
        return w.to(torch.float32)

    def extra_repr(self) -> str:
        return (f'task_names={self.task_names}, '
                f'task_scales={self.task_scales}, mode={self.mode!r}, '
                f'temperature={self.temperature}')

    # ------------------------------------------------------------ internals
    def _as_list(self, losses) -> list:
        if isinstance(losses, Mapping):
            missing = [n for n in self.task_names if n not in losses]
            if missing:
                raise ValueError(
                    f'losses lacks the tasks {missing}; expected keys '
                    f'{self.task_names}, got {tuple(losses)}')
            values = [losses[n] for n in self.task_names]
        else:
            values = list(losses)
            if len(values) != self.num_tasks:
                raise ValueError(f'expected {self.num_tasks} losses '
                                 f'({self.task_names}), got {len(values)}')
        for name, v in zip(self.task_names, values):
            if not isinstance(v, Tensor) or v.numel() != 1:
                raise ValueError(
                    f'loss of task {name!r} must be a scalar tensor')
        return [v.reshape(()) for v in values]

    def _current_iter(self) -> int:
        """The running iteration, 1-based as in the training log
        (``Iter(train) [N/...]``; the runner's ``iter`` info is 0-based)."""
        it = MessageHub.get_current_instance().get_info('iter')
        return (int(it) if it is not None else int(self.num_steps)) + 1

    def _maybe_roll_epoch(self) -> None:
        if self.mode != 'epoch':
            return
        epoch = MessageHub.get_current_instance().get_info('epoch')
        if epoch is None:
            return
        epoch = int(epoch)
        if int(self.epoch) < 0:
            self.epoch.fill_(epoch)
        elif epoch != int(self.epoch):
            self.end_epoch()
            self.epoch.fill_(epoch)

    def _record(self, scaled: Sequence[Tensor]) -> None:
        if self.mode == 'fixed':
            return
        step = self._current_iter()
        self.num_steps += 1
        vals = torch.stack([v.detach().to(torch.float64) for v in scaled])
        vals = vals.to(self.history.device)
        if self.reduce_across_ranks:
            # Every rank must reach this point each iteration; reducing before
            # the finiteness check makes every rank drop the same steps.
            dist.all_reduce(vals, op='mean')
        if not bool(torch.isfinite(vals).all()):
            bad = {
                n: float(v)
                for n, v in zip(self.task_names, vals)
                if not math.isfinite(float(v))
            }
            print_log(
                f'DWAMultiTaskLoss: non-finite task loss {bad} at iteration '
                f'{step}; not recorded in the DWA history.',
                logger='current',
                level=logging.WARNING)
            return
        if not bool((vals > 0).all()):
            return  # no ratio information (e.g. nothing visible)
        if self.mode == 'iter':
            self._push(vals)
        else:
            self.epoch_sum += vals
            self.epoch_count += 1

    def _push(self, vals: Tensor) -> None:
        self.history[1] = self.history[0]
        self.history[0] = vals
        self.num_history.fill_(min(int(self.num_history) + 1, 2))
        self.weights.copy_(self.compute_weights())
