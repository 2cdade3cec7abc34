# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""tools/get_flops.py: parameters and FLOPs as built from a config."""
import os.path as osp
import runpy

import pytest

from mmpose_ext.testing import tiny_hrnet_overrides, to_cfg_options


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


def test_sgm_flops_match_their_convolutions(get_flops, repo_root):
    """SG-HRNet - HRNet = the SGMs' convolutions (4 x (9C^2 + C) x h x w)."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(repo_root, 'configs',
                                   'sg_hrnet_w32_coco.py'))
    cfg.merge_from_dict(tiny_hrnet_overrides(width=4))
    sg = get_flops['get_complexity'](cfg, (64, 64))
    cfg.merge_from_dict({'model.backbone.sgm_stages': (),
                         'model.backbone.final_sgm': False})
    base = get_flops['get_complexity'](cfg, (64, 64))
    c, hw = 4, 16 * 16
    assert sg['flops_conv_linear'] - base['flops_conv_linear'] == \
        4 * (9 * c * c + c) * hw
    assert sg['params'] - base['params'] == 4 * (9 * c * c + c + c + 1)
