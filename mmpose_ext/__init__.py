# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""mmpose_ext: an MMPose 1.x extension plugin.

Importing this package registers every codec, dataset, metric, hook and
model it defines into MMPose's own registries, so another MMPose project
only needs::

    custom_imports = dict(imports=['mmpose_ext'], allow_failed_imports=False)

and applies, once, the patches of third-party libraries listed in
:mod:`mmpose_ext.compat` (a safe checkpoint loader for torch >= 2.6, CPU
distributed training). The dev kit (:mod:`mmpose_ext.devkit`: synthetic
data, test fixtures, benchmarks) is never imported by the plugin.
"""
from . import compat
from .version import __version__

compat.apply()

# after the patches, so that modules binding patched names get the patched ones
from . import codecs, datasets, engine, evaluation, models  # noqa: E402

__all__ = ['__version__']
