# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Model utilities: weight initialisers, the DLM's heatmap renderers."""
from .checked_pretrained import (CheckedPretrainedInit,
                                 PretrainedUnavailableError, default_init_cfg)
from .flow_heatmap_renderer import (BaseDensityRenderer, FlowExactRenderer,
                                    FlowLatticeRenderer)

__all__ = [
    'CheckedPretrainedInit', 'PretrainedUnavailableError', 'default_init_cfg',
    'BaseDensityRenderer', 'FlowExactRenderer', 'FlowLatticeRenderer'
]
