# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Every patch the plugin makes to a third-party library, in one place.

:func:`apply` installs them, once, when :mod:`mmpose_ext` is imported (so
through MMPose's ``custom_imports`` too). Each is idempotent and each fixes
a hard failure of the pinned stack without changing what works:

================================  ==========================================
MMEngine ``CheckpointLoader``,    :mod:`.checkpoint`: torch >= 2.6 loads with
local paths                       ``weights_only=True`` and MMEngine 0.10.7's
                                  own checkpoints then fail; a loader that
                                  keeps ``weights_only=True`` with an
                                  allow-list of the plain-data types they
                                  hold (a pickle that would run code is
                                  refused).
MMEngine ``_init_dist_pytorch``   :mod:`.dist`: ``--launcher pytorch`` on a
and ``MMDistributedDataParallel`` machine without CUDA (gloo): skip
                                  ``set_device``, drop ``device_ids``, and run
                                  ``SyncBN`` as :class:`CPUSyncBatchNorm`.
================================  ==========================================
"""
from .checkpoint import (CorruptCheckpointError, UnsafeCheckpointError,
                         register_safe_local_loader, safe_torch_load)
from .dist import (CPUSyncBatchNorm, convert_sync_batchnorm_for_cpu,
                   patch_mmengine_for_cpu_distributed)

__all__ = [
    'apply', 'safe_torch_load', 'UnsafeCheckpointError',
    'CorruptCheckpointError', 'CPUSyncBatchNorm',
    'convert_sync_batchnorm_for_cpu'
]


def apply() -> None:
    """Install every patch listed in the module docstring (idempotent)."""
    register_safe_local_loader()
    patch_mmengine_for_cpu_distributed()
