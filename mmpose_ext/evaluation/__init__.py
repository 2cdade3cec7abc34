# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Metrics registered into ``mmpose.registry.METRICS``."""
from . import metrics
