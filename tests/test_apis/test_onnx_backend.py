# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""ONNX export + ONNX Runtime inference agree with PyTorch.

Tiny SG-HRNet (flip test with heatmap shift) and tiny SADI-Net (flip test +
a three-scale image pyramid, so a graph with dynamic H and W) are exported
and run through MMPose's own ``inference_topdown`` and through
:class:`TopdownInferencer`, against the PyTorch model with the exported
weights: same heatmaps (<= 1e-4) and same keypoints.

The weights are re-drawn (Kaiming init, BN statistics calibrated on random
crops): MMPose's init makes heatmaps of ~1e-4 to 1e-9 at these widths,
where argmax near-ties would make the keypoint comparison meaningless; the
heatmaps then have O(1) values and distinct peaks, like a trained model's.
"""
import os.path as osp

import numpy as np
import pytest
import torch

from mmpose_ext.apis import TopdownInferencer, init_pose_model
from mmpose_ext.apis.onnx_backend import (OnnxHeatmapSession,
                                          attach_onnx_backend, export_onnx)
from .helpers import EXPORT_BOXES, POSE_INPUT, export_test_models

BOXES = EXPORT_BOXES

pytestmark = pytest.mark.usefixtures('one_torch_thread')


@pytest.fixture(scope='module')
def image(synthetic_coco):
    import cv2
    return cv2.imread(osp.join(synthetic_coco, 'val2017', '000000000013.jpg'))


@pytest.fixture(scope='module')
def exported(tmp_path_factory, repo_root):
    """{name: (config, checkpoint, onnx)} for tiny SG-HRNet and SADI-Net."""
    out = str(tmp_path_factory.mktemp('onnx_models'))
    models = {}
    for name, cfg_path, ckpt in export_test_models(repo_root, out):
        model = init_pose_model(cfg_path, ckpt, device='cpu')
        onnx_file = osp.join(out, f'{name}.onnx')
        w, h = POSE_INPUT
        info = export_onnx(
            model, onnx_file, (1, 3, h, w), dynamic_hw=name == 'sadi_net')
        assert info['max_abs_diff'] <= 1e-4
        models[name] = (cfg_path, ckpt, onnx_file)
    return models


def _compare(a, b):
    """Largest heatmap difference, keypoint difference and the heatmap
    peak value (for scale)."""
    hm = max(
        float((x.pred_fields.heatmaps - y.pred_fields.heatmaps).abs().max())
        for x, y in zip(a, b))
    kp = max(
        float(
            np.abs(x.pred_instances.keypoints -
                   y.pred_instances.keypoints).max()) for x, y in zip(a, b))
    peak = max(float(x.pred_fields.heatmaps.abs().max()) for x in a)
    return hm, kp, peak


@pytest.mark.parametrize('name', ['sg_hrnet', 'sadi_net'])
def test_onnx_runtime_matches_pytorch(exported, image, name):
    from mmpose.apis import inference_topdown
    cfg_path, ckpt, onnx_file = exported[name]
    torch_model = init_pose_model(cfg_path, ckpt, device='cpu')
    ort_model = attach_onnx_backend(
        init_pose_model(cfg_path, None, device='cpu'), onnx_file)
    ref = inference_topdown(torch_model, image, BOXES)
    res = inference_topdown(ort_model, image, BOXES)
    hm, kp, peak = _compare(ref, res)
    assert peak > 0.1  # the comparison is about real peaks
    assert hm <= 1e-4
    assert kp <= 1e-3
    for x, y in zip(ref, res):
        np.testing.assert_allclose(
            x.pred_instances.keypoint_scores,
            y.pred_instances.keypoint_scores,
            atol=1e-4)
    # only the network changed: weights of backbone and neck are gone
    assert sum(p.numel() for p in ort_model.backbone.parameters()) == 0
    assert not ort_model.with_neck
    assert ort_model.onnx_session.onnx_file == onnx_file


def test_dynamic_axes(exported):
    _, _, sg = exported['sg_hrnet']
    _, _, sadi = exported['sadi_net']
    w, h = POSE_INPUT
    s = OnnxHeatmapSession(sg)
    assert not s.dynamic_hw
    out = s(torch.randn(3, 3, h, w))  # batch axis is dynamic
    assert out.shape == (3, 17, h // 4, w // 4)
    with pytest.raises(ValueError, match='exported for inputs'):
        s(torch.randn(1, 3, h + 32, w))
    s = OnnxHeatmapSession(sadi)
    assert s.dynamic_hw
    assert s(torch.randn(2, 3, h + 32, w + 32)).shape == \
        (2, 17, (h + 32) // 4, (w + 32) // 4)
    assert s.metadata['head'] == 'DLMHead'
    assert s.metadata['backbone'] == 'RFMHourglassNet'


def test_topdown_inferencer_with_onnx(exported, image):
    cfg_path, ckpt, onnx_file = exported['sg_hrnet']
    ref = TopdownInferencer(cfg_path, ckpt, device='cpu')(image, BOXES)
    res = TopdownInferencer(
        cfg_path, device='cpu', pose_onnx=onnx_file, onnx_threads=1)(image,
                                                                     BOXES)
    assert res.keypoints.shape == ref.keypoints.shape == (2, 17, 2)
    np.testing.assert_allclose(res.keypoints, ref.keypoints, atol=1e-3)
    np.testing.assert_allclose(
        res.keypoint_scores, ref.keypoint_scores, atol=1e-4)


def test_attach_refuses_what_the_graph_cannot_do(exported, tmp_path):
    from mmengine.config import Config
    sg_cfg, _, sg = exported['sg_hrnet']
    sadi_cfg, _, sadi = exported['sadi_net']
    # segmentation maps are not in the graph
    with pytest.raises(ValueError, match='output_seg_maps'):
        attach_onnx_backend(
            init_pose_model(
                sg_cfg,
                None,
                device='cpu',
                cfg_options={'model.test_cfg.output_seg_maps': True}), sg)
    # neither is the DLM regression
    with pytest.raises(ValueError, match='predict_from'):
        attach_onnx_backend(
            init_pose_model(
                sadi_cfg,
                None,
                device='cpu',
                cfg_options={'model.test_cfg.predict_from': 'average'}), sadi)
    # a fixed-size graph cannot serve a multi-scale test
    cfg = Config.fromfile(sadi_cfg)
    model = init_pose_model(cfg, None, device='cpu')
    fixed = str(tmp_path / 'fixed.onnx')
    w, h = POSE_INPUT
    export_onnx(model, fixed, (1, 3, h, w), dynamic_hw=False, verify=False)
    with pytest.raises(ValueError, match='--dynamic-hw'):
        attach_onnx_backend(init_pose_model(cfg, None, device='cpu'), fixed)
    with pytest.raises(FileNotFoundError):
        OnnxHeatmapSession(str(tmp_path / 'missing.onnx'))


def test_dataset_meta_travels_with_the_file(exported, tmp_path):
    """The exported model's dataset_meta (e.g. its checkpoint's) is stored in
    the file and restored with its types, replacing the fallback a model
    built from a config alone may hold."""
    cfg_path, ckpt, _ = exported['sg_hrnet']
    model = init_pose_model(cfg_path, ckpt, device='cpu')
    meta = dict(model.dataset_meta, dataset_name='from_checkpoint')
    model.dataset_meta = meta
    out = str(tmp_path / 'meta.onnx')
    w, h = POSE_INPUT
    export_onnx(model, out, (1, 3, h, w), verify=False)
    fresh = init_pose_model(cfg_path, None, device='cpu')
    fresh.dataset_meta = dict(fresh.dataset_meta, dataset_name='fallback')
    got = attach_onnx_backend(fresh, out).dataset_meta
    assert got['dataset_name'] == 'from_checkpoint'
    assert set(got) == set(meta)
    for key, value in meta.items():
        assert type(got[key]) is type(value), key
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(got[key], value)
            assert got[key].dtype == value.dtype
        else:
            assert got[key] == value, key
