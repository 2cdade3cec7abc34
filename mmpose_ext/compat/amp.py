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

:func:`patch_mmpose_to_numpy_for_bfloat16`: under bfloat16 autocast MMPose's
own heads (``HeatmapHead.loss`` computes its training accuracy through
``mmpose.utils.tensor_utils.to_numpy``) fail with ``TypeError: Got
unsupported ScalarType BFloat16``, numpy having no bfloat16. ``to_numpy``
then converts bfloat16 tensors to float32 (exact: every bfloat16 is a
float32); every other dtype is converted as before.
"""
import functools
import sys

import torch
from mmengine.device import (is_cuda_available, is_mlu_available,
                             is_musa_available, is_npu_available)
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from mmpose.utils import tensor_utils

__all__ = ['patch_mmengine_amp_for_cpu', 'patch_mmpose_to_numpy_for_bfloat16']


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


def patch_mmpose_to_numpy_for_bfloat16() -> None:
    """Let MMPose's ``to_numpy`` take bfloat16 tensors (as float32).

    MMPose's modules bind ``to_numpy`` by name when imported: the
    replacement goes into ``tensor_utils`` (for modules imported later) and
    into every ``mmpose`` module already loaded.
    """
    orig = getattr(tensor_utils.to_numpy, '_mmpose_ext_orig',
                   tensor_utils.to_numpy)

    @functools.wraps(orig)
    def to_numpy(x, return_device: bool = False, unzip: bool = False):
        if isinstance(x, torch.Tensor) and x.dtype == torch.bfloat16:
            x = x.float()
        elif (isinstance(x, (list, tuple)) and x
              and all(isinstance(t, torch.Tensor) for t in x)):
            x = type(x)(
                t.float() if t.dtype == torch.bfloat16 else t for t in x)
        return orig(x, return_device=return_device, unzip=unzip)

    to_numpy._mmpose_ext_orig = orig
    for name, module in list(sys.modules.items()):
        if (name == 'mmpose' or name.startswith('mmpose.')) and getattr(
                module, 'to_numpy', None) is orig:
            module.to_numpy = to_numpy
