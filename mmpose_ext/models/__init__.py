# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Models registered into ``mmpose.registry.MODELS``."""
from . import utils  # weight initialisers, imported first
from . import (backbones, data_preprocessors, heads, losses, necks,
               pose_estimators)
