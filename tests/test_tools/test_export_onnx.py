# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""tools/export_onnx.py: CONFIG CKPT --out model.onnx on tiny SG-HRNet and
SADI-Net checkpoints; the graph maps crops to the heatmaps the head decodes,
with a dynamic batch axis, and ONNX Runtime agrees with PyTorch."""
import os.path as osp
import runpy

import pytest
import torch

from ..test_apis.helpers import POSE_INPUT, save_pose_model, small_pose_cfg

pytestmark = pytest.mark.usefixtures('one_torch_thread')


@pytest.fixture(scope='module')
def export_tool(repo_root):
    return runpy.run_path(osp.join(repo_root, 'tools', 'export_onnx.py'))


@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory, repo_root):
    out = str(tmp_path_factory.mktemp('export_models'))
    return {
        name: save_pose_model(small_pose_cfg(repo_root, name), out, name)
        for name in ('sg_hrnet', 'sadi_net')
    }


def _torch_heatmaps(cfg_path, ckpt, x):
    from mmpose_ext.apis import init_pose_model
    from mmpose_ext.apis.onnx_backend import HeatmapNet
    model = init_pose_model(cfg_path, ckpt, device='cpu')
    with torch.no_grad():
        return HeatmapNet(model).eval()(x)


def test_export_sg_hrnet_keypoint_heatmaps_only(export_tool, checkpoints,
                                                tmp_path, capsys):
    import onnx

    from mmpose_ext.apis.onnx_backend import OnnxHeatmapSession
    cfg_path, ckpt = checkpoints['sg_hrnet']
    out = str(tmp_path / 'sg.onnx')
    info = export_tool['main']([cfg_path, ckpt, '--out', out])
    printed = capsys.readouterr().out
    assert 'max heatmap difference' in printed
    assert info['max_abs_diff'] <= 1e-4
    w, h = POSE_INPUT
    assert info['input_shape'] == (1, 3, h, w)
    # one output: the K keypoint heatmaps, no segmentation maps
    proto = onnx.load(out)
    assert [o.name for o in proto.graph.output] == ['heatmaps']
    assert info['output_shape'] == (1, 17, h // 4, w // 4)
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == 'batch'
    assert [d.dim_value for d in dims[1:]] == [3, h, w]
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta['head'] == 'SGHeatmapHead'
    assert meta['config'] == osp.basename(cfg_path)
    # dynamic batch: batch 3 agrees with PyTorch
    x = torch.randn(3, 3, h, w)
    ort = OnnxHeatmapSession(out)(x)
    ref = _torch_heatmaps(cfg_path, ckpt, x)
    assert ort.shape == ref.shape == (3, 17, h // 4, w // 4)
    assert float((ort - ref).abs().max()) <= 1e-4


def test_export_sadi_net_h_rfm_dynamic_hw(export_tool, checkpoints, tmp_path):
    from mmpose_ext.apis.onnx_backend import OnnxHeatmapSession
    cfg_path, ckpt = checkpoints['sadi_net']
    out = str(tmp_path / 'sadi.onnx')
    w, h = POSE_INPUT
    # the helper config tests at one scale: H, W fixed unless asked
    info = export_tool['main'](
        [cfg_path, ckpt, '--out', out, '--dynamic-hw', '--batch', '2'])
    assert info['input_shape'] == (2, 3, h, w)
    assert info['dynamic_axes']['input'] == {
        0: 'batch',
        2: 'height',
        3: 'width'
    }
    session = OnnxHeatmapSession(out)
    assert session.dynamic_hw
    # H_rfm of the last stack at another input size and batch
    x = torch.randn(1, 3, h + 32, w + 32)
    ref = _torch_heatmaps(cfg_path, ckpt, x)
    got = session(x)
    assert got.shape == ref.shape == (1, 17, (h + 32) // 4, (w + 32) // 4)
    assert float((got - ref).abs().max()) <= 1e-4


def test_export_defaults_and_errors(export_tool, checkpoints, tmp_path):
    import onnx
    cfg_path, ckpt = checkpoints['sadi_net']
    # multi-scale test in the config -> H, W dynamic by default
    out = str(tmp_path / 'ms.onnx')
    export_tool['main']([
        cfg_path, ckpt, '--out', out, '--no-verify', '--cfg-options',
        'model.test_cfg.multiscale_test.scales=(0.75,1.0)'
    ])
    dims = onnx.load(out).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param for d in dims] == ['batch', '', 'height', 'width']
    # the graph has H_rfm only: predicting from the DLM is refused
    with pytest.raises(ValueError, match='predict_from'):
        export_tool['main']([
            cfg_path, ckpt, '--out',
            str(tmp_path / 'x.onnx'), '--cfg-options',
            'model.test_cfg.predict_from=regression'
        ])
    with pytest.raises(FileNotFoundError):
        export_tool['main']([
            cfg_path,
            str(tmp_path / 'none.pth'), '--out',
            str(tmp_path / 'y.onnx')
        ])


def test_export_openvino_ir_and_int8(export_tool, checkpoints, tmp_path,
                                     capsys):
    """--format openvino writes .xml/.bin/.json that run like PyTorch;
    --int8 quantizes on generated crops and prints the accuracy check."""
    pytest.importorskip('openvino')
    pytest.importorskip('nncf')
    import json

    from mmpose_ext.apis.openvino_backend import OpenVINOHeatmapSession
    cfg_path, ckpt = checkpoints['sg_hrnet']
    out = str(tmp_path / 'sg.xml')
    info = export_tool['main']([
        cfg_path, ckpt, '--format', 'openvino', '--out', out, '--int8',
        '--calib-synthetic', '5', '--full-bias-correction'
    ])
    printed = capsys.readouterr().out
    assert 'OpenVINO f32 vs PyTorch: max heatmap difference' in printed
    assert 'INT8 accuracy check on 1 held-out crops' in printed
    for f in ('sg.xml', 'sg.bin', 'sg.json', 'sg_int8.xml', 'sg_int8.bin',
              'sg_int8.json'):
        assert (tmp_path / f).is_file(), f
    side = json.load(open(tmp_path / 'sg.json'))
    assert side['config'] == osp.basename(cfg_path)
    assert side['head'] == 'SGHeatmapHead' and side['num_keypoints'] == 17
    assert info['int8']['calibration']['crops'] == 5
    assert info['int8']['calibration']['fast_bias_correction'] is False
    w, h = POSE_INPUT
    x = torch.randn(3, 3, h, w)
    got = OpenVINOHeatmapSession(out)(x)
    ref = _torch_heatmaps(cfg_path, ckpt, x)
    assert float(
        (got - ref).abs().max()) <= 1e-4 * max(1, float(ref.abs().max()))


def test_export_int8_needs_calibration_and_openvino(export_tool, checkpoints,
                                                    tmp_path):
    cfg_path, ckpt = checkpoints['sg_hrnet']
    with pytest.raises(SystemExit, match='--int8 needs --format openvino'):
        export_tool['main'](
            [cfg_path, ckpt, '--out',
             str(tmp_path / 'a.onnx'), '--int8'])
    pytest.importorskip('openvino')
    with pytest.raises(SystemExit, match='needs calibration crops'):
        export_tool['main']([
            cfg_path, ckpt, '--format', 'openvino', '--out',
            str(tmp_path / 'a.xml'), '--int8'
        ])
