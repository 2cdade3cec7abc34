# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Models registered into ``mmpose.registry.MODELS``."""
from . import utils  # noqa: F401  (weight initialisers, imported first)
from . import (backbones, data_preprocessors, heads, losses,  # noqa: F401,E402
               necks, pose_estimators)
