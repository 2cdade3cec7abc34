# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Faster PyTorch inference on CPU for a built pose estimator.

Measured on the project machine (``docs/benchmarks.md``, SG-HRNet-W32,
256x192, batch 1): folding every BatchNorm into the convolution before it
and storing the weights ``channels_last`` (oneDNN's native layout, so no
reorder per convolution) cuts the network time by about a fifth, with the
same heatmaps up to float rounding (~1e-6). ``torch.compile`` (Inductor,
with ``freezing``) is faster still (1.5x) but compiles for 45-100 s per
input shape on two cores, so it is opt-in. ONNX Runtime
(:mod:`mmpose_ext.apis.onnx_backend`) is the fastest CPU path.
"""
from typing import Optional

import torch
from mmcv.cnn import fuse_conv_bn
from torch import nn

__all__ = ['optimize_for_cpu']


def optimize_for_cpu(model: nn.Module,
                     fuse_bn: bool = True,
                     channels_last: bool = True,
                     compile: bool = False,
                     verify: bool = True,
                     atol: float = 1e-4) -> nn.Module:
    """Make a pose estimator's inference faster on CPU, in place.

    Only the network's weights change form (BN folded into convolutions,
    memory layout); the data preprocessor, ``test_cfg`` and the head's
    decoding are untouched, so ``test_step`` / ``inference_topdown`` work as
    before. The model can no longer be trained (its BatchNorms are gone).

    Args:
        model (nn.Module): A pose estimator (weights loaded).
        fuse_bn (bool): Fold BatchNorm layers into the preceding
            convolutions (``mmcv.cnn.fuse_conv_bn``). Defaults to True.
        channels_last (bool): Store 4-D weights channels_last; inputs stay
            NCHW (convolutions follow the weights' layout). Defaults to True.
        compile (bool): Also ``torch.compile`` the backbone, neck and head
            forward, with Inductor's ``freezing`` switched on for the
            process (``torch._inductor.config.freezing = True``); the first
            call per input shape compiles (45-100 s here). Defaults to
            False.
        verify (bool): Compare ``mode='tensor'`` outputs before and after
            on a random input of the codec's size. Defaults to True.
        atol (float): Largest difference accepted by ``verify``, relative to
            the largest output magnitude (at least 1). Defaults to 1e-4.

    Returns:
        nn.Module: ``model`` in eval mode.

    Raises:
        ValueError: ``verify`` found a larger difference (the model has
            been modified: rebuild it).
    """
    model.eval()
    x = ref = None
    if verify:
        decoder = getattr(getattr(model, 'head', None), 'decoder', None)
        w, h = getattr(decoder, 'input_size', (192, 256))
        x = torch.randn(1, 3, h, w)
        with torch.no_grad():
            ref = _tensor_out(model(x, None, mode='tensor'))
    if fuse_bn:
        fuse_conv_bn(model)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    if compile:
        # Inductor's freezing (BN folding, weight prepacking) is read from
        # its global config when a graph compiles (lazily, at each new input
        # shape); passing it in torch.compile(options=...) does not apply it
        # (measured: 1.17x vs 1.52x). This sets it for the whole process.
        # Inductor is heavy to import and only needed with compile=True
        import torch._inductor.config as inductor_config  # noqa: PLC0415
        inductor_config.freezing = True
        for name in ('backbone', 'neck', 'head'):
            part: Optional[nn.Module] = getattr(model, name, None)
            if part is not None:
                part.forward = torch.compile(part.forward)
    if verify:
        with torch.no_grad():
            out = _tensor_out(model(x, None, mode='tensor'))
        diff = float((out - ref).abs().max())
        tol = atol * max(1.0, float(ref.abs().max()))
        if not diff <= tol:
            raise ValueError(
                f'optimize_for_cpu changed the outputs by {diff:.3g} '
                f'(> {tol:.3g}); the model is not supported by this '
                'rewrite (rebuild it and use it unoptimised)')
    return model.eval()


def _tensor_out(out):
    while isinstance(out, (list, tuple)):
        out = out[-1]
    return out
