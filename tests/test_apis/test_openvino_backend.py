# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""OpenVINO IR export and the OpenVINO backend (f32, bf16, int8).

Tiny SG-HRNet (flip test with heatmap shift) and tiny SADI-Net (flip test +
three-scale pyramid: dynamic H and W) with peaked random weights (see
``helpers.save_pose_model``), exported to IR and run through MMPose's
``inference_topdown`` and :class:`TopdownInferencer` against the PyTorch
model: f32 keypoints equal to eager's within 1e-3 px, bf16 within a few
pixels of the 96x128 crop, int8 quantization runs on a handful of crops and
reports its accuracy check; a side file that does not match its IR, an
IR for another keypoint set, and bf16 on a CPU without bf16 (capability
query mocked) are refused with messages that name the fix.
"""
import json
import os.path as osp
import shutil

import numpy as np
import pytest
import torch

from mmpose_ext.apis import TopdownInferencer, init_pose_model
from .helpers import EXPORT_BOXES, POSE_INPUT, export_test_models

ov = pytest.importorskip('openvino')

BOXES = EXPORT_BOXES

pytestmark = pytest.mark.usefixtures('one_torch_thread')


@pytest.fixture(scope='module')
def image(synthetic_coco):
    import cv2
    return cv2.imread(osp.join(synthetic_coco, 'val2017', '000000000013.jpg'))


@pytest.fixture(scope='module')
def exported(tmp_path_factory, repo_root):
    """{name: (config, checkpoint, xml)} for tiny SG-HRNet and SADI-Net."""
    from mmpose_ext.apis.openvino_backend import export_openvino
    out = str(tmp_path_factory.mktemp('ov_models'))
    models = {}
    for name, cfg_path, ckpt in export_test_models(repo_root, out):
        model = init_pose_model(cfg_path, ckpt, device='cpu')
        xml = osp.join(out, f'{name}.xml')
        w, h = POSE_INPUT
        info = export_openvino(
            model, xml, (1, 3, h, w), dynamic_hw=name == 'sadi_net')
        assert info['max_abs_diff'] <= 1e-4 * max(1, info['max_abs_heatmap'])
        models[name] = (cfg_path, ckpt, xml)
    return models


def _keypoint_diff(a, b):
    return max(
        float(
            np.abs(x.pred_instances.keypoints -
                   y.pred_instances.keypoints).max()) for x, y in zip(a, b))


def _bf16_available():
    from mmpose_ext.apis.openvino_backend import cpu_capabilities
    return 'BF16' in cpu_capabilities()


@pytest.mark.parametrize('name', ['sg_hrnet', 'sadi_net'])
def test_f32_matches_pytorch(exported, image, name):
    from mmpose.apis import inference_topdown

    from mmpose_ext.apis.openvino_backend import attach_openvino_backend
    cfg_path, ckpt, xml = exported[name]
    torch_model = init_pose_model(cfg_path, ckpt, device='cpu')
    ov_model = attach_openvino_backend(
        init_pose_model(cfg_path, None, device='cpu'), xml, 'f32')
    ref = inference_topdown(torch_model, image, BOXES)
    res = inference_topdown(ov_model, image, BOXES)
    hm = max(
        float((x.pred_fields.heatmaps - y.pred_fields.heatmaps).abs().max())
        for x, y in zip(ref, res))
    peak = max(float(x.pred_fields.heatmaps.abs().max()) for x in ref)
    assert peak > 0.1  # peaked weights: the comparison means something
    assert hm <= 1e-4 * max(1.0, peak)
    assert _keypoint_diff(ref, res) <= 1e-3
    # the IR carries the checkpoint's dataset_meta
    assert ov_model.dataset_meta['num_keypoints'] == 17


@pytest.mark.skipif('not _bf16_available()')
def test_bf16_close_to_pytorch_through_the_inferencer(exported, image):
    cfg_path, ckpt, xml = exported['sg_hrnet']
    ref = TopdownInferencer(cfg_path, ckpt, device='cpu')(image, BOXES)
    res = TopdownInferencer(
        cfg_path, pose_ir=xml, precision='bf16', device='cpu')(image, BOXES)
    assert res.keypoints.shape == ref.keypoints.shape == (2, 17, 2)
    # bf16 keeps 8 bits of mantissa: heatmaps within a few percent of the
    # peak; random weights have near-ties between distant cells, where a
    # keypoint may jump, so most (not all) keypoints stay put
    hm_ref = np.asarray(ref.data_sample.pred_fields.heatmaps)
    hm = np.asarray(res.data_sample.pred_fields.heatmaps)
    assert np.abs(hm - hm_ref).max() <= 0.05 * np.abs(hm_ref).max()
    d = np.linalg.norm(res.keypoints - ref.keypoints, axis=-1)
    assert (d <= 2.0).mean() >= 0.9


def test_inferencer_checks_backend_arguments(exported):
    cfg_path, ckpt, xml = exported['sg_hrnet']
    with pytest.raises(ValueError, match='runs on the OpenVINO backend'):
        TopdownInferencer(cfg_path, ckpt, device='cpu', precision='bf16')
    with pytest.raises(ValueError, match='needs pose_ir'):
        TopdownInferencer(cfg_path, ckpt, device='cpu', backend='openvino')
    with pytest.raises(ValueError, match="precision must be"):
        TopdownInferencer(
            cfg_path, pose_ir=xml, device='cpu', precision='fp16')
    inf = TopdownInferencer(cfg_path, pose_ir=xml, device='cpu')
    assert (inf.backend, inf.precision) == ('openvino', 'f32')


class _NoBF16Core:
    """An ``openvino.Core`` stand-in whose CPU has no bf16."""

    def get_property(self, device, name):
        assert device == 'CPU'
        return {
            'OPTIMIZATION_CAPABILITIES': ['FP32', 'INT8', 'EXPORT_IMPORT'],
            'FULL_DEVICE_NAME': 'Old CPU'
        }[name]


def test_bf16_without_cpu_support_is_an_error_unless_opted_in(
        exported, monkeypatch):
    from mmpose_ext.apis import openvino_backend as ovb
    with pytest.raises(
            ovb.PrecisionNotSupportedError,
            match=r"Old CPU.*no BF16.*bf16_fallback='f32'"):
        ovb.resolve_precision('bf16', core=_NoBF16Core())
    with pytest.warns(RuntimeWarning, match='running f32'):
        assert ovb.resolve_precision(
            'bf16', bf16_fallback='f32', core=_NoBF16Core()) == 'f32'
    assert ovb.resolve_precision('f32', core=_NoBF16Core()) == 'f32'

    # through the inferencer: the default rule raises, the opt-in runs f32
    from mmpose_ext_runtime import openvino_ir
    monkeypatch.setattr(openvino_ir, 'cpu_capabilities', lambda core:
                        ('FP32', 'INT8'))
    cfg_path, _, xml = exported['sg_hrnet']
    with pytest.raises(ovb.PrecisionNotSupportedError, match='no BF16'):
        TopdownInferencer(
            cfg_path, pose_ir=xml, device='cpu', precision='bf16')
    with pytest.warns(RuntimeWarning, match='running f32'):
        inf = TopdownInferencer(
            cfg_path,
            pose_ir=xml,
            device='cpu',
            precision='bf16',
            bf16_fallback='f32')
    assert inf.precision == 'f32'


def _copy_ir(xml, dst_dir):
    stem = osp.splitext(xml)[0]
    out = osp.join(dst_dir, 'm')
    for ext in ('.xml', '.bin', '.json'):
        shutil.copy(stem + ext, out + ext)
    return out + '.xml'


def test_side_file_mismatch_is_refused(exported, tmp_path):
    from mmpose_ext.apis.openvino_backend import (IRMismatchError,
                                                  OpenVINOHeatmapSession)
    _, _, sg_xml = exported['sg_hrnet']
    _, _, sadi_xml = exported['sadi_net']
    xml = _copy_ir(sg_xml, str(tmp_path))
    OpenVINOHeatmapSession(xml)  # the exported triple loads
    # the side file of another IR
    shutil.copy(osp.splitext(sadi_xml)[0] + '.json', str(tmp_path / 'm.json'))
    with pytest.raises(IRMismatchError, match='sha256 differs.*Re-export'):
        OpenVINOHeatmapSession(xml)
    # a side file whose shapes were edited (hashes still right)
    side = json.load(open(osp.splitext(sg_xml)[0] + '.json'))
    side['input_shape'] = [1, 3, 64, 64]
    json.dump(side, open(tmp_path / 'm.json', 'w'))
    with pytest.raises(IRMismatchError, match='input shape'):
        OpenVINOHeatmapSession(xml)
    # no side file at all
    (tmp_path / 'm.json').unlink()
    with pytest.raises(FileNotFoundError, match='no side file'):
        OpenVINOHeatmapSession(xml)


def test_ir_of_another_keypoint_set_is_refused(exported, repo_root):
    from mmpose_ext.apis.openvino_backend import (IRMismatchError,
                                                  attach_openvino_backend)
    cfg_path, _, xml = exported['sg_hrnet']
    model = init_pose_model(cfg_path, None, device='cpu')
    model.head.out_channels = 16  # as a 16-joint (MPII) config would
    with pytest.raises(IRMismatchError, match='predicts 17 keypoints'):
        attach_openvino_backend(model, xml)


def test_int8_quantization_on_a_handful_of_crops(exported, tmp_path,
                                                 synthetic_coco):
    pytest.importorskip('nncf')
    from mmpose_ext.apis.crops import dataset_crops
    from mmpose_ext.apis.openvino_backend import (OpenVINOHeatmapSession,
                                                  attach_openvino_backend,
                                                  quantize_openvino)
    cfg_path, ckpt, xml = exported['sg_hrnet']
    model = init_pose_model(cfg_path, ckpt, device='cpu')
    crops = dataset_crops(
        model,
        osp.join(synthetic_coco, 'annotations',
                 'person_keypoints_val2017.json'),
        osp.join(synthetic_coco, 'val2017'),
        max_crops=8)
    w, h = POSE_INPUT
    assert crops.shape[1:] == (3, h, w) and len(crops) >= 4
    printed = []
    out = str(tmp_path / 'sg_int8.xml')
    decoder = model.head.decoder
    side = quantize_openvino(
        xml,
        out,
        crops[:-2],
        check=crops[-2:],
        decode=lambda hm: decoder.decode(hm)[0],
        log=printed.append)
    acc = side['accuracy_check']
    assert side['precision'] == 'int8' and side['calibration']['crops'] == \
        len(crops) - 2
    assert acc['crops'] == 2 and acc['held_out']
    assert 'INT8 accuracy check on 2 held-out crops' in printed[0]
    assert f'{acc["keypoint_diff_mean"]:.3f} px mean' in printed[0]
    # the quantized IR holds int8 (FakeQuantize) layers and runs as 'int8'
    ops = {op.get_type_name() for op in ov.Core().read_model(out).get_ops()}
    assert 'FakeQuantize' in ops
    hm8 = OpenVINOHeatmapSession(out, 'int8')(torch.from_numpy(crops[:1]))
    hm32 = OpenVINOHeatmapSession(xml, 'f32')(torch.from_numpy(crops[:1]))
    assert hm8.shape == hm32.shape
    assert not torch.equal(hm8, hm32)  # quantized: not the f32 network
    with pytest.raises(ValueError, match="precision='int8'"):
        OpenVINOHeatmapSession(out, 'f32')
    with pytest.raises(ValueError, match='needs a quantized IR'):
        OpenVINOHeatmapSession(xml, 'int8')
    m8 = attach_openvino_backend(
        init_pose_model(cfg_path, None, device='cpu'), out, 'int8')
    assert m8.onnx_session.precision == 'int8'


@pytest.mark.parametrize('name', ['sg_hrnet', 'sadi_net'])
def test_batched_flip_is_one_network_call_with_same_keypoints(
        exported, image, name):
    """The inferencer's flip test runs crops + mirrors as ONE batch of the
    exported network (one OpenVINO request per scale), with the keypoints
    of MMPose's two-call flip test."""
    from mmpose.apis import inference_topdown

    from mmpose_ext.apis.openvino_backend import attach_openvino_backend
    cfg_path, _, xml = exported[name]
    two_calls = attach_openvino_backend(
        init_pose_model(cfg_path, None, device='cpu'), xml)
    inf = TopdownInferencer(cfg_path, pose_ir=xml, device='cpu')
    assert inf.pose_model.batched_flip
    session = inf.pose_model.onnx_session
    batches = []
    call = session.__call__
    session.__class__ = type(
        'Counting', (type(session), ), {
            '__call__': lambda self, x: batches.append(len(x)) or call(x)
        })
    res = inf(image, BOXES)
    scales = len(
        two_calls.test_cfg.get('multiscale_test', {}).get('scales', (1.0, )))
    assert batches == [2 * len(BOXES)] * scales  # crops + mirrors at once
    ref = inference_topdown(two_calls, image, BOXES)
    kp = np.stack([r.pred_instances.keypoints[0] for r in ref])
    assert np.abs(res.keypoints - kp).max() <= 1e-3
