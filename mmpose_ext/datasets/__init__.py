# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Datasets registered into ``mmpose.registry.DATASETS``: LSP /
LSP-extended, and the ``SkipBadSamples`` wrapper."""
from .lsp import LspDataset  # noqa: F401
from .robust_dataset import BadSampleError, SkipBadSamples  # noqa: F401
