# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Runner hooks and loops registered into ``mmpose.registry``."""
from . import hooks, loops, runner_check
