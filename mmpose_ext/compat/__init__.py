# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Every patch the plugin makes to a third-party library, in one place.

:func:`apply` installs them, once, when :mod:`mmpose_ext` is imported (so
through MMPose's ``custom_imports`` too). Each is idempotent and each fixes
a hard failure of the pinned stack without changing what works:

================================  ==========================================
``mmcv._ext`` (mmcv-lite only)    :mod:`.mmcv_ops`: mmcv-lite has no compiled
                                  ops and ``import mmpose.models`` /
                                  ``mmdet.models`` fail on it; a stand-in
                                  ``mmcv._ext`` with torch / torchvision
                                  ``nms`` and ``roi_align``, and a clear
                                  error for any other op. Installed first,
                                  and only when the compiled module is
                                  missing.
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
MMEngine ``Config._get_cfg_path`` :mod:`.config_paths`: a ``_base_`` of
(``pkg::`` in ``_base_``)         ``mmpose_ext::sg_hrnet_w32_coco.py`` is
                                  refused (the package is not in MMEngine's
                                  hard-coded table, the path has no
                                  folder); resolve ``mmpose_ext::`` paths,
                                  only those, in the installed package's
                                  ``.mim/configs`` (or a checkout's
                                  ``configs/``) with MMPose's registry scope.
MMEngine metrics'                  :mod:`.collect`: ``collect_device='cpu'``
``collect_results``               writes each rank's results under rank 0's
                                  working directory, which needs a shared
                                  file system (other nodes fail, rank 0
                                  hangs); send them to rank 0 over the
                                  process group instead, and raise
                                  :class:`ResultCollectionError` on every
                                  rank when the parts do not cover the data
                                  set.
MMEngine ``AmpOptimWrapper``      :mod:`.amp`: ``--amp`` asserts a GPU;
(no accelerator)                  without one, bfloat16 CPU autocast (the
                                  only CPU autocast type) with loss scaling
                                  off (bfloat16 has float32's range).
MMPose ``to_numpy``               :mod:`.amp`: numpy has no bfloat16, so
                                  MMPose's heads fail under bfloat16
                                  autocast; bfloat16 tensors convert as
                                  float32 (exact).
================================  ==========================================
"""
from .amp import patch_mmengine_amp_for_cpu, patch_mmpose_to_numpy_for_bfloat16
from .checkpoint import (CorruptCheckpointError, UnsafeCheckpointError,
                         register_safe_local_loader, safe_torch_load)
from .collect import (ResultCollectionError, collect_results_without_files,
                      patch_mmengine_collect_results)
from .config_paths import patch_mmengine_config_paths
from .dist import (CPUSyncBatchNorm, convert_sync_batchnorm_for_cpu,
                   patch_mmengine_for_cpu_distributed)
from .mmcv_ops import (MmcvOpUnavailableError, compiled_ops_available,
                       use_torch_ops_if_lite)

__all__ = [
    'apply', 'safe_torch_load', 'UnsafeCheckpointError',
    'CorruptCheckpointError', 'CPUSyncBatchNorm',
    'convert_sync_batchnorm_for_cpu', 'MmcvOpUnavailableError',
    'compiled_ops_available', 'ResultCollectionError',
    'collect_results_without_files'
]


def apply() -> None:
    """Install every patch listed in the module docstring (idempotent)."""
    use_torch_ops_if_lite()  # before anything imports mmcv.ops
    register_safe_local_loader()
    patch_mmengine_for_cpu_distributed()
    patch_mmengine_config_paths()
    patch_mmengine_collect_results()
    patch_mmengine_amp_for_cpu()
    patch_mmpose_to_numpy_for_bfloat16()
