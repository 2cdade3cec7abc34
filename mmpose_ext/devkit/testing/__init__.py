# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Fixtures of the tests, the quick start and the benchmarks.

* :mod:`.overrides`: config overrides for small CPU runs (tiny widths,
  generated data paths, small batches), usable with
  ``Config.merge_from_dict`` or as ``--cfg-options``;
* :mod:`.corrupt`: a generated COCO data set with broken samples;
* :mod:`.faults`: fault-injection hooks for the reliability tests
  (registered when imported; never in a real config).
"""
from .corrupt import corrupt_coco_dataset
from .overrides import (COCO_BBOX_FILE, NO_PRETRAINED_WEIGHTS,
                        coco_data_overrides, cpu_runtime_overrides,
                        hrnet_init_cfg, tiny_hrnet_extra, tiny_hrnet_overrides,
                        tiny_sadi_overrides, to_cfg_options)
