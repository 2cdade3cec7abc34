# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Gradient scaling: identity forward, scaled backward.

SADI-Net's DLM (neck + head) sits on the hourglass that also gives H_rfm.
Its own parameters should learn from the RLE likelihood at the likelihood's
natural weight, while the hourglass should only feel a small share of it
(the NLL's gradient is thousands of times L_rfm's, docs/sadi_net.md, "Loss
weights"). :func:`scale_grad` at the neck's input decouples the two: the
loss weight sets how fast the DLM learns, the scale sets how hard it pulls
on the shared features.
"""
import torch
from torch import Tensor


class _ScaleGrad(torch.autograd.Function):
    """``y = x``; ``dL/dx = scale * dL/dy``."""

    @staticmethod
    def forward(ctx, x: Tensor, scale: float) -> Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor):
        return grad * ctx.scale, None


def scale_grad(x: Tensor, scale: float) -> Tensor:
    """``x`` unchanged in the forward pass; its gradient times ``scale`` in
    the backward pass.

    Args:
        x (Tensor): Any tensor.
        scale (float): Gradient factor, >= 0. 1 returns ``x`` itself (no
            node in the graph); 0 returns ``x.detach()`` (no gradient flows,
            and none is computed upstream).

    Returns:
        Tensor: ``x``'s values, same shape.
    """
    if scale == 1:
        return x
    if scale == 0:
        return x.detach()
    if not scale > 0:
        raise ValueError(f'gradient scale must be >= 0, got {scale}')
    return _ScaleGrad.apply(x, float(scale))
