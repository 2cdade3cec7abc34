# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
from .sg_heatmap_head import SGHeatmapHead  # noqa: F401
from .dlm_head import DLMHead  # noqa: F401
