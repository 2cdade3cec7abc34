# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""The FLOP counter of the dev kit."""
import os.path as osp

from mmpose_ext.devkit.benchmark.flops import get_complexity
from mmpose_ext.devkit.testing import tiny_hrnet_overrides, tiny_sadi_overrides


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


def test_dlm_prediction_counts_the_neck_and_the_regression(repo_root):
    """predict_from='heatmap' counts the backbone alone (the SFM is not on
    the prediction path); 'regression' adds the SFM and the fc layer,
    'average' also the rendering."""
    import torch
    from mmengine.analysis import FlopAnalyzer
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpose.registry import MODELS
    cfg = Config.fromfile(osp.join(repo_root, 'configs', 'sadi_net_mpii.py'))
    cfg.merge_from_dict(tiny_sadi_overrides(width=4))
    counts = {}
    for mode in ('heatmap', 'regression', 'average'):
        cfg.merge_from_dict({'model.test_cfg.predict_from': mode})
        counts[mode] = get_complexity(cfg, (64, 64))['flops']

    init_default_scope('mmpose')
    backbone = MODELS.build(cfg.model.backbone).eval()
    analyzer = FlopAnalyzer(backbone, (torch.zeros(1, 3, 64, 64), ))
    analyzer.unsupported_ops_warnings(False)
    assert counts['heatmap'] == analyzer.total()
    fc = cfg.model.head.in_channels * cfg.model.head.num_keypoints * 4
    # the SFM's convolutions alone are far more than the fc layer
    assert counts['regression'] - counts['heatmap'] > 10 * fc
    assert counts['average'] > counts['regression']
