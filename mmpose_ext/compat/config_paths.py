# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Let MMEngine configs inherit the plugin's configs as ``mmpose_ext::``.

Another MMPose project inherits an OpenMMLab package's config with
``_base_ = ['mmpose::body_2d_keypoint/...py']``. MMEngine 0.10.7 resolves
such a ``package::path`` (``Config._get_cfg_path``) only

1. for the packages hard-coded in ``mmengine.config.utils.MODULE2PACKAGE``
   (an ``assert``; a plugin cannot register itself);
2. for paths with a folder (the pattern ``\\w*::\\w*/\\w*``), so
   ``mmpose_ext::sg_hrnet_w32_coco.py`` is refused with a ``ValueError``;
3. in ``<get_installed_path(package)>/.mim/configs``, which for an editable
   install (``pip install -e .``) is a folder in ``site-packages`` that does
   not exist; and
4. with the package name as the registry scope (``_scope_``) of the
   inherited dicts: ``'mmpose_ext'`` has no registries of its own (the
   plugin registers into MMPose's), so the model would be looked up in
   MMEngine's root registries and not be found.

:func:`patch_mmengine_config_paths` (applied on import of :mod:`mmpose_ext`
by :mod:`mmpose_ext.compat`) wraps ``Config._get_cfg_path`` for paths that
start with ``mmpose_ext::`` only: the file is found by
:func:`mmpose_ext.utils.config_files.config_file` (the installed package's
``mmpose_ext/.mim/configs``, or a checkout's ``configs/``) and the scope is
``'mmpose'``, the registries the plugin's modules live in. Every other path
goes to MMEngine's own function unchanged.

MMEngine reads ``_base_`` before ``custom_imports``, so the patch must be in
place before the config is parsed: in a process that imported
:mod:`mmpose_ext` first (the plugin's ``tools/train.py`` and
``tools/test.py``, so ``mim train mmpose_ext`` / ``mim test mmpose_ext``,
or a script's ``import mmpose_ext``). MMPose's own tools (``mim train
mmpose``) parse the config first and cannot; there, inherit the installed
file by its path.
"""
import functools

from mmengine.config import Config

from ..utils.config_files import config_file

__all__ = ['patch_mmengine_config_paths', 'PREFIX', 'SCOPE']

#: the ``package::`` prefix resolved here
PREFIX = 'mmpose_ext::'
#: registry scope of the inherited dicts (the plugin registers into MMPose)
SCOPE = 'mmpose'


def patch_mmengine_config_paths() -> None:
    """Resolve ``mmpose_ext::<path below configs/>`` in ``_base_``
    (idempotent)."""
    orig = Config._get_cfg_path
    if getattr(orig, '_mmpose_ext_patched', False):
        return

    @functools.wraps(orig)
    def _get_cfg_path(cfg_path, filename):
        if cfg_path.startswith(PREFIX):
            return config_file(cfg_path[len(PREFIX):]), SCOPE
        return orig(cfg_path, filename)

    _get_cfg_path._mmpose_ext_patched = True
    Config._get_cfg_path = staticmethod(_get_cfg_path)
