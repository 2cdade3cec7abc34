# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""mmpose_ext: an MMPose 1.x extension plugin.

Importing this package registers every codec, transform, dataset, metric,
hook and model it defines into MMPose's own registries, so another MMPose
project only needs::

    custom_imports = dict(imports=['mmpose_ext'], allow_failed_imports=False)

It also installs a safe checkpoint loader for torch >= 2.6 (see
:mod:`mmpose_ext.utils.checkpoint`).
"""
from .version import __version__  # noqa: F401
from .utils import checkpoint as _checkpoint  # noqa: F401  (safe loader)
from . import codecs, datasets, engine, evaluation, models  # noqa: F401,E402

__all__ = ['__version__']
