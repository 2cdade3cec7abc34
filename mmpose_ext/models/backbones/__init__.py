# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
from .sg_hrnet import SegmentationGuidedModule, SGHRNet  # noqa: F401
from .rfm_hourglass import RFMBlock, RFMHourglassNet  # noqa: F401
