# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Run OpenMMLab's own command-line tools (MMPose's, MMDet's) in-process."""
import importlib
import os.path as osp
import runpy
import sys

_VERSIONS = dict(mmpose='1.3.2', mmdet='3.3.0')


def mmpose_tool_path(name: str, package: str = 'mmpose') -> str:
    """Path of ``tools/<name>`` shipped inside the installed ``package``.

    The OpenMMLab wheels ship their tools under ``<package>/.mim/tools``
    (that is where ``mim train`` finds them); a source checkout has
    ``tools/`` beside the package.
    """
    pkg = osp.dirname(importlib.import_module(package).__file__)
    for cand in (osp.join(pkg, '.mim', 'tools',
                          name), osp.join(osp.dirname(pkg), 'tools', name)):
        if osp.isfile(cand):
            return cand
    version = _VERSIONS.get(package)
    pin = f'=={version}' if version else ''
    raise FileNotFoundError(
        f"cannot find {package}'s tools/{name} (looked in {pkg}/.mim/tools "
        f'and {osp.dirname(pkg)}/tools); reinstall {package}{pin} from PyPI')


def run_mmpose_tool(name: str, package: str = 'mmpose') -> None:
    """Execute ``package``'s ``tools/<name>`` as ``__main__`` with
    ``sys.argv`` (MMPose's by default)."""
    path = mmpose_tool_path(name, package)
    sys.argv[0] = path
    runpy.run_path(path, run_name='__main__')
