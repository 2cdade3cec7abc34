# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Benchmarks behind ``tools/benchmark.py`` (speed, codec, data pipeline,
learning). Not imported by ``mmpose_ext`` itself; see
``docs/benchmarks.md``."""
from .codec import format_codec, run_codec
from .common import machine_info, machine_line, md_table
from .learn import GROUPS, format_learn, merge_learn, run_learn
from .pipeline import format_pipeline, run_pipeline
from .speed import format_speed, matmul_peak, run_speed

__all__ = [
    'run_speed', 'format_speed', 'matmul_peak', 'run_codec', 'format_codec',
    'run_pipeline', 'format_pipeline', 'run_learn', 'format_learn',
    'merge_learn', 'GROUPS', 'machine_info', 'machine_line', 'md_table'
]
