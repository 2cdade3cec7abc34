# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
from .dlm_head import DLMHead
from .sg_heatmap_head import SGHeatmapHead
