# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Let MMEngine 0.10.7's PyTorch launcher run on machines without CUDA.

With ``--launcher pytorch`` (``tools/dist_train.sh``, ``mim train ...
--launcher pytorch``) MMEngine 0.10.7

1. calls ``torch.cuda.set_device(LOCAL_RANK)`` unconditionally in
   ``mmengine.dist.utils._init_dist_pytorch``, which raises on a machine
   without a CUDA device, before the (gloo) process group is created; and
2. wraps the model in ``MMDistributedDataParallel(device_ids=[LOCAL_RANK])``,
   which ``DistributedDataParallel`` refuses for a module on the CPU
   ("device_ids ... only work with single-device/multiple-device GPU
   modules").

Both are hard errors, so distributed CPU training (the gloo backend: CI,
tests, debugging a multi-process run on a laptop) cannot start at all.
:func:`patch_mmengine_for_cpu_distributed` (applied on import of
:mod:`mmpose_ext` by :mod:`mmpose_ext.compat`) patches exactly those two
spots and only for the failing case:

- ``_init_dist_pytorch`` skips ``set_device`` and calls
  ``init_process_group`` itself when no CUDA device is available and no
  other accelerator (MLU, NPU, MUSA) is either; otherwise MMEngine's own
  function runs unchanged;
- ``MMDistributedDataParallel.__init__`` drops ``device_ids`` /
  ``output_device`` when every parameter of the module is on the CPU, and
  turns the module's ``nn.SyncBatchNorm`` layers (``norm_cfg=dict(type=
  'SyncBN')``), which ``DistributedDataParallel`` refuses on the CPU ("
  SyncBatchNorm layers only work with GPU modules"), into
  :class:`CPUSyncBatchNorm`: the same parameters, buffers and state-dict
  keys, statistics all-reduced over the process group with autograd-aware
  collectives (so gradients flow through them, as in SyncBN).

GPU runs are not affected. Choose the gloo backend for CPU runs
(``--cfg-options env_cfg.dist_cfg.backend=gloo``).
"""
import functools

import torch
import torch.distributed as torch_dist
import torch.nn as nn
from mmengine.device import (is_cuda_available, is_mlu_available,
                             is_musa_available, is_npu_available)
from mmengine.dist import utils as dist_utils
from mmengine.model import MMDistributedDataParallel
from torch.distributed.nn.functional import all_reduce
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = [
    'patch_mmengine_for_cpu_distributed', 'CPUSyncBatchNorm',
    'convert_sync_batchnorm_for_cpu'
]


class CPUSyncBatchNorm(_BatchNorm):
    """Synchronised batch norm for CPU process groups (gloo).

    Same maths as :class:`torch.nn.SyncBatchNorm` (whose kernels are GPU
    only): in training, the per-channel mean and (biased) variance are taken
    over the batches of all ranks, and the running statistics get the
    unbiased global variance; in evaluation the running statistics are used.
    The sums are all-reduced with ``torch.distributed.nn.functional.
    all_reduce``, whose backward all-reduces the gradients, so the gradient
    equals SyncBN's. Not distributed (or one rank), it is plain batch norm.

    Built by :func:`convert_sync_batchnorm_for_cpu` from ``nn.SyncBatchNorm``
    layers; state-dict compatible with them.
    """

    process_group = None

    def _check_input_dim(self, input):
        if input.dim() < 2:
            raise ValueError(
                f'expected at least 2D input (got {input.dim()}D input)')

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        group = self.process_group or torch_dist.group.WORLD
        if not (self.training and torch_dist.is_available()
                and torch_dist.is_initialized()
                and torch_dist.get_world_size(group) > 1):
            return super().forward(input)
        self._check_input_dim(input)
        c = input.shape[1]
        dims = [0] + list(range(2, input.dim()))
        shape = [1, c] + [1] * (input.dim() - 2)
        count = torch.full((1, ),
                           input.numel() // max(c, 1),
                           dtype=input.dtype,
                           device=input.device)
        stats = all_reduce(torch.cat([input.sum(dims), count]), group=group)
        n = stats[-1]
        mean = stats[:c] / n
        centred = input - mean.view(shape)
        var = all_reduce((centred * centred).sum(dims), group=group) / n
        out = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = (1.0 / float(self.num_batches_tracked)
                     if self.momentum is None else self.momentum)
                unbiased = var * (n / (n - 1).clamp(min=1))
                self.running_mean.mul_(1 - m).add_(m * mean.detach())
                self.running_var.mul_(1 - m).add_(m * unbiased.detach())
        return out


def convert_sync_batchnorm_for_cpu(module: nn.Module) -> int:
    """Turn every ``nn.SyncBatchNorm`` in ``module`` into
    :class:`CPUSyncBatchNorm` in place (same tensors); returns how many."""
    n = 0
    for layer in module.modules():
        if isinstance(layer, nn.SyncBatchNorm):
            layer.__class__ = CPUSyncBatchNorm
            n += 1
    return n


def _no_accelerator() -> bool:
    return not (is_cuda_available() or is_mlu_available()
                or is_npu_available() or is_musa_available())


def _patch_init_dist() -> None:
    orig = dist_utils._init_dist_pytorch
    if getattr(orig, '_mmpose_ext_patched', False):
        return

    @functools.wraps(orig)
    def _init_dist_pytorch(backend, init_backend='torch', **kwargs) -> None:
        if not _no_accelerator() or init_backend != 'torch':
            return orig(backend, init_backend=init_backend, **kwargs)
        if backend == 'nccl':
            raise RuntimeError(
                'distributed training with the nccl backend needs CUDA '
                'devices, and none is available; use the gloo backend on '
                'CPU: --cfg-options env_cfg.dist_cfg.backend=gloo')
        torch_dist.init_process_group(backend=backend, **kwargs)

    _init_dist_pytorch._mmpose_ext_patched = True
    dist_utils._init_dist_pytorch = _init_dist_pytorch


def _patch_ddp() -> None:
    orig = MMDistributedDataParallel.__init__
    if getattr(orig, '_mmpose_ext_patched', False):
        return

    @functools.wraps(orig)
    def __init__(self, module, *args, **kwargs):
        params = list(module.parameters())
        if params and all(p.device.type == 'cpu' for p in params):
            kwargs.pop('device_ids', None)
            kwargs.pop('output_device', None)
            convert_sync_batchnorm_for_cpu(module)
        orig(self, module, *args, **kwargs)

    __init__._mmpose_ext_patched = True
    MMDistributedDataParallel.__init__ = __init__


def patch_mmengine_for_cpu_distributed() -> None:
    """Install both patches (idempotent)."""
    _patch_init_dist()
    _patch_ddp()
