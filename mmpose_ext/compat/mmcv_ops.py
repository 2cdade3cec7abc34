# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Run MMPose and MMDet on ``mmcv-lite`` (mmcv without compiled ops).

``mmcv-lite`` is the pure-Python build of the same ``mmcv`` package: it
installs in seconds, where the full ``mmcv`` must be compiled from source on
every machine without a matching wheel (10-16 min on 2 cores). It lacks the
extension module ``mmcv._ext``, and ``import mmpose.models`` and
``import mmdet.models`` fail on it, because ``mmcv.ops`` loads ``_ext`` at
import time although a top-down heatmap model runs no mmcv op.

:func:`use_torch_ops_if_lite` (applied on import of :mod:`mmpose_ext`,
before anything imports ``mmcv.ops``) puts :class:`TorchOpsExtModule` in
``sys.modules['mmcv._ext']`` when the compiled module is missing. It
implements, with torch / torchvision, exactly the ops that the plugin's
models, its detector configs and MMDet's usual person detectors run:

=====================  =====================================================
``_ext`` op            implementation
=====================  =====================================================
``nms``                ``torchvision.ops.nms`` (``offset`` 1: boxes grown by
                       one pixel, mmcv's legacy area convention); used by
                       ``mmcv.ops.nms`` and ``batched_nms`` (RTMDet, YOLOX,
                       RetinaNet, Faster R-CNN's RPN and heads)
``roi_align_forward``  ``torchvision.ops.roi_align`` (``pool_mode='avg'``;
``roi_align_backward`` ``aligned`` and ``sampling_ratio`` as mmcv); two-stage
                       detectors' ``RoIAlign`` (Faster / Mask R-CNN)
=====================  =====================================================

Any other op raises :class:`MmcvOpUnavailableError` naming the op and the
way to install the compiled mmcv. With the compiled mmcv installed nothing
is changed. Import :mod:`mmpose_ext` (or use ``custom_imports``) before
``mmpose.apis`` / ``mmdet.apis`` so that the stand-in is in place first.
"""
import importlib
import importlib.machinery
import importlib.util
import sys
import types

import torch
import torchvision

#: the fix named by every error of the stand-in module
FULL_MMCV_HINT = ('install the compiled mmcv: `bash tools/install.sh '
                  '--mmcv-full` in a checkout of mmpose_ext, or `pip '
                  'uninstall -y mmcv-lite && MMCV_WITH_OPS=1 pip install '
                  '--no-build-isolation mmcv==2.1.0`')


class MmcvOpUnavailableError(NotImplementedError):
    """An mmcv op that needs the compiled ``mmcv._ext`` was called on
    ``mmcv-lite``."""


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float,
        offset: int) -> torch.Tensor:
    """mmcv's ``_ext.nms``: indices (int64) of the kept boxes, by
    decreasing score.

    Args:
        boxes (Tensor): (N, 4) x1, y1, x2, y2.
        scores (Tensor): (N,).
        iou_threshold (float): Boxes overlapping a kept one by more are
            dropped.
        offset (int): 0, or 1 for mmcv's legacy convention (width
            ``x2 - x1 + 1``), realised by growing x2 and y2 by one.
    """
    if offset not in (0, 1):
        raise ValueError(f'nms offset must be 0 or 1, got {offset!r}')
    if offset:
        boxes = torch.cat([boxes[:, :2], boxes[:, 2:] + offset], dim=1)
    # mmcv's kernel holds the threshold in float32, torchvision's in double:
    # round it as mmcv does, so that an IoU equal to the threshold (common
    # with integer boxes) is kept by both
    threshold = torch.tensor(float(iou_threshold), dtype=torch.float32)
    return torchvision.ops.nms(boxes, scores, threshold.item())


def _check_avg_pool(pool_mode: int) -> None:
    if pool_mode != 1:
        raise MmcvOpUnavailableError(
            "roi_align with pool_mode='max' has no torchvision "
            f'implementation (mmcv-lite); {FULL_MMCV_HINT}')


def roi_align_forward(input: torch.Tensor, rois: torch.Tensor,
                      output: torch.Tensor, argmax_y: torch.Tensor,
                      argmax_x: torch.Tensor, aligned_height: int,
                      aligned_width: int, spatial_scale: float,
                      sampling_ratio: int, pool_mode: int,
                      aligned: bool) -> None:
    """mmcv's ``_ext.roi_align_forward``: writes the pooled features of
    ``rois`` (R, 5: batch index, x1, y1, x2, y2) from ``input`` (N, C, H, W)
    into ``output`` (R, C, aligned_height, aligned_width). ``argmax_*``
    serve ``pool_mode=0`` ('max') only, which is not available here."""
    _check_avg_pool(pool_mode)
    output.copy_(
        torchvision.ops.roi_align(input, rois, (aligned_height, aligned_width),
                                  spatial_scale, sampling_ratio, aligned))


def roi_align_backward(grad_output: torch.Tensor, rois: torch.Tensor,
                       argmax_y: torch.Tensor, argmax_x: torch.Tensor,
                       grad_input: torch.Tensor, aligned_height: int,
                       aligned_width: int, spatial_scale: float,
                       sampling_ratio: int, pool_mode: int,
                       aligned: bool) -> None:
    """mmcv's ``_ext.roi_align_backward``: writes the gradient w.r.t. the
    input (N, C, H, W) into ``grad_input``, with torchvision's kernel."""
    _check_avg_pool(pool_mode)
    n, c, h, w = grad_input.shape
    grad_input.copy_(
        torch.ops.torchvision._roi_align_backward(grad_output, rois,
                                                  spatial_scale,
                                                  aligned_height,
                                                  aligned_width, n, c, h, w,
                                                  sampling_ratio, aligned))


#: the ops the stand-in implements
TORCH_OPS = {
    'nms': nms,
    'roi_align_forward': roi_align_forward,
    'roi_align_backward': roi_align_backward,
}


class TorchOpsExtModule(types.ModuleType):
    """Stands in for ``mmcv._ext`` on mmcv-lite: :data:`TORCH_OPS`, and for
    any other op name a function raising :class:`MmcvOpUnavailableError`
    (so ``mmcv.ops`` imports, and only calling a missing op fails)."""

    def __init__(self):
        super().__init__('mmcv._ext', __doc__)
        # no loader: MMEngine's mmcv_full_available() reads False, truly
        self.__spec__ = importlib.machinery.ModuleSpec('mmcv._ext', None)
        for name, fn in TORCH_OPS.items():
            setattr(self, name, fn)

    def __getattr__(self, name: str):
        if name.startswith('__'):
            raise AttributeError(name)

        def unavailable(*args, **kwargs):
            raise MmcvOpUnavailableError(
                f'mmcv op {name!r} is not available: this environment has '
                'mmcv-lite (no compiled ops), and mmpose_ext provides only '
                f'{sorted(TORCH_OPS)} in torch; {FULL_MMCV_HINT}')

        unavailable.__name__ = name
        return unavailable


def compiled_ops_available() -> bool:
    """Whether the compiled ``mmcv._ext`` is importable (the stand-in does
    not count)."""
    if isinstance(sys.modules.get('mmcv._ext'), TorchOpsExtModule):
        return False
    try:
        importlib.import_module('mmcv._ext')
    except ImportError:
        return False
    return True


def use_torch_ops_if_lite() -> bool:
    """Install :class:`TorchOpsExtModule` as ``mmcv._ext`` when the compiled
    module is missing (idempotent; no-op with the compiled mmcv or without
    mmcv).

    Returns:
        bool: Whether the stand-in is in use.
    """
    if isinstance(sys.modules.get('mmcv._ext'), TorchOpsExtModule):
        return True
    if importlib.util.find_spec('mmcv') is None or compiled_ops_available():
        return False
    stand_in = TorchOpsExtModule()
    sys.modules['mmcv._ext'] = stand_in
    setattr(importlib.import_module('mmcv'), '_ext', stand_in)
    return True
