# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Datasets registered into ``mmpose.registry.DATASETS``: LSP /
LSP-extended, and the ``SkipBadSamples`` wrapper."""
from .lsp import LspDataset
from .robust_dataset import BadSampleError, SkipBadSamples
