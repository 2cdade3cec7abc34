# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Model utilities (weight initialisers)."""
from .optional_pretrained import OptionalPretrainedInit  # noqa: F401

__all__ = ['OptionalPretrainedInit']
