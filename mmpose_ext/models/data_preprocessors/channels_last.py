# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""MMPose's data preprocessor, with the batch handed on channels_last.

PyTorch runs a convolution in channels_last (NHWC) as soon as its input is,
and its outputs stay so, so the whole network follows; oneDNN's CPU
convolutions then skip the NCHW <-> blocked layout reorders around every
call. The parameters keep their layout, so optimizers, checkpoints, EMA
and DDP's gradient buckets are untouched.

Measured here (``docs/benchmarks.md``, 1 thread, process CPU time,
SG-HRNet-W32, 256x192, batch 8): a training step (forward, backward, Adam)
takes 446 instead of 554 ms per image (1.24x), the same as converting the
weights themselves (441 ms). GPUs were not measured, so by default the
conversion is applied on CPU only.
"""
from typing import Sequence

import torch
from mmpose.models.data_preprocessors import PoseDataPreprocessor
from mmpose.registry import MODELS

__all__ = ['ChannelsLastPoseDataPreprocessor']


@MODELS.register_module()
class ChannelsLastPoseDataPreprocessor(PoseDataPreprocessor):
    """:class:`~mmpose.models.PoseDataPreprocessor` whose ``inputs`` come
    out channels_last on the given devices.

    Config (every other argument is ``PoseDataPreprocessor``'s)::

        model = dict(data_preprocessor=dict(
            type='ChannelsLastPoseDataPreprocessor'))

    Args:
        devices (Sequence[str]): Device types (``'cpu'``, ``'cuda'``, ...)
            on which the batch is made channels_last; elsewhere it is left
            as ``PoseDataPreprocessor`` makes it. Defaults to ``('cpu', )``.
        **kwargs: Arguments of ``PoseDataPreprocessor``.
    """

    def __init__(self, devices: Sequence[str] = ('cpu', ), **kwargs):
        super().__init__(**kwargs)
        if isinstance(devices,
                      str) or not all(isinstance(d, str) for d in devices):
            raise ValueError('devices must be a sequence of device types '
                             f"such as ('cpu', 'cuda'), got {devices!r}")
        self.devices = tuple(devices)

    def forward(self, data: dict, training: bool = False) -> dict:
        """``PoseDataPreprocessor.forward``, then ``inputs`` (N, C, H, W)
        stored channels_last (same shape and values)."""
        data = super().forward(data, training)
        inputs = data['inputs']
        if (isinstance(inputs, torch.Tensor) and inputs.dim() == 4
                and inputs.device.type in self.devices):
            data['inputs'] = inputs.contiguous(
                memory_format=torch.channels_last)
        return data
