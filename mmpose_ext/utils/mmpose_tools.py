# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Run MMPose's own command-line tools in-process."""
import os.path as osp
import runpy
import sys


def mmpose_tool_path(name: str) -> str:
    """Path of ``tools/<name>`` shipped inside the installed ``mmpose``.

    The mmpose wheel ships its tools under ``mmpose/.mim/tools`` (that is
    where ``mim train`` finds them); a source checkout has ``tools/`` beside
    the package.
    """
    import mmpose
    pkg = osp.dirname(mmpose.__file__)
    for cand in (osp.join(pkg, '.mim', 'tools', name),
                 osp.join(osp.dirname(pkg), 'tools', name)):
        if osp.isfile(cand):
            return cand
    raise FileNotFoundError(
        f'cannot find MMPose\'s tools/{name} (looked in {pkg}/.mim/tools and '
        f'{osp.dirname(pkg)}/tools); reinstall mmpose==1.3.2 from PyPI')


def run_mmpose_tool(name: str) -> None:
    """Execute MMPose's ``tools/<name>`` as ``__main__`` with ``sys.argv``."""
    path = mmpose_tool_path(name)
    sys.argv[0] = path
    runpy.run_path(path, run_name='__main__')
