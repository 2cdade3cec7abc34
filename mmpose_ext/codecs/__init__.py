# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
from .disk_seg_heatmap import DiskSegHeatmap
