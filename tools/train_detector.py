# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""MMDet's `tools/train.py` with the mmpose_ext plugin imported first.

Same arguments and behaviour as MMDet's script (run with ``-h``); importing
``mmpose_ext`` installs its safe checkpoint loader (``--resume``,
``load_from``). Used by the quick start to train the person detector::

    python tools/train_detector.py \\
        configs/detectors/rtmdet_tiny_person_synthetic.py \\
        --work-dir work_dirs/rtmdet_tiny_person
"""
import os.path as osp
import runpy
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)


def mmdet_tool_path(name: str) -> str:
    """Path of ``tools/<name>`` shipped in the installed ``mmdet`` wheel
    (``mmdet/.mim/tools``, where ``mim train mmdet`` finds it)."""
    import mmdet
    pkg = osp.dirname(mmdet.__file__)
    for cand in (osp.join(pkg, '.mim', 'tools', name),
                 osp.join(osp.dirname(pkg), 'tools', name)):
        if osp.isfile(cand):
            return cand
    raise FileNotFoundError(
        f"cannot find MMDet's tools/{name} (looked in {pkg}/.mim/tools and "
        f'{osp.dirname(pkg)}/tools); reinstall mmdet==3.3.0 from PyPI')


if __name__ == '__main__':
    import mmpose_ext  # noqa: F401  (safe checkpoint loader)
    path = mmdet_tool_path('train.py')
    sys.argv[0] = path
    runpy.run_path(path, run_name='__main__')
