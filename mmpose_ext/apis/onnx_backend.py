# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""ONNX export and an ONNX Runtime backend for top-down heatmap models.

The exported graph is the NETWORK only::

    input  (B, 3, H, W) float32   the data-preprocessed crop (after
                                  TopdownAffine and the data preprocessor's
                                  normalisation), batch axis dynamic
    output (B, K, h, w) float32   the keypoint heatmaps that the head decodes:
                                  HeatmapHead / SGHeatmapHead: the keypoint
                                  heatmaps (no segmentation maps);
                                  DLMHead (SADI-Net): H_rfm of the last stack;
                                  CPMHead: the last stage's heatmaps

Everything around it stays MMPose's Python code, unchanged: the test
pipeline (``LoadImage``, ``GetBBoxCenterScale``, ``TopdownAffine``,
``PackPoseInputs``), the data preprocessor, flip test (the network runs on
the crop and on its mirror, ``flip_heatmaps`` with the config's
``shift_heatmap``), the multi-scale test of
:class:`MultiScaleTopdownPoseEstimator`, and the codec's ``decode``.
:func:`attach_onnx_backend` does that by keeping the pose estimator built from
the config and replacing only its network: the ONNX Runtime session stands
in for the backbone (the neck is dropped) and the head's ``forward`` passes
the heatmaps through, so ``head.predict`` / ``model.test_step`` /
``mmpose.apis.inference_topdown`` / :class:`TopdownInferencer` run exactly
as with PyTorch weights. The file also carries the exported model's
``dataset_meta``.

    python tools/export_onnx.py configs/sg_hrnet_w32_coco.py sg.pth \\
        --out sg_hrnet.onnx
    TopdownInferencer(cfg, det_config=..., pose_onnx='sg_hrnet.onnx')

The TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``) is
used: the dynamo exporter, torch's default since 2.9, needs ``onnxscript``,
which is not a dependency of this package.
"""
import json
import os.path as osp
import warnings
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from mmpose.models.heads import CPMHead
from torch import Tensor, nn

from ..models.heads import DLMHead
from ..models.heads.interface import as_topdown_head

__all__ = [
    'HeatmapNet', 'export_onnx', 'OnnxHeatmapSession', 'attach_onnx_backend',
    'attach_heatmap_session', 'check_onnx_support'
]

INPUT_NAME = 'input'
OUTPUT_NAME = 'heatmaps'
DEFAULT_OPSET = 17


def _encode_meta(obj):
    """JSON-safe copy of a ``dataset_meta`` (numpy arrays, int dict keys
    and tuples tagged so that :func:`_decode_meta` restores them)."""
    if isinstance(obj, np.ndarray):
        return {'__ndarray__': obj.tolist(), 'dtype': str(obj.dtype)}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {k: _encode_meta(v) for k, v in obj.items()}
        return {
            '__items__':
            [[_encode_meta(k), _encode_meta(v)] for k, v in obj.items()]
        }
    if isinstance(obj, tuple):
        return {'__tuple__': [_encode_meta(v) for v in obj]}
    if isinstance(obj, list):
        return [_encode_meta(v) for v in obj]
    return obj


def _decode_meta(obj):
    if isinstance(obj, dict):
        if '__ndarray__' in obj:
            return np.asarray(obj['__ndarray__'], dtype=obj['dtype'])
        if '__items__' in obj:
            return {
                _hashable(_decode_meta(k)): _decode_meta(v)
                for k, v in obj['__items__']
            }
        if '__tuple__' in obj:
            return tuple(_decode_meta(v) for v in obj['__tuple__'])
        return {k: _decode_meta(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode_meta(v) for v in obj]
    return obj


def _hashable(k):
    return tuple(k) if isinstance(k, list) else k


class HeatmapNet(nn.Module):
    """A top-down estimator's network as one module: crops -> heatmaps.

    ``forward(x) = head.forward(features)`` (the last entry when the head
    returns a sequence, e.g. ``CPMHead``) with the features the model's
    prediction uses: ``extract_feat(x)``, or the model's ``_test_feat(x)``
    where it has one (:class:`MultiScaleTopdownPoseEstimator`: skips
    SADI-Net's SFM neck, which only feeds the DLM regression, when the head
    predicts from H_rfm). In the ONNX graph, parts whose outputs the head
    does not read would be removed as dead code anyway.

    Args:
        model (nn.Module): A ``TopdownPoseEstimator`` (or subclass).
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        feat = getattr(self.model, '_test_feat', self.model.extract_feat)
        out = self.model.head.forward(feat(x))
        if isinstance(out, (list, tuple)):
            out = out[-1]
        return out


def check_onnx_support(model: nn.Module) -> None:
    """Raise ``ValueError`` when the model's prediction needs more than the
    exported heatmaps (``forward``): the head's contract says whether its
    prediction is the flip merge of ``forward`` alone
    (:meth:`~mmpose_ext.models.heads.interface.TopdownHeadInterface.
    forward_is_prediction`): ``HeatmapHead`` and subclasses, ``CPMHead``,
    ``SGHeatmapHead`` without ``test_cfg.output_seg_maps``, ``DLMHead``
    with ``predict_from='heatmap'``; with or without flip and multi-scale
    test.
    """
    head = getattr(model, 'head', None)
    test_cfg = getattr(model, 'test_cfg', None) or {}
    name = type(head).__name__
    contract = as_topdown_head(head)
    if contract.prediction_source(test_cfg) == 'heatmap' and \
            contract.forward_is_prediction(test_cfg):
        return
    if test_cfg.get('output_seg_maps', False):
        raise ValueError(
            f'{name}: test_cfg.output_seg_maps needs the segmentation maps, '
            'which the exported graph (keypoint heatmaps only) does not have')
    if isinstance(head, DLMHead):
        mode = test_cfg.get('predict_from', head.predict_from)
        raise ValueError(
            f"{name}: predict_from={mode!r} needs the DLM regression, which "
            "the exported graph (H_rfm only) does not have; use "
            "predict_from='heatmap'")
    raise ValueError(
        f'{name} is not supported by the ONNX heatmap backend (supported: '
        'heads whose prediction decodes their forward heatmaps: '
        'HeatmapHead and subclasses, CPMHead, DLMHead)')


def _dims(dynamic_hw: bool) -> Dict[str, Dict[int, str]]:
    axes = {0: 'batch'}
    if dynamic_hw:
        axes.update({2: 'height', 3: 'width'})
    out_axes = {0: 'batch'}
    if dynamic_hw:
        out_axes.update({2: 'heatmap_height', 3: 'heatmap_width'})
    return {INPUT_NAME: axes, OUTPUT_NAME: out_axes}


def trace_to_onnx(net: nn.Module, x: Tensor, out_file: str,
                  input_names: Sequence[str], output_names: Sequence[str],
                  dynamic_axes: Dict, opset_version: int) -> None:
    """``torch.onnx.export`` with the TorchScript (legacy) exporter, the one
    that handles MMPose's models, its deprecation and tracer warnings
    silenced.

    Args:
        net (nn.Module): Module in eval mode; called as ``net(x)``.
        x (Tensor): Example input (B, 3, H, W).
        out_file (str): Path of the ``.onnx`` file.
        input_names, output_names (Sequence[str]): Graph names.
        dynamic_axes (dict): ``{name: {axis: label}}``.
        opset_version (int): ONNX opset.
    """
    with warnings.catch_warnings():
        # legacy exporter (DeprecationWarning), shape asserts (TracerWarning)
        warnings.simplefilter('ignore')
        torch.onnx.export(
            net, (x, ),
            out_file,
            dynamo=False,
            input_names=list(input_names),
            output_names=list(output_names),
            dynamic_axes=dynamic_axes,
            opset_version=opset_version)


def export_onnx(model: nn.Module,
                out_file: str,
                input_shape: Sequence[int],
                dynamic_hw: bool = False,
                opset_version: int = DEFAULT_OPSET,
                metadata: Optional[Dict[str, str]] = None,
                verify: bool = True,
                atol: float = 1e-4) -> Dict:
    """Export a top-down heatmap model's network to ONNX.

    Args:
        model (nn.Module): The pose estimator (weights loaded).
        out_file (str): The ``.onnx`` file to write.
        input_shape (Sequence[int]): ``(B, 3, H, W)`` of the example input;
            the batch axis is always dynamic.
        dynamic_hw (bool): Also make H and W dynamic (needed by the
            multi-scale test). Defaults to False.
        opset_version (int): ONNX opset. Defaults to 17.
        metadata (dict, optional): Extra ``metadata_props`` (str -> str).
        verify (bool): Run the file with ONNX Runtime on a random input of
            ``input_shape`` (and of twice its batch) and compare with
            PyTorch. Defaults to True.
        atol (float): Largest heatmap difference accepted by ``verify``.

    Returns:
        dict: ``file``, ``input_shape``, ``output_shape``, ``dynamic_axes``
        and, with ``verify``, ``max_abs_diff``.

    Raises:
        ValueError: unsupported head, or ``verify`` found a difference above
            ``atol``.
    """
    # ONNX is optional (the `onnx` extra): imported on use
    import onnx  # noqa: PLC0415

    check_onnx_support(model)
    if len(input_shape) != 4:
        raise ValueError(f'input_shape must be (B, 3, H, W), got '
                         f'{tuple(input_shape)}')
    was_training = model.training
    net = HeatmapNet(model).eval()
    x = torch.randn(*input_shape)
    with torch.no_grad():
        ref = net(x)
    trace_to_onnx(net, x, out_file, [INPUT_NAME], [OUTPUT_NAME],
                  _dims(dynamic_hw), opset_version)
    net.eval()  # the exporter restores the wrapper's (eval) mode
    model.train(was_training)

    proto = onnx.load(out_file)
    onnx.checker.check_model(proto)
    meta = {
        'producer': 'mmpose_ext.apis.onnx_backend',
        'model_type': type(model).__name__,
        'backbone': type(getattr(model, 'backbone', None)).__name__,
        'head': type(model.head).__name__,
        'input_shape': json.dumps(list(input_shape)),
        'output_shape': json.dumps(list(ref.shape)),
        'dynamic_hw': str(bool(dynamic_hw)),
    }
    dataset_meta = getattr(model, 'dataset_meta', None)
    if dataset_meta:  # the checkpoint's: travels with the weights
        meta['dataset_meta'] = json.dumps(_encode_meta(dataset_meta))
    meta.update({str(k): str(v) for k, v in (metadata or {}).items()})
    onnx.helper.set_model_props(proto, meta)
    onnx.save(proto, out_file)

    info = dict(
        file=out_file,
        input_shape=tuple(input_shape),
        output_shape=tuple(ref.shape),
        dynamic_axes=_dims(dynamic_hw))
    if verify:
        session = OnnxHeatmapSession(out_file)
        diff = scale = 0.0
        for b in (input_shape[0], 2 * input_shape[0]):
            xb = torch.randn(b, *input_shape[1:])
            with torch.no_grad():
                ref = net(xb)
            diff = max(diff, float((session(xb) - ref).abs().max()))
            scale = max(scale, float(ref.abs().max()))
        info['max_abs_diff'] = diff
        info['max_abs_heatmap'] = scale
        if not diff <= atol:
            raise ValueError(
                f'ONNX Runtime output differs from PyTorch by {diff:.3g} '
                f'(> {atol:g}; largest |heatmap| {scale:.3g}) for '
                f'{out_file}')
    return info


class OnnxHeatmapSession:
    """An ONNX Runtime session of an exported heatmap network.

    Args:
        onnx_file (str): File written by :func:`export_onnx`.
        num_threads (int, optional): ``intra_op_num_threads``; None uses
            ``torch.get_num_threads()`` (the process's compute threads).
        providers (Sequence[str]): ONNX Runtime execution providers.
            Defaults to ``('CPUExecutionProvider', )``.
        allow_spinning (bool): Let idle intra-op threads spin-wait for the
            next operator (ONNX Runtime's default, fastest when the session
            has the cores to itself). ``False`` releases the cores at once,
            fairer when other work (e.g. PyTorch, interleaved in a benchmark)
            shares them. Defaults to True.

    Call it with a (B, 3, H, W) float tensor; it returns the (B, K, h, w)
    heatmaps as a float32 tensor on the input's device.
    """

    def __init__(self,
                 onnx_file: str,
                 num_threads: Optional[int] = None,
                 providers: Sequence[str] = ('CPUExecutionProvider', ),
                 allow_spinning: bool = True):
        # ONNX Runtime is optional (the `onnx` extra): imported on use
        import onnxruntime as ort  # noqa: PLC0415
        if not osp.isfile(onnx_file):
            raise FileNotFoundError(f'ONNX file "{onnx_file}" does not exist')
        opts = ort.SessionOptions()
        opts.graph_optimization_level = \
            ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = int(num_threads or torch.get_num_threads())
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.add_session_config_entry('session.intra_op.allow_spinning',
                                      '1' if allow_spinning else '0')
        self.onnx_file = onnx_file
        self.session = ort.InferenceSession(
            onnx_file, opts, providers=list(providers))
        inputs = self.session.get_inputs()
        outputs = self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) < 1:
            raise ValueError(f'"{onnx_file}" must have one input and a '
                             f'heatmap output, got {len(inputs)} inputs and '
                             f'{len(outputs)} outputs')
        self.input_name = inputs[0].name
        self.input_shape = tuple(inputs[0].shape)  # ints or axis names
        self.output_name = outputs[0].name
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)

    @property
    def dynamic_hw(self) -> bool:
        return not all(isinstance(d, int) for d in self.input_shape[2:])

    def check_input(self, shape: Tuple[int, ...]) -> None:
        for axis, (want, got) in enumerate(zip(self.input_shape, shape)):
            if axis > 0 and isinstance(want, int) and want != got:
                raise ValueError(
                    f'"{self.onnx_file}" was exported for inputs '
                    f'{self.input_shape}, got {tuple(shape)}. Export with '
                    'the test input size, or with --dynamic-hw for the '
                    'multi-scale test')

    def __call__(self, inputs: Tensor) -> Tensor:
        self.check_input(tuple(inputs.shape))
        x = inputs.detach().to('cpu', torch.float32).contiguous().numpy()
        out = self.session.run([self.output_name], {self.input_name: x})[0]
        return torch.from_numpy(np.ascontiguousarray(out)).to(inputs.device)


class _OnnxNetwork(nn.Module):
    """Stands in for the backbone: crops -> :class:`_OnnxHeatmaps`."""

    def __init__(self, session: 'OnnxHeatmapSession'):
        super().__init__()
        self.session = session

    def forward(self, inputs: Tensor) -> '_OnnxHeatmaps':
        return _OnnxHeatmaps((self.session(inputs), ))


class _OnnxHeatmaps(tuple):
    """The "features" the ONNX backend hands to the head: ``(heatmaps, )``.

    A tuple, so ``feats[-1]`` and ``len(feats)`` behave like real features
    in generic code; the patched ``head.forward`` recognises the type.
    """


def attach_onnx_backend(model: nn.Module,
                        onnx_file: str,
                        num_threads: Optional[int] = None) -> nn.Module:
    """Run a top-down estimator's network with ONNX Runtime, in place.

    Only the network changes: the backbone is replaced by the session (run
    on the preprocessed crops), the neck is removed, and
    ``model.head.forward`` returns the session's heatmaps (``[heatmaps]`` for
    ``CPMHead``); the backbone's and neck's weights are freed. The data
    preprocessor, ``test_cfg`` (flip test, heatmap shift, multi-scale test),
    ``head.predict`` and the codec's decoding are the model's own, so
    ``model.test_step``, ``mmpose.apis.inference_topdown`` and
    :class:`TopdownInferencer` give the same keypoints as the PyTorch model
    whose weights were exported (up to float rounding in the heatmaps).
    Training (``mode='loss'``) is not
    possible any more.

    Args:
        model (nn.Module): A pose estimator built from the same config as the
            exported one (its weights are not used).
        onnx_file (str): File written by :func:`export_onnx`.
        num_threads (int, optional): ONNX Runtime intra-op threads.

    The ``dataset_meta`` that :func:`export_onnx` stored in the file (the
    exported model's, e.g. its checkpoint's) replaces the model's, as loading
    the checkpoint would (a model built from a config without checkpoint
    holds the config's meta, or MMPose's COCO fallback when the config does
    not state one).

    Returns:
        nn.Module: ``model``, patched, in eval mode, with ``onnx_session``.

    Raises:
        ValueError: the head needs more than the heatmaps (see
            :func:`check_onnx_support`), or the exported input size does not
            fit the test pipeline / multi-scale test.
    """
    check_onnx_support(model)
    session = OnnxHeatmapSession(onnx_file, num_threads=num_threads)
    return attach_heatmap_session(model, session, onnx_file)


def attach_heatmap_session(model: nn.Module, session,
                           source: str) -> nn.Module:
    """Replace a top-down estimator's network by ``session``, in place.

    The shared part of :func:`attach_onnx_backend` and
    :func:`~mmpose_ext.apis.openvino_backend.attach_openvino_backend`.

    Args:
        model (nn.Module): A pose estimator built from the exported config.
        session: Callable ``(B, 3, H, W) float tensor -> (B, K, h, w)
            heatmaps`` with ``dynamic_hw`` (bool), ``input_shape`` and
            ``metadata`` (dict of str, may hold ``dataset_meta`` as JSON).
        source (str): The exported file, named in errors.

    Returns:
        nn.Module: ``model``, patched, in eval mode, with ``onnx_session``
        (the session, whatever its kind).
    """
    check_onnx_support(model)
    test_cfg = getattr(model, 'test_cfg', None) or {}
    scales = (test_cfg.get('multiscale_test') or {}).get('scales', (1.0, ))
    if any(s != 1 for s in scales) and not session.dynamic_hw:
        raise ValueError(
            f'the model tests at scales {tuple(scales)}, but "{source}" '
            f'has a fixed input size {session.input_shape}: export it with '
            '--dynamic-hw (or set model.test_cfg.multiscale_test.scales='
            '(1.0,))')
    as_list = isinstance(model.head, CPMHead)

    def head_forward(feats):
        if not isinstance(feats, _OnnxHeatmaps):
            raise TypeError('this head runs on exported-network heatmaps '
                            'only (attach_onnx_backend / '
                            'attach_openvino_backend); got '
                            f'{type(feats).__name__}')
        return [feats[0]] if as_list else feats[0]

    # The session plays the backbone; there is no neck any more, so every
    # estimator's extract_feat (backbone, then neck if any) returns the
    # session's heatmaps, and the head passes them through.
    model.backbone = _OnnxNetwork(session)
    if getattr(model, 'neck', None) is not None:
        model.neck = None
    model.head.forward = head_forward
    if 'dataset_meta' in session.metadata:
        # the exported model's own (e.g. from its checkpoint): keypoint
        # names, flip indices, ... as when the checkpoint is loaded
        model.dataset_meta = _decode_meta(
            json.loads(session.metadata['dataset_meta']))
    model.onnx_session = session
    return model.eval()
