# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""MMPose's `tools/train.py` with the mmpose_ext plugin imported first.

Same arguments and behaviour as MMPose's script (run with ``-h``); importing
``mmpose_ext`` registers the plugin's modules and installs its safe
checkpoint loader, so configs without ``custom_imports`` work too::

    python tools/train.py CONFIG ...
"""
import mmpose_ext  # noqa: F401  (registers modules, safe checkpoint loader)
from mmpose_ext.devkit.mmpose_tools import run_mmpose_tool

if __name__ == '__main__':
    run_mmpose_tool('train.py')
