# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""The plugin wing: what ``import mmpose_ext`` (MMPose's ``custom_imports``)
loads, and what it leaves alone."""
import json
import subprocess
import sys


def _imported_by_the_plugin():
    code = ('import json, sys; import mmpose_ext; '
            'print(json.dumps(sorted(m for m in sys.modules '
            "if m.startswith('mmpose_ext'))))")
    out = subprocess.run([sys.executable, '-c', code],
                         capture_output=True,
                         text=True,
                         check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_the_plugin_never_imports_the_dev_kit():
    modules = _imported_by_the_plugin()
    assert 'mmpose_ext.models.heads.dlm_head' in modules  # it did load
    devkit = [m for m in modules if m.startswith('mmpose_ext.devkit')]
    assert devkit == []


def test_patches_are_applied_once_and_idempotent():
    from mmengine.dist import utils as dist_utils
    from mmengine.runner.checkpoint import CheckpointLoader

    import mmpose_ext  # noqa: F401
    from mmpose_ext import compat
    from mmpose_ext.compat.checkpoint import load_from_local
    before = dist_utils._init_dist_pytorch
    compat.apply()
    assert dist_utils._init_dist_pytorch is before  # not wrapped twice
    assert CheckpointLoader._schemes[''] is load_from_local
