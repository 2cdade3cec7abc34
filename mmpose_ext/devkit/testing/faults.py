# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Fault injection for the reliability tests (tests/test_reliability).

Registered into MMPose's ``HOOKS`` when this module is imported; a config
run in a subprocess gets them with::

    custom_imports = dict(
        imports=['mmpose_ext', 'mmpose_ext.devkit.testing.faults'])

Never use them in a real config.
"""
import time

from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmpose.registry import HOOKS


@HOOKS.register_module()
class InjectNonFiniteHook(Hook):
    """Make the targets of chosen training iterations NaN/Inf.

    Fills ``gt_fields.<field>`` of every sample of the batch with ``value``
    before the forward pass, so the loss of that iteration is non-finite (as
    a corrupt label would make it).

    Args:
        iters (Sequence[int]): 1-based training iterations to corrupt.
        ranks (Sequence[int], optional): Only on these ranks (None: all).
        value (float): Fill value. Defaults to NaN.
        field (str): The ``gt_fields`` entry. Defaults to 'heatmaps'.
    """
    priority = 'VERY_HIGH'

    def __init__(self,
                 iters=(),
                 ranks=None,
                 value=float('nan'),
                 field='heatmaps'):
        self.iters = set(int(i) for i in iters)
        self.ranks = None if ranks is None else set(ranks)
        self.value = float(value)
        self.field = field
        self.injected = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        it = runner.iter + 1
        if it not in self.iters or (self.ranks is not None
                                    and get_rank() not in self.ranks):
            return
        for sample in data_batch['data_samples']:
            sample.gt_fields.get(self.field).fill_(self.value)
        self.injected.append(it)


@HOOKS.register_module()
class PauseAfterIterHook(Hook):
    """After iteration ``iter`` (and its checkpoint), write ``ready_file``
    and sleep ``seconds``, so that a test can kill the process at a known
    point in mid-epoch."""
    priority = 'LOWEST'  # after CheckpointHook

    def __init__(self, iter, ready_file, seconds=120.0):
        self.iter = int(iter)
        self.ready_file = ready_file
        self.seconds = float(seconds)

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        if runner.iter + 1 == self.iter and get_rank() == 0:
            with open(self.ready_file, 'w') as f:
                f.write(str(self.iter))
            time.sleep(self.seconds)
