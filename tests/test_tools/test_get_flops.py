# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""tools/get_flops.py: parameters and FLOPs as built from a config."""
import os.path as osp
import runpy

import pytest

from mmpose_ext.devkit.testing import tiny_hrnet_overrides, to_cfg_options


@pytest.fixture(scope='module')
def get_flops(repo_root):
    return runpy.run_path(osp.join(repo_root, 'tools', 'get_flops.py'))


def test_prints_params_and_gflops(get_flops, repo_root, capsys):
    opts = to_cfg_options(tiny_hrnet_overrides(width=4, cli=True))
    res = get_flops['main']([
        osp.join(repo_root, 'configs', 'sg_hrnet_w32_coco.py'), '--shape',
        '64', '64', '--cfg-options', *opts
    ])
    out = capsys.readouterr().out
    assert 'Params:' in out and 'GFLOPs (all operators' in out
    assert 'Input shape: (1, 3, 64, 64)' in out
    assert res['shape'] == (64, 64)
    assert 0 < res['flops_conv_linear'] < res['flops']
    assert res['params'] > 0
