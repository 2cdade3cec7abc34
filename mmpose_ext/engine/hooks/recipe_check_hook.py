# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Start-of-training checks that the run follows the config's recipe."""
import logging
from typing import Optional

from mmengine.dist import get_world_size, is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner.checkpoint import find_latest_checkpoint
from mmpose.registry import HOOKS

from mmpose_ext.models.utils.checked_pretrained import WEIGHTS_FROM_RESUME

__all__ = ['RecipeCheckHook']


@HOOKS.register_module()
class RecipeCheckHook(Hook):
    """Say at the start of training when the run differs from its recipe.

    Runs in ``before_run``, which MMEngine calls before it initialises the
    model's weights, so both checks act before the first iteration:

    1. **Total batch.** The papers' recipes fix the TOTAL batch per
       optimiser step (SG-HRNet: 32 crops, Adam 1e-3). On N processes
       MMEngine trains ``N x train_dataloader.batch_size`` crops per step;
       the recipe's total is ``auto_scale_lr.base_batch_size`` (the configs
       set it to the recipe's batch). When the two differ, a WARNING on rank
       0 gives both, the per-process batch that keeps the recipe
       (``base_batch_size / N``), and what happens to the learning rate:
       unchanged, or, with ``--auto-scale-lr`` (``auto_scale_lr.enable``),
       scaled by MMEngine's linear rule to ``lr x total / base_batch_size``
       (a heuristic for SGD that the papers did not use with Adam).
       ``strict_batch=True`` raises instead.
    2. **Pretrained weights when resuming.** When the runner will resume
       from a checkpoint, every module initialised by ``CheckedPretrained``
       is marked so that the pretrained file is not read (the weights come
       from the resumed checkpoint; an offline node can resume).

    Args:
        strict_batch (bool): Raise ``ValueError`` instead of warning when
            the total batch differs from the recipe's. Defaults to False.
    """

    priority = 'VERY_HIGH'

    def __init__(self, strict_batch: bool = False):
        self.strict_batch = bool(strict_batch)

    def before_run(self, runner) -> None:
        self._check_total_batch(runner)
        if self._resume_checkpoint(runner) is not None:
            model = runner.model.module if is_model_wrapper(
                runner.model) else runner.model
            for m in model.modules():
                init = getattr(m, 'init_cfg', None)
                inits = init if isinstance(init, (list, tuple)) else [init]
                if any(
                        isinstance(i, dict)
                        and i.get('type') == 'CheckedPretrained'
                        for i in inits):
                    setattr(m, WEIGHTS_FROM_RESUME, True)

    @staticmethod
    def _resume_checkpoint(runner) -> Optional[str]:
        """The checkpoint ``Runner.load_or_resume`` will resume from."""
        if not getattr(runner, '_resume', False):
            return None
        load_from = getattr(runner, '_load_from', None)
        if load_from is not None:
            return load_from
        return find_latest_checkpoint(runner.work_dir)

    def _check_total_batch(self, runner) -> None:
        scale_cfg = runner.cfg.get('auto_scale_lr') or {}
        recipe = scale_cfg.get('base_batch_size')
        loader = runner.cfg.get('train_dataloader') or {}
        per_process = loader.get('batch_size')
        if recipe is None or per_process is None:
            return
        world = get_world_size()
        total = world * int(per_process)
        if total == int(recipe):
            return
        lr = self._lr(runner)
        if scale_cfg.get('enable', False):
            lr_note = (f'auto_scale_lr is enabled, so MMEngine scales the '
                       f'learning rate linearly by {total}/{recipe}' +
                       (f' to {lr * total / recipe:g}' if lr else ''))
        else:
            lr_note = ('the learning rate stays at the recipe\'s' +
                       (f' {lr:g}' if lr else '') + ' (auto_scale_lr is off)')
        keep = int(recipe) / world
        keep_note = (f'train_dataloader.batch_size={int(keep)}'
                     if keep == int(keep) else
                     f'a world size that divides {int(recipe)}')
        msg = (f'RecipeCheckHook: this run trains {total} crops per step '
               f'({world} process(es) x train_dataloader.batch_size='
               f'{per_process}), the recipe {int(recipe)} '
               f'(auto_scale_lr.base_batch_size); {lr_note}. To keep the '
               f'recipe on {world} process(es) use {keep_note}.')
        if self.strict_batch:
            raise ValueError(msg)
        if is_main_process():
            print_log(msg, logger='current', level=logging.WARNING)

    @staticmethod
    def _lr(runner) -> Optional[float]:
        optim = (runner.cfg.get('optim_wrapper') or {}).get('optimizer')
        lr = optim.get('lr') if isinstance(optim, dict) else None
        return float(lr) if lr is not None else None
