# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Datasets (``DATASETS``), data transforms (``TRANSFORMS``) and the synthetic data generator."""
from . import transforms  # noqa: F401
from .lsp import LspDataset  # noqa: F401
from .robust_dataset import BadSampleError, SkipBadSamples  # noqa: F401
