# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Parameters and FLOPs of the model of a config: the one FLOP counter of
the project (``tools/get_flops.py``, the speed and inference benchmarks).

MMEngine's analysis tools (``mmengine.analysis.FlopAnalyzer``) on one input
of shape (1, 3, H, W) in ``mode='tensor'`` (backbone + head, no flip test;
a head whose prediction is not its forward, e.g. ``DLMHead`` with
``predict_from='average'``, is counted along its prediction path),
the model built exactly as the runner builds it. MMEngine counts one
multiply-add as one FLOP, for every operator (BN, upsampling, ... included);
papers in the HRNet line (HRNet, SG-HRNet: 28.5M / 7.1 GFLOPs) count only
convolutions and linear layers, so both are returned.
"""
from typing import Dict, Optional, Sequence

import torch
from mmengine.analysis import FlopAnalyzer
from mmengine.analysis.print_helper import complexity_stats_table
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpose.registry import MODELS

from mmpose_ext.models.heads.interface import as_topdown_head

#: operators counted as "conv + linear"
CONV_LINEAR_OPS = ('conv', 'linear', 'addmm', 'matmul', 'bmm', 'einsum')


def default_shape(cfg: Config) -> Sequence[int]:
    """(H, W) of the codec's input (``input_size`` is (w, h))."""
    decoder = cfg.model.get('head', {}).get('decoder', None)
    if decoder is None:
        decoder = cfg.get('codec', None)
    if decoder is None or 'input_size' not in decoder:
        return (256, 192)
    w, h = decoder['input_size']
    return (h, w)


def get_complexity(cfg: Config, shape: Optional[Sequence[int]] = None) -> Dict:
    """Build ``cfg.model`` and count its parameters and FLOPs.

    Args:
        cfg (Config): A pose config.
        shape (Sequence[int], optional): Input (H, W); default: the codec's.

    Returns:
        dict: ``params`` (int), ``flops`` (int, every operator),
        ``flops_conv_linear`` (int, convolutions and linear layers only),
        ``shape`` (H, W), ``table`` (str, MMEngine's per-module table).
    """
    init_default_scope(cfg.get('default_scope', 'mmpose'))
    model = MODELS.build(cfg.model)  # no init_weights(): nothing downloaded
    model.eval()
    # count backbone + head as MMPose's get_flops does (mode='tensor'),
    # unless the head predicts through another path (DLMHead with
    # predict_from='average' / 'regression': neck + DLM); no flip
    model.forward = model._forward
    test_cfg = dict(model.test_cfg or {}, flip_test=False)
    head = as_topdown_head(model.head) if model.with_head else None
    if head is not None and not head.forward_is_prediction(test_cfg):

        def predict_path(x):
            feats = model.extract_feat(x)
            if head.prediction_source(test_cfg) == 'coordinate':
                return head.predict_coordinates(feats, [], test_cfg)
            return head.predict_heatmaps(feats, [], test_cfg)

        model.forward = predict_path
    h, w = shape if shape is not None else default_shape(cfg)
    inputs = (torch.zeros(1, 3, h, w), )
    with torch.no_grad():
        analyzer = FlopAnalyzer(model, inputs)
        analyzer.unsupported_ops_warnings(False)
        analyzer.uncalled_modules_warnings(False)
        flops = analyzer.total()
        by_op = analyzer.by_operator()
    conv_linear = sum(v for k, v in by_op.items() if any(
        k.startswith(op) for op in CONV_LINEAR_OPS))
    params = sum(p.numel() for p in model.parameters())
    return dict(
        params=params,
        flops=flops,
        flops_conv_linear=conv_linear,
        shape=(h, w),
        table=complexity_stats_table(
            analyzer, max_depth=2, show_param_shapes=False))
