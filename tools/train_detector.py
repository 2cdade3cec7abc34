# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""MMDet's `tools/train.py` with the mmpose_ext plugin imported first.

Same arguments and behaviour as MMDet's script (run with ``-h``); importing
``mmpose_ext`` installs its safe checkpoint loader (``--resume``,
``load_from``). Used by the quick start to train the person detector::

    python tools/train_detector.py \\
        configs/detectors/rtmdet_tiny_person_synthetic.py \\
        --work-dir work_dirs/rtmdet_tiny_person
"""
import mmpose_ext  # noqa: F401  (safe checkpoint loader)
from mmpose_ext.devkit.mmpose_tools import run_mmpose_tool

if __name__ == '__main__':
    run_mmpose_tool('train.py', package='mmdet')
