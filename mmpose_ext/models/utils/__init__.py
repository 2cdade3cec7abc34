# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Model utilities (weight initialisers)."""
from .checked_pretrained import (CheckedPretrainedInit,  # noqa: F401
                                 PretrainedUnavailableError, default_init_cfg)

__all__ = [
    'CheckedPretrainedInit', 'PretrainedUnavailableError', 'default_init_cfg'
]
