# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""What the torch-free runtime (:mod:`mmpose_ext_runtime`) needs from the
training stack: the JSON beside an exported pose network, and the RTMDet
person detector exported without its NMS plus its JSON.

The JSON format is documented in ``mmpose_ext_runtime/spec.py``. Everything
in it is read from the built models (config, codec, data preprocessor, test
pipeline, ``dataset_meta``), and a setting the runtime does not implement is
refused here, at export, with the setting named.

    python tools/export_onnx.py CFG CKPT --out pose.onnx       # pose.json
    python tools/export_detector_onnx.py DET_CFG DET_CKPT --out det.onnx
    # OpenVINO IR: det.xml + .bin + det.json (IR side file, runtime section)
    python tools/export_detector_onnx.py DET_CFG DET_CKPT --out det.xml \
        --format openvino
"""
import os
import os.path as osp
import tempfile
from typing import Callable, Dict, Optional, Sequence

import numpy as np
import torch
from mmpose.codecs import MSRAHeatmap
from torch import Tensor, nn

from mmpose_ext_runtime.backends import openvino_core
from mmpose_ext_runtime.openvino_ir import side_file, write_side
from mmpose_ext_runtime.spec import (check_json_free, dump_spec, spec_path_for,
                                     spec_record)
from ..codecs import DiskSegHeatmap
from .onnx_backend import check_onnx_support, trace_to_onnx

__all__ = [
    'pose_runtime_spec', 'write_pose_spec', 'DetectorNet',
    'detector_runtime_spec', 'export_detector_onnx', 'export_detector_openvino'
]

DET_INPUT = 'input'
DET_OUTPUTS = ('cls_logits', 'distances')


def _jsonable(v):
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


def _find(pipeline, name: str) -> Optional[dict]:
    for t in pipeline:
        if str(t.get('type', '')).split('.')[-1] == name:
            return t
    return None


def pose_runtime_spec(model: nn.Module, model_file: str) -> Dict:
    """The runtime JSON of a top-down heatmap pose model.

    Args:
        model (nn.Module): The pose estimator (built by
            :func:`~mmpose_ext.apis.init_pose_model`, so it has ``cfg``).
        model_file (str): The exported network (its base name is stored).

    Returns:
        dict: the spec (without format and version).

    Raises:
        ValueError: a codec, flip mode, multi-scale mode or pipeline
            setting the runtime does not implement.
    """
    check_onnx_support(model)
    codec = model.head.decoder
    if type(codec) not in (MSRAHeatmap, DiskSegHeatmap):
        raise ValueError(
            f'the runtime decodes MSRAHeatmap and DiskSegHeatmap heatmaps; '
            f'this model decodes with {type(codec).__name__}: run it with '
            'TopdownInferencer(pose_onnx=...) instead')
    test_cfg = dict(model.test_cfg or {})
    if test_cfg.get('output_keypoint_indices') is not None:
        raise ValueError('test_cfg.output_keypoint_indices is not '
                         'implemented by the runtime')
    flip_mode = test_cfg.get('flip_mode', 'heatmap')
    if test_cfg.get('flip_test', False) and flip_mode != 'heatmap':
        raise ValueError(f"the runtime's flip test is flip_mode='heatmap', "
                         f'the model uses {flip_mode!r}')
    ms = dict(scales=(1.0, ), mode='resize', size_divisor=32, merge='auto')
    ms.update(test_cfg.get('multiscale_test') or {})
    if any(s != 1 for s in ms['scales']):
        if ms['mode'] != 'resize':
            raise ValueError(
                f"the runtime implements multiscale_test.mode='resize', the "
                f"model uses {ms['mode']!r}")
        if ms['merge'] not in ('auto', 'heatmap'):
            raise ValueError(
                "the runtime merges scales by heatmap (merge='heatmap'), "
                f"the model merges by {ms['merge']!r}")
    pipeline = model.cfg.test_dataloader.dataset.pipeline
    center_scale = _find(pipeline, 'GetBBoxCenterScale')
    affine = _find(pipeline, 'TopdownAffine')
    if center_scale is None or affine is None:
        raise ValueError('the test pipeline has no GetBBoxCenterScale / '
                         'TopdownAffine: not a top-down model')
    if affine.get('use_udp', False):
        raise ValueError('TopdownAffine(use_udp=True) is not implemented by '
                         'the runtime')
    dp = model.data_preprocessor
    if getattr(dp, '_enable_normalize', False):
        mean = dp.mean.view(-1).tolist()
        std = dp.std.view(-1).tolist()
    else:
        mean, std = [0., 0., 0.], [1., 1., 1.]
    meta = dict(model.dataset_meta or {})
    if meta.get('num_keypoints') is None:
        raise ValueError('the model has no dataset_meta.num_keypoints: load '
                         'a checkpoint or give the config a metainfo')
    k = int(meta['num_keypoints'])
    id2name = meta.get('keypoint_id2name') or {}
    dataset_meta = dict(
        dataset_name=meta.get('dataset_name'),
        num_keypoints=k,
        keypoint_names=[id2name.get(i, str(i)) for i in range(k)],
        flip_indices=_jsonable(meta.get('flip_indices')),
        skeleton_links=_jsonable(meta.get('skeleton_links', [])),
        keypoint_colors=_jsonable(meta.get('keypoint_colors')),
        skeleton_link_colors=_jsonable(meta.get('skeleton_link_colors')),
        sigmas=_jsonable(meta.get('sigmas')))
    return dict(
        task='topdown_pose',
        model=osp.basename(model_file),
        model_type=type(model).__name__,
        head=type(model.head).__name__,
        input_size=[int(v) for v in codec.input_size],
        heatmap_size=[int(v) for v in codec.heatmap_size],
        preprocess=dict(
            mean=mean,
            std=std,
            bgr_to_rgb=bool(getattr(dp, '_channel_conversion', False)),
            bbox_padding=float(center_scale.get('padding', 1.25))),
        codec=dict(
            type=type(codec).__name__,
            unbiased=bool(codec.unbiased),
            blur_kernel_size=int(codec.blur_kernel_size),
            clamp_to_heatmap=isinstance(codec, DiskSegHeatmap)),
        test=dict(
            flip_test=bool(test_cfg.get('flip_test', False)),
            flip_mode=flip_mode,
            shift_heatmap=bool(test_cfg.get('shift_heatmap', False)),
            scales=[float(s) for s in ms['scales']],
            multiscale_mode=ms['mode'],
            size_divisor=int(ms['size_divisor'])),
        dataset_meta=dataset_meta)


def write_pose_spec(model: nn.Module,
                    model_file: str,
                    spec_file: Optional[str] = None) -> str:
    """Write :func:`pose_runtime_spec` beside ``model_file`` (``a.onnx``
    -> ``a.json``); returns the JSON's path."""
    spec = pose_runtime_spec(model, model_file)
    spec_file = spec_file or spec_path_for(model_file)
    check_json_free(spec_file, model_file)
    return dump_spec(spec, spec_file)


class DetectorNet(nn.Module):
    """An RTMDet's network without post-processing: image -> class logits
    (B, N, C) and box distances (B, N, 4) (left, top, right, bottom in input
    pixels) of all levels' prior points, level by level, row-major."""

    def __init__(self, detector: nn.Module):
        super().__init__()
        self.detector = detector

    def forward(self, x: Tensor):
        cls_scores, bbox_preds = self.detector.bbox_head(
            self.detector.extract_feat(x))
        b = x.shape[0]
        logits = torch.cat([
            c.permute(0, 2, 3, 1).reshape(b, -1, c.shape[1])
            for c in cls_scores
        ], 1)
        dist = torch.cat(
            [d.permute(0, 2, 3, 1).reshape(b, -1, 4) for d in bbox_preds], 1)
        return logits, dist


def _check_rtmdet(detector: nn.Module) -> None:
    head = getattr(detector, 'bbox_head', None)
    name = type(head).__name__
    coder = type(getattr(head, 'bbox_coder', None)).__name__
    prior = type(getattr(head, 'prior_generator', None)).__name__
    if not (name.startswith('RTMDet') and coder == 'DistancePointBBoxCoder'
            and prior == 'MlvlPointGenerator'
            and getattr(head, 'use_sigmoid_cls', False)):
        raise ValueError(
            f'{type(detector).__name__} with {name} ({coder}, {prior}) is '
            'not an RTMDet detector: the runtime decodes RTMDet heads '
            '(distance-to-point boxes, sigmoid scores)')


def detector_runtime_spec(detector: nn.Module, model_file: str) -> Dict:
    """The runtime JSON of an MMDet RTMDet detector (see
    ``mmpose_ext_runtime/spec.py``)."""
    _check_rtmdet(detector)
    head = detector.bbox_head
    cfg = head.test_cfg
    nms_cfg = cfg.get('nms', {}) or {}
    if nms_cfg.get('type', 'nms') != 'nms':
        raise ValueError(f'the runtime implements NMS type "nms", the '
                         f'detector uses {nms_cfg.get("type")!r}')
    pipeline = detector.cfg.test_dataloader.dataset.pipeline
    resize = _find(pipeline, 'Resize')
    if resize is None or resize.get('scale') is None:
        raise ValueError('the detector test pipeline needs Resize(scale=...)')
    scale = resize['scale']
    scale = [int(scale)] * 2 if isinstance(
        scale, (int, float)) else [int(v) for v in scale]
    pad = _find(pipeline, 'Pad') or {}
    if pad.get('pad_to_square', False):
        raise ValueError('Pad(pad_to_square=True) is not implemented by the '
                         'runtime')
    pad_val = pad.get('pad_val', 0)
    if isinstance(pad_val, dict):
        pad_val = pad_val.get('img', 0)
    pad_val = [int(v) for v in np.broadcast_to(np.asarray(pad_val), (3, ))]
    dp = detector.data_preprocessor
    enabled = getattr(dp, '_enable_normalize', False)
    meta = getattr(detector, 'dataset_meta', None) or {}
    classes = meta.get('classes')
    strides = head.prior_generator.strides
    return dict(
        task='person_detection',
        architecture='RTMDet',
        model=osp.basename(model_file),
        outputs=list(DET_OUTPUTS),
        preprocess=dict(
            scale=scale,
            keep_ratio=bool(resize.get('keep_ratio', False)),
            pad_size_divisor=pad.get('size_divisor'),
            pad_size=None
            if pad.get('size') is None else [int(v) for v in pad['size']],
            pad_value=pad_val,
            mean=dp.mean.view(-1).tolist() if enabled else [0., 0., 0.],
            std=dp.std.view(-1).tolist() if enabled else [1., 1., 1.],
            bgr_to_rgb=bool(getattr(dp, '_channel_conversion', False)),
            batch_pad_size_divisor=int(getattr(dp, 'pad_size_divisor', 1)),
            batch_pad_value=float(getattr(dp, 'pad_value', 0))),
        head=dict(
            strides=[int(s[0]) for s in strides],
            offset=float(head.prior_generator.offset),
            num_classes=int(head.num_classes),
            classes=None if classes is None else list(classes)),
        test=dict(
            score_thr=float(cfg.get('score_thr', 0.)),
            nms_pre=int(cfg.get('nms_pre', -1)),
            iou_threshold=float(nms_cfg.get('iou_threshold', 0.5)),
            max_per_img=int(cfg.get('max_per_img', 100)),
            min_bbox_size=float(cfg.get('min_bbox_size', -1))))


def _verify_detector(net: nn.Module, run: Callable, input_shape: Sequence[int],
                     atol: float, engine: str, out_file: str) -> Dict:
    """The exported detector (``run``: (B, 3, H, W) array -> outputs)
    against PyTorch's ``net`` on random inputs of ``input_shape`` and of a
    second size; ``ValueError`` beyond ``atol`` x the largest output (when
    that exceeds 1). Returns ``max_abs_diff`` and ``max_abs_output``."""
    b, c, h, w = input_shape
    diff = scale = 0.
    for shape in ((b, c, h, w), (b, c, h + 32, max(w - 32, 32))):
        x = torch.randn(*shape)
        with torch.no_grad():
            ref = net(x)
        for o, r in zip(run(x.numpy()), ref):
            diff = max(diff, float(np.abs(o - r.numpy()).max()))
            scale = max(scale, float(r.abs().max()))
    if not diff <= atol * max(scale, 1.):
        raise ValueError(f'{engine} differs from PyTorch by {diff:.3g} (> '
                         f'{atol:g} x largest output {scale:.3g}) for '
                         f'{out_file}')
    return dict(max_abs_diff=diff, max_abs_output=scale)


def export_detector_onnx(detector: nn.Module,
                         out_file: str,
                         input_shape: Sequence[int],
                         opset_version: int = 17,
                         verify: bool = True,
                         atol: float = 1e-3) -> Dict:
    """Export an RTMDet detector's network (no NMS, no box decoding) to ONNX
    with dynamic batch, height and width, and write its runtime JSON.

    Args:
        detector (nn.Module): The MMDet detector (weights loaded, with
            ``cfg``).
        out_file (str): The ``.onnx`` file.
        input_shape (Sequence[int]): (B, 3, H, W) of the example input.
        opset_version (int): ONNX opset. Defaults to 17.
        verify (bool): Compare ONNX Runtime with PyTorch on random inputs
            of two sizes. Defaults to True.
        atol (float): Largest output difference ``verify`` accepts, relative
            to the largest output magnitude when that exceeds 1.

    Returns:
        dict: ``file``, ``spec_file``, ``num_priors`` and, with
        ``verify``, ``max_abs_diff``.
    """
    import onnx  # noqa: PLC0415  (the `onnx` extra)
    spec = detector_runtime_spec(detector, out_file)
    check_json_free(spec_path_for(out_file), out_file)
    was_training = detector.training
    net = DetectorNet(detector).eval()
    x = torch.randn(*input_shape)
    with torch.no_grad():
        logits, _ = net(x)
    axes = {0: 'batch', 2: 'height', 3: 'width'}
    trace_to_onnx(
        net, x, out_file, [DET_INPUT], list(DET_OUTPUTS), {
            DET_INPUT: axes,
            DET_OUTPUTS[0]: {
                0: 'batch',
                1: 'priors'
            },
            DET_OUTPUTS[1]: {
                0: 'batch',
                1: 'priors'
            }
        }, opset_version)
    detector.train(was_training)
    onnx.checker.check_model(onnx.load(out_file))
    info = dict(
        file=out_file,
        spec_file=dump_spec(spec, spec_path_for(out_file)),
        num_priors=int(logits.shape[1]))
    if verify:
        import onnxruntime as ort  # noqa: PLC0415
        sess = ort.InferenceSession(
            out_file, providers=['CPUExecutionProvider'])
        info.update(
            _verify_detector(net, lambda x: sess.run(None, {DET_INPUT: x}),
                             input_shape, atol, 'ONNX Runtime', out_file))
    return info


def export_detector_openvino(detector: nn.Module,
                             out_file: str,
                             input_shape: Sequence[int],
                             opset_version: int = 17,
                             verify: bool = True,
                             atol: float = 1e-3) -> Dict:
    """Export an RTMDet detector's network as an OpenVINO IR (f32, dynamic
    batch, height and width): ``out_file`` (.xml) + .bin + one JSON, the IR
    side file (sha256 of both files) whose ``runtime`` section is the
    detector's runtime spec. The graph is :func:`export_detector_onnx`'s,
    converted by ``openvino.convert_model``.

    Args:
        detector (nn.Module): The MMDet detector (weights loaded).
        out_file (str): The ``.xml`` file.
        input_shape (Sequence[int]): (B, 3, H, W) of the example input.
        opset_version (int): ONNX opset of the intermediate graph.
        verify (bool): Compare ONNX Runtime and the IR (f32) with PyTorch
            on random inputs. Defaults to True.
        atol (float): As :func:`export_detector_onnx`.

    Returns:
        dict: ``file``, ``spec_file``, ``num_priors`` and, with ``verify``,
        ``max_abs_diff`` (the IR's) and ``max_abs_output``.
    """
    import openvino as ov  # noqa: PLC0415  (the `openvino` extra)
    if not out_file.endswith('.xml'):
        raise ValueError(f'an OpenVINO IR is written as .xml + .bin; got '
                         f'--out "{out_file}" (use e.g. det.xml)')
    spec = detector_runtime_spec(detector, out_file)
    check_json_free(side_file(out_file), out_file)
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    with tempfile.TemporaryDirectory(prefix='mmpose_ext_det_ir_') as tmp:
        onnx_info = export_detector_onnx(
            detector,
            osp.join(tmp, 'det.onnx'),
            input_shape,
            opset_version=opset_version,
            verify=verify,
            atol=atol)
        ov.save_model(
            ov.convert_model(osp.join(tmp, 'det.onnx')),
            out_file,
            compress_to_fp16=False)
    write_side(
        out_file,
        dict(
            producer='mmpose_ext.apis.runtime_export',
            task='person_detection',
            precision='f32',
            input_shape=[None, 3, None, None],
            outputs=list(DET_OUTPUTS),
            openvino=ov.__version__,
            runtime=spec_record(spec)))
    info = dict(
        file=out_file,
        spec_file=side_file(out_file),
        num_priors=onnx_info['num_priors'])
    if verify:
        compiled = openvino_core().compile_model(
            out_file, 'CPU', {'INFERENCE_PRECISION_HINT': 'f32'})
        request = compiled.create_infer_request()

        def run(x):
            res = request.infer({0: x})
            return [np.asarray(res[o]) for o in compiled.outputs]

        info.update(
            _verify_detector(
                DetectorNet(detector).eval(), run, input_shape, atol,
                'OpenVINO', out_file))
    return info
