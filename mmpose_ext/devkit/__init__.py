# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""The dev kit: what developing and testing the plugin needs, not using it.

The plugin (``mmpose_ext`` with its apis, codecs, datasets, engine,
evaluation and models, what MMPose's ``custom_imports`` loads) never imports
anything from here, so none of it is loaded with the plugin.

* :mod:`.synthetic`: synthetic pose data sets in the real COCO, MPII and LSP
  file layouts, for the tests, the quick start and the benchmarks.
"""
