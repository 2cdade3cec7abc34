# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Runner hooks registered into ``mmpose.registry.HOOKS``."""
from . import hooks  # noqa: F401
from . import loops  # noqa: F401
from . import dist_compat  # noqa: F401  (CPU --launcher pytorch)
