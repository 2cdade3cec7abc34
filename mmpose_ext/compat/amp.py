# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""``--amp`` on machines without an accelerator: bfloat16 autocast.

MMPose's ``tools/train.py --amp`` sets ``optim_wrapper.type =
'AmpOptimWrapper'`` (``loss_scale='dynamic'``). MMEngine 0.10.7's
``AmpOptimWrapper`` asserts that CUDA (or NPU, MLU, MUSA) is available, so
on a CPU machine ``--amp`` stops with an ``AssertionError``, although
MMEngine's own ``autocast`` supports the CPU (bfloat16 only).

:func:`patch_mmengine_amp_for_cpu` (applied on import of :mod:`mmpose_ext`)
lets ``AmpOptimWrapper`` be built when no accelerator is present, with

- ``dtype`` bfloat16 (the default there, and the only one CPU autocast
  takes; ``dtype='float16'`` raises a ``ValueError`` that says so);
- no loss scaling: bfloat16 has float32's exponent range, so gradients do
  not underflow; the scaler is a disabled ``GradScaler`` (``scale`` and
  ``step`` pass through, its state dict is empty), whatever ``loss_scale``
  says.

With an accelerator MMEngine's code runs unchanged (float16 with dynamic
loss scaling on CUDA by default).
"""
import functools

import torch
from mmengine.device import (is_cuda_available, is_mlu_available,
                             is_musa_available, is_npu_available)
from mmengine.optim import AmpOptimWrapper, OptimWrapper

__all__ = ['patch_mmengine_amp_for_cpu']


def _accelerator_available() -> bool:
    return (is_cuda_available() or is_npu_available() or is_mlu_available()
            or is_musa_available())


def patch_mmengine_amp_for_cpu() -> None:
    """Let ``AmpOptimWrapper`` run bfloat16 autocast on the CPU."""
    orig = AmpOptimWrapper.__init__
    if getattr(orig, '_mmpose_ext_patched', False):
        return

    @functools.wraps(orig)
    def __init__(self,
                 loss_scale='dynamic',
                 dtype=None,
                 use_fsdp: bool = False,
                 **kwargs):
        if _accelerator_available():
            return orig(
                self,
                loss_scale=loss_scale,
                dtype=dtype,
                use_fsdp=use_fsdp,
                **kwargs)
        if isinstance(dtype, str):
            if dtype not in self.valid_dtypes:
                raise ValueError(f'dtype should be any of '
                                 f'{self.valid_dtypes}, got {dtype}')
            dtype = getattr(torch, dtype)
        if dtype is None:
            dtype = torch.bfloat16
        if dtype != torch.bfloat16:
            raise ValueError(
                f'AmpOptimWrapper on a machine without a GPU runs CPU '
                f'autocast, which takes only bfloat16, got dtype={dtype}; set '
                "optim_wrapper.dtype='bfloat16' (or leave it unset)")
        OptimWrapper.__init__(self, **kwargs)
        self._scale_update_param = None
        self.loss_scaler = torch.amp.GradScaler('cpu', enabled=False)
        self.cast_dtype = dtype

    __init__._mmpose_ext_patched = True
    AmpOptimWrapper.__init__ = __init__
