# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Skip the parameter update of an iteration whose loss is NaN/Inf.

Two parts:

- :class:`NonFiniteSkipMixin` / :class:`NonFiniteSkipOptimWrapper`: an optim
  wrapper whose ``update_params`` checks the loss before ``backward`` (and,
  optionally, the gradients before ``step``) and skips the whole update when
  it is not finite. Under distributed training the "non-finite" flag is
  all-reduced first, so every rank skips the same iterations (a rank that
  skipped ``backward`` alone would leave the others waiting in DDP's
  gradient all-reduce, and the replicas would drift apart).
- :class:`NonFiniteLossHook`: makes the runner's optim wrapper skip such
  updates (it upgrades a plain ``OptimWrapper``/``AmpOptimWrapper`` in place,
  so no other config change is needed), restores the model's buffers (BN
  running statistics, the DWA loss history) that the bad forward pass may
  have changed, logs each skipped iteration with its loss values, and stops
  the run with :class:`NonFiniteLossError` after ``max_consecutive``
  consecutive skips. It runs before the checkpoint hook, so no checkpoint is
  written for the iteration that stops the run: the latest checkpoint is
  the last good state.
"""
import logging
import math
from typing import Dict, List, Optional, Tuple

import torch
from mmengine import dist
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.optim import AmpOptimWrapper, OptimWrapper, OptimWrapperDict
from mmpose.registry import HOOKS, OPTIM_WRAPPERS

from ..runner_check import check_training_setup

__all__ = [
    'NonFiniteLossError', 'NonFiniteSkipMixin', 'NonFiniteSkipOptimWrapper',
    'NonFiniteLossHook'
]

DATA_BATCH = Optional[dict]


class NonFiniteLossError(RuntimeError):
    """Raised after too many consecutive iterations with NaN/Inf losses."""


def _any_nonfinite(flag: bool, device) -> bool:
    """All-reduce a local "non-finite" flag (max over ranks)."""
    if not dist.is_distributed():
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op='max')
    return bool(t.item() > 0)


def _grads_finite(params: List[torch.Tensor]) -> bool:
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return True
    try:
        norms = torch._foreach_norm(grads)
    except (AttributeError, RuntimeError):  # pragma: no cover
        norms = [g.norm() for g in grads]
    return bool(torch.isfinite(torch.stack(norms)).all())


class NonFiniteSkipMixin:
    """Adds the non-finite check to an :class:`OptimWrapper` subclass.

    After each :meth:`update_params`, ``last_skipped`` tells whether the
    update was skipped and ``last_skip_reason`` why (``'loss'`` or
    ``'grad'``). A skipped iteration discards the gradients accumulated so
    far in the current accumulation window (``accumulative_counts``); the
    iteration still counts towards the window.

    Gradients are checked only when the loss is finite, ``check_grads`` is
    True and the wrapper is not an :class:`AmpOptimWrapper` (whose grad
    scaler already skips steps with overflowing gradients, as part of its
    normal loss-scale search).
    """

    #: check the gradients too (before ``step``)
    check_grads: bool = True

    def _nonfinite_state(self):
        if not hasattr(self, 'last_skipped'):
            self.last_skipped = False
            self.last_skip_reason = None
            self.num_skipped = 0

    def update_params(self,
                      loss: torch.Tensor,
                      step_kwargs: Optional[Dict] = None,
                      zero_kwargs: Optional[Dict] = None) -> None:
        """``backward`` + ``step`` + ``zero_grad``, unless non-finite."""
        self._nonfinite_state()
        step_kwargs = step_kwargs or {}
        zero_kwargs = zero_kwargs or {}
        self.last_skipped, self.last_skip_reason = False, None

        bad = not bool(torch.isfinite(loss.detach()).all())
        if _any_nonfinite(bad, loss.device):
            self._skip('loss', zero_kwargs)
            return
        loss = self.scale_loss(loss)
        self.backward(loss)
        if self.should_update():
            if self.check_grads and not isinstance(self, AmpOptimWrapper):
                params = [
                    p for group in self.optimizer.param_groups
                    for p in group['params']
                ]
                bad = not _grads_finite(params)
                if _any_nonfinite(bad, loss.device):
                    self._skip('grad', zero_kwargs, counted=True)
                    return
            self.step(**step_kwargs)
            self.zero_grad(**zero_kwargs)

    def _skip(self,
              reason: str,
              zero_kwargs: dict,
              counted: bool = False) -> None:
        if not counted:
            # what backward() would have done: keep accumulation windows and
            # should_update() aligned with the runner's iterations
            self._inner_count += 1
        self.zero_grad(**zero_kwargs)
        self.last_skipped, self.last_skip_reason = True, reason
        self.num_skipped += 1


@OPTIM_WRAPPERS.register_module()
class NonFiniteSkipOptimWrapper(NonFiniteSkipMixin, OptimWrapper):
    """:class:`~mmengine.optim.OptimWrapper` that skips non-finite updates.

    See :class:`NonFiniteSkipMixin`. :class:`NonFiniteLossHook` installs the
    same behaviour on any optim wrapper, so naming this type in a config is
    only needed without the hook.

    Args:
        check_grads (bool): Also skip when the loss is finite but a gradient
            is not. Defaults to True.
        **kwargs: :class:`~mmengine.optim.OptimWrapper`'s arguments.
    """

    def __init__(self, *args, check_grads: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.check_grads = check_grads
        self._nonfinite_state()


_SKIP_CLASSES: Dict[type, type] = {}


def _with_skip(wrapper: OptimWrapper, check_grads: bool) -> OptimWrapper:
    """Give ``wrapper`` the non-finite check, keeping its class's behaviour.

    The instance's class is replaced by a cached subclass
    ``NonFiniteSkip<Class>(NonFiniteSkipMixin, Class)``: same state, same
    ``state_dict``, ``isinstance`` checks still hold.
    """
    if not isinstance(wrapper, NonFiniteSkipMixin):
        cls = type(wrapper)
        if cls not in _SKIP_CLASSES:
            _SKIP_CLASSES[cls] = type(f'NonFiniteSkip{cls.__name__}',
                                      (NonFiniteSkipMixin, cls), {})
        wrapper.__class__ = _SKIP_CLASSES[cls]
    wrapper.check_grads = check_grads
    wrapper._nonfinite_state()
    return wrapper


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Skip NaN/Inf updates, log them, stop after ``max_consecutive``.

    At ``before_train`` the runner's optim wrapper (every wrapper of an
    :class:`OptimWrapperDict`) gets :class:`NonFiniteSkipMixin`'s check. Then
    for every training iteration whose loss (or, with ``check_grads``,
    gradient) is not finite on any rank:

    - the optimizer step is skipped on every rank (parameters and optimizer
      state stay unchanged; the LR schedule still advances, as the iteration
      counts);
    - with ``restore_buffers``, all model buffers are reset to their values
      before the iteration (the forward pass of a bad batch may have written
      NaN into BN running statistics);
    - a warning names the iteration (1-based, as in the training log), the
      epoch, the reason and the loss values;
    - after ``max_consecutive`` consecutive skipped iterations the run stops
      with :class:`NonFiniteLossError`. No checkpoint is written for that
      iteration (this hook runs before the checkpoint hook), so the latest
      checkpoint holds the last good state.

    The message hub gets ``train/nonfinite_skips`` (the total, also saved in
    checkpoints). Under AMP, an overflow of the *scaled gradients* is normal
    and left to the grad scaler; a non-finite *loss* is still skipped here.

    Args:
        max_consecutive (int): Consecutive skipped iterations that stop the
            run, >= 1. Defaults to 5.
        check_grads (bool): Also skip when a gradient is non-finite (fp32
            wrappers only). Defaults to True.
        restore_buffers (bool): Restore the model buffers of a skipped
            iteration. Costs one copy of the buffers per iteration (BN
            statistics: kilobytes). Defaults to True.

    Example:
        >>> custom_hooks = [dict(type='NonFiniteLossHook', max_consecutive=5)]
    """

    priority = 'ABOVE_NORMAL'  # before LoggerHook and CheckpointHook

    def __init__(self,
                 max_consecutive: int = 5,
                 check_grads: bool = True,
                 restore_buffers: bool = True):
        if not (isinstance(max_consecutive, int) and max_consecutive >= 1):
            raise ValueError('max_consecutive must be an int >= 1, got '
                             f'{max_consecutive!r}')
        self.max_consecutive = max_consecutive
        self.check_grads = check_grads
        self.restore_buffers = restore_buffers
        self.consecutive = 0
        self.total = 0
        self.skipped_iters: List[int] = []
        self._snapshot: List[Tuple[torch.Tensor, torch.Tensor]] = []

    def _wrappers(self, runner) -> List[OptimWrapper]:
        ow = runner.optim_wrapper
        if isinstance(ow, OptimWrapperDict):
            return list(ow.values())
        return [ow]

    def before_train(self, runner) -> None:
        """Install the non-finite check on the runner's optim wrapper(s)."""
        check_training_setup(runner)  # DeepSpeed steps without update_params
        for ow in self._wrappers(runner):
            if not isinstance(ow, OptimWrapper):
                raise TypeError(
                    'NonFiniteLossHook needs an mmengine OptimWrapper, got '
                    f'{type(ow).__name__}')
            _with_skip(ow, self.check_grads)
        prev = runner.message_hub.log_scalars.get('train/nonfinite_skips')
        if prev is not None:  # resumed run
            self.total = int(prev.current())

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch: DATA_BATCH = None) -> None:
        """Snapshot the model buffers (cheap: BN statistics, DWA state)."""
        if not self.restore_buffers:
            return
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        self._snapshot = [(b, b.detach().clone()) for b in model.buffers()]

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: DATA_BATCH = None,
                         outputs: Optional[dict] = None) -> None:
        """Count, log and (after too many in a row) stop."""
        skipped = [ow for ow in self._wrappers(runner) if ow.last_skipped]
        if not skipped:
            self.consecutive = 0
            self._snapshot = []
            return
        if self.restore_buffers:
            with torch.no_grad():
                for buf, saved in self._snapshot:
                    buf.copy_(saved)
        self._snapshot = []
        self.consecutive += 1
        self.total += 1
        it = runner.iter + 1
        self.skipped_iters.append(it)
        runner.message_hub.update_scalar('train/nonfinite_skips', self.total)
        reasons = sorted({ow.last_skip_reason for ow in skipped})
        losses = self._format_losses(outputs)
        where = ''
        if dist.get_world_size() > 1:
            where = f' on some rank (rank {dist.get_rank()} losses shown)'
        msg = (f'Non-finite {"/".join(reasons)} at iteration {it} (epoch '
               f'{runner.epoch + 1}){where}: {losses}; parameter update '
               f'skipped on all ranks ({self.consecutive} consecutive, '
               f'{self.total} in total).')
        print_log(msg, logger='current', level=logging.WARNING)
        if self.consecutive >= self.max_consecutive:
            last = runner.message_hub.get_info('last_ckpt')
            raise NonFiniteLossError(
                f'Stopping: {self.consecutive} consecutive iterations with '
                f'non-finite {"/".join(reasons)} (iterations '
                f'{self.skipped_iters[-self.consecutive:]}, max_consecutive='
                f'{self.max_consecutive}). Last loss values: {losses}. No '
                'update was applied for them; the last good checkpoint is '
                f'{last or "(none saved yet)"}. Check the data of these '
                'iterations and the learning rate, then resume from it.')

    @staticmethod
    def _format_losses(outputs: Optional[dict]) -> str:
        if not outputs:
            return '(no loss values)'
        parts = []
        for k, v in outputs.items():
            if 'loss' not in k:
                continue
            try:
                f = float(v)
            except (TypeError, ValueError):
                continue
            parts.append(f'{k}={f:.6g}' if math.isfinite(f) else f'{k}={f}')
        return ', '.join(parts) or '(no loss values)'
