# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
from .rfm_hourglass import RFMBlock, RFMHourglassNet
from .sg_hrnet import SegmentationGuidedModule, SGHRNet
