# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""OpenVINO IR export and an OpenVINO backend (f32, bf16, int8) for
top-down heatmap models.

The IR holds the same graph as the ONNX export
(:mod:`~mmpose_ext.apis.onnx_backend`): the preprocessed crop (B, 3, H, W)
-> the heatmaps the head decodes (B, K, h, w); everything around it (test
pipeline, flip and multi-scale test, decoding) stays MMPose's Python code.
An IR is three files::

    model.xml   the graph            (OpenVINO IR)
    model.bin   the weights
    model.json  the side file: input / output shapes, precision, keypoint
                count, dataset_meta, the sha256 of model.xml and
                model.bin, so an IR that was re-exported, quantized or
                swapped without its side file is refused (IRMismatchError),
                and the torch-free runtime's spec (``runtime``) when
                mmpose_ext_runtime can run the model; the file rules live
                in :mod:`mmpose_ext_runtime.openvino_ir`, shared by both

Precisions (``precision=``):

* ``'f32'``: OpenVINO's CPU plugin in float32 (explicitly: on CPUs with
  AMX its default would be bf16);
* ``'bf16'``: the same f32 IR with ``INFERENCE_PRECISION_HINT=bf16``; only
  where the CPU has bf16 arithmetic (OpenVINO lists ``'BF16'`` in the CPU's
  ``OPTIMIZATION_CAPABILITIES``: AVX512_BF16 or AMX). **Fallback rule**:
  asking for bf16 on a CPU without it raises
  :class:`PrecisionNotSupportedError` (bf16 emulation would be slower than
  f32, and silently running f32 would change what the user measured);
  ``bf16_fallback='f32'`` opts in to running f32 instead, with a warning;
* ``'int8'``: an IR quantized by :func:`quantize_openvino` (NNCF
  post-training quantization calibrated on crops); its side file says
  ``precision: int8`` and the layers NNCF left in float run in f32.

    python tools/export_onnx.py CONFIG CKPT --format openvino --out m.xml
    python tools/export_onnx.py CONFIG CKPT --format openvino --out m8.xml \\
        --int8 --calib-ann ANN.json --calib-img-dir IMAGES/
    TopdownInferencer(CONFIG, pose_ir='m.xml', precision='bf16', ...)

OpenVINO and NNCF are optional (the ``openvino`` extra): imported on use.
"""
import json
import os
import os.path as osp
import tempfile
import warnings
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor, nn

from mmpose_ext_runtime import openvino_ir
from mmpose_ext_runtime.backends import openvino_core
from mmpose_ext_runtime.openvino_ir import (IRMismatchError,
                                            PrecisionNotSupportedError,
                                            read_side, side_file, write_side)
from mmpose_ext_runtime.spec import check_json_free, spec_record
from .onnx_backend import (HeatmapNet, _encode_meta, attach_heatmap_session,
                           check_onnx_support, export_onnx)
from .runtime_export import pose_runtime_spec

__all__ = [
    'PRECISIONS', 'PrecisionNotSupportedError', 'IRMismatchError',
    'cpu_capabilities', 'resolve_precision', 'side_file', 'export_openvino',
    'OpenVINOHeatmapSession', 'attach_openvino_backend', 'quantize_openvino',
    'heatmap_keypoints', 'keypoint_difference'
]

PRECISIONS = ('f32', 'bf16', 'int8')
SIDE_FORMAT = openvino_ir.IR_FORMAT


def _ov():
    try:
        import openvino  # noqa: PLC0415  (optional: the `openvino` extra)
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError(
            'the OpenVINO backend needs the openvino package: pip install '
            '"mmpose_ext[openvino]" (or pip install openvino nncf)') from e
    return openvino


def _core():
    """The process's ``openvino.Core``, the one the runtime uses too."""
    _ov()  # the plugin's install hint when openvino is missing
    return openvino_core()


def cpu_capabilities(core=None) -> Tuple[str, ...]:
    """OpenVINO's ``OPTIMIZATION_CAPABILITIES`` of the CPU device, e.g.
    ``('FP32', 'BF16', 'INT8', ...)``."""
    return openvino_ir.cpu_capabilities(core or _core())


def resolve_precision(precision: str,
                      bf16_fallback: str = 'error',
                      core=None) -> str:
    """The precision that will actually run (see the module doc's rule).

    Args:
        precision (str): ``'f32'``, ``'bf16'`` or ``'int8'``.
        bf16_fallback (str): What to do when bf16 is asked for and the CPU
            lacks it: ``'error'`` (default) raises
            :class:`PrecisionNotSupportedError`; ``'f32'`` warns and runs
            f32.
        core: An ``openvino.Core`` (tests pass a mock).

    Returns:
        str: ``precision``, or ``'f32'`` after an opted-in fallback.
    """
    if precision not in PRECISIONS:
        raise ValueError(f'precision must be one of {PRECISIONS}, got '
                         f'{precision!r}')
    if bf16_fallback not in ('error', 'f32'):
        raise ValueError("bf16_fallback must be 'error' or 'f32', got "
                         f'{bf16_fallback!r}')
    if precision != 'bf16':
        return precision
    return openvino_ir.check_bf16(core or _core(), bf16_fallback)


def _shape_list(partial_shape) -> List[Optional[int]]:
    """An OpenVINO PartialShape as a list, None for dynamic axes."""
    return [d.get_length() if d.is_static else None for d in partial_shape]


def export_openvino(model: nn.Module,
                    out_file: str,
                    input_shape: Sequence[int],
                    dynamic_hw: bool = False,
                    metadata: Optional[Dict[str, str]] = None,
                    verify: bool = True,
                    atol: float = 1e-4) -> Dict:
    """Export a top-down heatmap model's network to an OpenVINO IR (f32).

    The network goes through ONNX (:func:`~.onnx_backend.export_onnx`, the
    same graph as the ONNX backend) and ``openvino.convert_model``; the IR
    keeps f32 weights (no fp16 compression). Writes ``out_file`` (.xml),
    its .bin and the JSON side file (:func:`side_file`).

    Args:
        model (nn.Module): The pose estimator (weights loaded).
        out_file (str): The ``.xml`` file to write.
        input_shape (Sequence[int]): ``(B, 3, H, W)`` of the example input;
            the batch axis is dynamic in the IR.
        dynamic_hw (bool): Also make H and W dynamic (multi-scale test).
        metadata (dict, optional): Extra entries of the side file.
        verify (bool): Run the IR in f32 on random inputs of ``input_shape``
            (and twice its batch) and compare with PyTorch.
        atol (float): Largest heatmap difference accepted by ``verify``,
            relative to the largest heatmap magnitude (at least 1): a
            different summation order (oneDNN's kernels) rounds differently.

    Returns:
        dict: the side file's content, plus ``max_abs_diff`` and
        ``max_abs_heatmap`` with ``verify``.
    """
    ov = _ov()
    if not out_file.endswith('.xml'):
        raise ValueError(f'an OpenVINO IR is written as .xml + .bin; got '
                         f'--out "{out_file}" (use e.g. model.xml)')
    check_onnx_support(model)
    check_json_free(side_file(out_file), out_file)
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    with tempfile.TemporaryDirectory(prefix='mmpose_ext_ir_') as tmp:
        onnx_file = osp.join(tmp, 'model.onnx')
        onnx_info = export_onnx(
            model, onnx_file, input_shape, dynamic_hw=dynamic_hw, verify=False)
        ov_model = ov.convert_model(onnx_file)
        ov.save_model(ov_model, out_file, compress_to_fp16=False)
    dataset_meta = getattr(model, 'dataset_meta', None)
    info = dict(
        producer='mmpose_ext.apis.openvino_backend',
        precision='f32',
        model_type=type(model).__name__,
        backbone=type(getattr(model, 'backbone', None)).__name__,
        head=type(model.head).__name__,
        input_shape=list(input_shape),
        output_shape=list(onnx_info['output_shape']),
        num_keypoints=int(onnx_info['output_shape'][1]),
        dynamic_hw=bool(dynamic_hw),
        dataset_meta=_encode_meta(dataset_meta) if dataset_meta else None,
        openvino=ov.__version__)
    # the torch-free runtime reads this same JSON (its `runtime` section)
    try:
        info['runtime'] = spec_record(pose_runtime_spec(model, out_file))
    except ValueError as e:  # a setting the runtime does not implement
        info['runtime_unsupported'] = str(e)
    info.update(metadata or {})
    side = write_side(out_file, info)
    if verify:
        session = OpenVINOHeatmapSession(out_file, precision='f32')
        net = HeatmapNet(model).eval()
        diff = scale = 0.0
        for b in (input_shape[0], 2 * input_shape[0]):
            x = torch.randn(b, *input_shape[1:])
            with torch.no_grad():
                ref = net(x)
            diff = max(diff, float((session(x) - ref).abs().max()))
            scale = max(scale, float(ref.abs().max()))
        side = dict(side, max_abs_diff=diff, max_abs_heatmap=scale)
        tol = atol * max(1.0, scale)
        if not diff <= tol:
            raise ValueError(
                f'OpenVINO f32 output differs from PyTorch by {diff:.3g} '
                f'(> {tol:.3g}; largest |heatmap| {scale:.3g}) for '
                f'{out_file}')
    return side


class OpenVINOHeatmapSession:
    """An OpenVINO (CPU) session of an exported heatmap network.

    One compiled model per input shape (the IR is reshaped to the static
    shape first: OpenVINO's CPU plugin is fastest on static shapes), each
    compiled on its first call.

    Args:
        xml_file (str): IR written by :func:`export_openvino` or
            :func:`quantize_openvino` (with its .bin and .json).
        precision (str): ``'f32'``, ``'bf16'`` or ``'int8'`` (int8 needs a
            quantized IR, and a quantized IR needs ``'int8'``).
        num_threads (int, optional): ``INFERENCE_NUM_THREADS``; None uses
            ``torch.get_num_threads()``.
        bf16_fallback (str): ``'error'`` (default) or ``'f32'``, see
            :func:`resolve_precision`.
        core: An ``openvino.Core`` (default: the process's).

    Call it with a (B, 3, H, W) float tensor; it returns the (B, K, h, w)
    heatmaps as a float32 tensor on the input's device.
    """

    def __init__(self,
                 xml_file: str,
                 precision: str = 'f32',
                 num_threads: Optional[int] = None,
                 bf16_fallback: str = 'error',
                 core=None):
        ov = _ov()
        self.side = read_side(xml_file)
        ir_precision = self.side.get('precision', 'f32')
        if precision == 'int8' and ir_precision != 'int8':
            raise ValueError(
                f'precision=\'int8\' needs a quantized IR, but "{xml_file}" '
                f'is {ir_precision}: quantize it (tools/export_onnx.py '
                '--format openvino --int8 ...) or ask for f32 / bf16')
        if ir_precision == 'int8' and precision != 'int8':
            raise ValueError(
                f'"{xml_file}" is an int8-quantized IR: load it with '
                f"precision='int8' (asked: {precision!r}), or load the f32 "
                'IR for f32 / bf16')
        self.core = core or _core()
        self.precision = resolve_precision(precision, bf16_fallback, self.core)
        self.xml_file = xml_file
        self.num_threads = int(num_threads or torch.get_num_threads())
        self.model = self.core.read_model(xml_file)
        if len(self.model.inputs) != 1 or len(self.model.outputs) < 1:
            raise IRMismatchError(
                f'"{xml_file}" must have one input and a heatmap output')
        ir_in = _shape_list(self.model.inputs[0].get_partial_shape())
        want = list(self.side['input_shape'])
        expect = [None] + (
            want[1:2] +
            [None, None] if self.side.get('dynamic_hw') else want[1:])
        if ir_in != expect:
            raise IRMismatchError(
                f'"{xml_file}" has input shape {ir_in} but its side file '
                f'says {expect} (None = dynamic): re-export the IR')
        self.input_shape = tuple('batch' if d is None and i == 0 else d
                                 for i, d in enumerate(ir_in))
        self.dynamic_hw = bool(self.side.get('dynamic_hw'))
        self.num_keypoints = int(self.side['num_keypoints'])
        # what attach_heatmap_session reads (as the ONNX file's metadata)
        self.metadata = {}
        if self.side.get('dataset_meta'):
            self.metadata['dataset_meta'] = json.dumps(
                self.side['dataset_meta'])
        self._ov_type = {
            'f32': ov.Type.f32,
            'bf16': ov.Type.bf16,
            # int8 IR: the layers NNCF kept in float run in f32
            'int8': ov.Type.f32
        }[self.precision]
        self._compiled: Dict[Tuple[int, ...], object] = {}

    @property
    def config(self) -> Dict:
        """The compile properties (precision, threads, latency mode)."""
        props = _ov().properties
        return {
            props.hint.inference_precision:
            self._ov_type,
            props.inference_num_threads:
            self.num_threads,
            props.hint.performance_mode:
            props.hint.PerformanceMode.LATENCY,
            props.num_streams:
            1,
            # a shared machine: do not pin threads to cores
            props.hint.enable_cpu_pinning:
            False,
        }

    def check_input(self, shape: Tuple[int, ...]) -> None:
        for axis, (want, got) in enumerate(zip(self.input_shape, shape)):
            if axis > 0 and isinstance(want, int) and want != got:
                raise ValueError(
                    f'"{self.xml_file}" was exported for inputs '
                    f'{self.input_shape}, got {tuple(shape)}. Export with '
                    'the test input size, or with --dynamic-hw for the '
                    'multi-scale test')

    def _request(self, shape: Tuple[int, ...]):
        req = self._compiled.get(shape)
        if req is None:
            model = self.model.clone()
            model.reshape(list(shape))
            compiled = self.core.compile_model(model, 'CPU', self.config)
            req = compiled.create_infer_request()
            self._compiled[shape] = req
        return req

    def run_numpy(self, x: np.ndarray) -> np.ndarray:
        """(B, 3, H, W) float32 array -> (B, K, h, w) float32 array."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        self.check_input(x.shape)
        req = self._request(tuple(x.shape))
        req.infer({0: x}, share_inputs=True)
        return np.array(req.get_output_tensor(0).data, dtype=np.float32)

    def __call__(self, inputs: Tensor) -> Tensor:
        x = inputs.detach().to('cpu', torch.float32).contiguous().numpy()
        return torch.from_numpy(self.run_numpy(x)).to(inputs.device)


def attach_openvino_backend(model: nn.Module,
                            xml_file: str,
                            precision: str = 'f32',
                            num_threads: Optional[int] = None,
                            bf16_fallback: str = 'error') -> nn.Module:
    """Run a top-down estimator's network with OpenVINO, in place.

    As :func:`~.onnx_backend.attach_onnx_backend` (only the network
    changes; test pipeline, flip / multi-scale test and decoding are the
    model's own), with an OpenVINO IR and a precision.

    Args:
        model (nn.Module): A pose estimator built from the exported config.
        xml_file (str): IR (with .bin and .json side file).
        precision (str): ``'f32'``, ``'bf16'`` or ``'int8'``.
        num_threads (int, optional): OpenVINO inference threads.
        bf16_fallback (str): ``'error'`` or ``'f32'``, see
            :func:`resolve_precision`.

    Raises:
        IRMismatchError: side file and IR, or IR and the model's head
            (keypoint count), do not match.
        PrecisionNotSupportedError: bf16 on a CPU without bf16 (default
            fallback rule).
    """
    check_onnx_support(model)
    session = OpenVINOHeatmapSession(
        xml_file,
        precision=precision,
        num_threads=num_threads,
        bf16_fallback=bf16_fallback)
    k = getattr(model.head, 'out_channels', None)
    if k is not None and int(k) != session.num_keypoints:
        raise IRMismatchError(
            f'"{xml_file}" predicts {session.num_keypoints} keypoints but the '
            f'config\'s head has out_channels={k}: load the IR with the '
            'config it was exported from')
    return attach_heatmap_session(model, session, xml_file)


# ------------------------------------------------------------ accuracy
def heatmap_keypoints(heatmaps: np.ndarray,
                      input_size: Sequence[int],
                      decode: Optional[Callable] = None) -> np.ndarray:
    """Keypoints of (N, K, h, w) heatmaps in network-input pixels.

    Args:
        heatmaps (np.ndarray): (N, K, h, w).
        input_size (Sequence[int]): Network input (w, h).
        decode (callable, optional): ``(K, h, w) -> (1, K, 2)`` keypoints in
            input pixels (e.g. the head's codec ``decode(...)[0]``); default:
            the arg-max cell centre scaled to the input.

    Returns:
        np.ndarray: (N, K, 2) float32.
    """
    if decode is not None:
        return np.stack([np.asarray(decode(hm))[0]
                         for hm in heatmaps]).astype(np.float32)
    n, k, h, w = heatmaps.shape
    idx = heatmaps.reshape(n, k, -1).argmax(-1)
    xy = np.stack([idx % w, idx // w], -1).astype(np.float32)
    return xy * np.array([input_size[0] / w, input_size[1] / h], np.float32)


def keypoint_difference(a: np.ndarray, b: np.ndarray) -> Dict:
    """Mean and max Euclidean distance between two (N, K, 2) keypoint
    arrays (pixels), and how many keypoints were compared."""
    d = np.linalg.norm(np.asarray(a) - np.asarray(b), axis=-1)
    return dict(mean=float(d.mean()), max=float(d.max()), n=int(d.size))


def quantize_openvino(xml_file: str,
                      out_file: str,
                      calibration: np.ndarray,
                      check: Optional[np.ndarray] = None,
                      decode: Optional[Callable] = None,
                      num_threads: Optional[int] = None,
                      fast_bias_correction: bool = True,
                      log: Callable = print) -> Dict:
    """INT8 post-training quantization of an f32 IR with NNCF.

    ``nncf.quantize`` (CPU target, the default 'performance' preset:
    symmetric int8 weights and activations) collects activation statistics
    on ``calibration`` crops; the quantized IR gets a side file with
    ``precision: int8``. Then the accuracy check: the f32 and int8 IRs run
    on the ``check`` crops (default: the calibration crops) and their
    keypoints (decoded in network-input pixels) and heatmaps are compared;
    the result is printed through ``log`` and stored in the side file.

    Args:
        xml_file (str): The f32 IR (:func:`export_openvino`).
        out_file (str): The int8 ``.xml`` to write.
        calibration (np.ndarray): (N, 3, H, W) preprocessed crops (a few
            hundred is usual; N >= 1).
        check (np.ndarray, optional): Held-out (M, 3, H, W) crops for the
            accuracy check.
        decode (callable, optional): Heatmap decoder for the keypoint check,
            see :func:`heatmap_keypoints`.
        num_threads (int, optional): Threads of the check's sessions.
        fast_bias_correction (bool): NNCF's fast bias correction (the
            slower full one rarely matters for CNNs). Defaults to True.
        log (callable): Where the accuracy check is printed.

    Returns:
        dict: the int8 side file's content (``accuracy_check`` holds the
        keypoint difference ``mean`` / ``max`` (px) and
        ``max_heatmap_diff``).
    """
    ov = _ov()
    try:
        import nncf  # noqa: PLC0415  (optional: the `openvino` extra)
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError('INT8 quantization needs NNCF: pip install nncf '
                          '(or "mmpose_ext[openvino]")') from e
    if not out_file.endswith('.xml'):
        raise ValueError(f'--out must be an .xml file, got "{out_file}"')
    side = read_side(xml_file)
    check_json_free(side_file(out_file), out_file)
    if side.get('precision') != 'f32':
        raise ValueError(f'"{xml_file}" is {side.get("precision")}; '
                         'quantize the f32 IR')
    calibration = np.asarray(calibration, dtype=np.float32)
    if calibration.ndim != 4 or len(calibration) == 0 or \
            list(calibration.shape[1:]) != list(side['input_shape'][1:]) \
            and not side.get('dynamic_hw'):
        raise ValueError(
            f'calibration crops must be (N >= 1, 3, H, W) with (3, H, W) = '
            f'{tuple(side["input_shape"][1:])}, got {calibration.shape}')
    model = _core().read_model(xml_file)
    dataset = nncf.Dataset(list(calibration[:, None]))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # NNCF's progress-bar warnings
        quantized = nncf.quantize(
            model,
            dataset,
            subset_size=len(calibration),
            target_device=nncf.TargetDevice.CPU,
            fast_bias_correction=fast_bias_correction)
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    ov.save_model(quantized, out_file, compress_to_fp16=False)
    info = {
        k: v
        for k, v in side.items()
        if k not in ('files', 'format', 'max_abs_diff', 'max_abs_heatmap')
    }
    if 'runtime' in info:  # the runtime runs the int8 IR
        info['runtime'] = dict(info['runtime'], model=osp.basename(out_file))
    info.update(
        precision='int8',
        quantized_from=osp.basename(xml_file),
        calibration=dict(
            crops=int(len(calibration)),
            nncf=nncf.__version__,
            fast_bias_correction=bool(fast_bias_correction)))
    write_side(out_file, info)

    check = calibration if check is None else np.asarray(check, np.float32)
    f32 = OpenVINOHeatmapSession(xml_file, 'f32', num_threads)
    int8 = OpenVINOHeatmapSession(out_file, 'int8', num_threads)
    hm_a = np.concatenate([f32.run_numpy(x[None]) for x in check])
    hm_b = np.concatenate([int8.run_numpy(x[None]) for x in check])
    input_size = (check.shape[3], check.shape[2])
    kd = keypoint_difference(
        heatmap_keypoints(hm_a, input_size, decode),
        heatmap_keypoints(hm_b, input_size, decode))
    acc = dict(
        reference='f32 IR',
        crops=int(len(check)),
        held_out=check is not calibration,
        keypoint_diff_mean=kd['mean'],
        keypoint_diff_max=kd['max'],
        max_heatmap_diff=float(np.abs(hm_a - hm_b).max()),
        max_abs_heatmap=float(np.abs(hm_a).max()))
    info['accuracy_check'] = acc
    side = write_side(out_file, info)
    log(f'INT8 accuracy check on {acc["crops"]} '
        f'{"held-out" if acc["held_out"] else "calibration"} crops vs the '
        f'f32 IR: keypoints differ by {acc["keypoint_diff_mean"]:.3f} px '
        f'mean, {acc["keypoint_diff_max"]:.2f} px max (network-input '
        f'pixels); heatmaps by {acc["max_heatmap_diff"]:.3g} max (largest '
        f'|heatmap| {acc["max_abs_heatmap"]:.3g})' +
        ('  [WARNING: > 1 px mean]' if acc['keypoint_diff_mean'] > 1 else ''))
    return side
