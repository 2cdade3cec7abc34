# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""The FLOP counter of the dev kit."""
import os.path as osp

from mmpose_ext.devkit.benchmark.flops import get_complexity
from mmpose_ext.devkit.testing import tiny_hrnet_overrides


def test_sgm_flops_match_their_convolutions(repo_root):
    """SG-HRNet - HRNet = the SGMs' convolutions (4 x (9C^2 + C) x h x w)."""
    from mmengine.config import Config
    cfg = Config.fromfile(
        osp.join(repo_root, 'configs', 'sg_hrnet_w32_coco.py'))
    cfg.merge_from_dict(tiny_hrnet_overrides(width=4))
    sg = get_complexity(cfg, (64, 64))
    cfg.merge_from_dict({
        'model.backbone.sgm_stages': (),
        'model.backbone.final_sgm': False
    })
    base = get_complexity(cfg, (64, 64))
    c, hw = 4, 16 * 16
    assert sg['flops_conv_linear'] - base['flops_conv_linear'] == \
        4 * (9 * c * c + c) * hw
    assert sg['params'] - base['params'] == 4 * (9 * c * c + c + c + 1)
