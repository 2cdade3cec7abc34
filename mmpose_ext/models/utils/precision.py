# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Full precision islands inside mixed-precision (autocast) training.

Under ``AmpOptimWrapper`` (``--amp``) MMEngine runs the model in
``torch.autocast``: matrix products and convolutions in float16 (GPU) or
bfloat16 (CPU). A few computations of the heads must not: the RealNVP
flow's log-determinant and the likelihoods (``exp`` of values that overflow
float16 beyond 65504), sums over thousands of pixels (bfloat16 keeps 8 bits
of mantissa) and the regressed coordinates (bfloat16 resolves 1/256 of the
input width, about one pixel). :func:`full_precision` turns autocast off for
such a block and :func:`to_float32` casts its inputs; outside autocast both
are no-ops.
"""
from contextlib import contextmanager
from typing import Iterator, Tuple

import torch
from torch import Tensor

__all__ = ['full_precision', 'to_float32', 'HALF_DTYPES']

HALF_DTYPES = (torch.float16, torch.bfloat16)


@contextmanager
def full_precision(like: Tensor) -> Iterator[None]:
    """Disable autocast for the device type of ``like`` inside the block."""
    with torch.autocast(device_type=like.device.type, enabled=False):
        yield


def to_float32(*tensors: Tensor) -> Tuple[Tensor, ...]:
    """Cast float16/bfloat16 tensors to float32; others are returned as they
    are (float64 stays float64, integers stay integers)."""
    return tuple(
        t.float() if isinstance(t, Tensor) and t.dtype in HALF_DTYPES else t
        for t in tensors)
