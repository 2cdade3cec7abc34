# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
from .sfm import SpatialFusionModule
