# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Run an exported network (ONNX or OpenVINO IR) with ONNX Runtime or
OpenVINO, whichever is installed; both are imported only here, on use."""
import json
import os.path as osp
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from .openvino_ir import IR_FORMAT, check_bf16, read_side, side_file

__all__ = [
    'BACKENDS', 'InferenceSession', 'BackendMissingError', 'openvino_core'
]

BACKENDS = ('auto', 'onnxruntime', 'openvino')


class BackendMissingError(ImportError):
    """The inference engine a model needs is not installed."""


def _import_onnxruntime():
    try:
        import onnxruntime  # noqa: PLC0415  (optional dependency)
    except ImportError as e:
        raise BackendMissingError(
            'ONNX Runtime is not installed: pip install onnxruntime (or use '
            "backend='openvino')") from e
    return onnxruntime


def _import_openvino():
    try:
        import openvino  # noqa: PLC0415  (optional dependency)
    except ImportError as e:
        raise BackendMissingError(
            'OpenVINO is not installed: pip install openvino (or use '
            "backend='onnxruntime' with an .onnx file)") from e
    return openvino


_CORE = {}


def openvino_core():
    """THE ``openvino.Core`` of this process, shared by the runtime, the
    plugin's OpenVINO backend and the exports: a Core loads the device
    plugins and their thread pools; creating and dropping one per network
    (detector, pose, every test) was followed by SIGSEGV (SI_KERNEL) in
    later forks of the host process."""
    if 'core' not in _CORE:
        _CORE['core'] = _import_openvino().Core()
    return _CORE['core']


def _resolve_backend(model_file: str, backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f'backend must be one of {BACKENDS}, got '
                         f'{backend!r}')
    ext = osp.splitext(model_file)[1].lower()
    if ext not in ('.onnx', '.xml'):
        raise ValueError(
            f'"{model_file}": expected an ONNX file (.onnx) or an OpenVINO '
            'IR (.xml with its .bin)')
    if ext == '.xml':
        if backend == 'onnxruntime':
            raise ValueError(
                f'"{model_file}" is an OpenVINO IR: ONNX Runtime cannot run '
                "it; use backend='openvino' (or 'auto')")
        return 'openvino'
    if backend != 'auto':
        return backend
    try:
        _import_onnxruntime()
        return 'onnxruntime'
    except BackendMissingError:
        try:
            _import_openvino()
        except BackendMissingError as e:
            raise BackendMissingError(
                f'"{model_file}" needs ONNX Runtime or OpenVINO, and neither '
                'is installed: pip install onnxruntime (or openvino)') from e
        return 'openvino'


class InferenceSession:
    """One exported network, one input, run on CPU.

    Args:
        model_file (str): ``.onnx`` (ONNX Runtime or OpenVINO) or ``.xml``
            (OpenVINO IR; its ``.bin`` beside it).
        backend (str): ``'auto'`` (ONNX Runtime for ``.onnx`` when it is
            installed, else OpenVINO), ``'onnxruntime'`` or ``'openvino'``.
        num_threads (int, optional): Compute threads of the engine (None:
            the engine's default, all physical cores). One per stream gives
            the best throughput when several streams run side by side.
        precision (str, optional): OpenVINO's inference precision hint
            (``'f32'`` or ``'bf16'``); None: ``'f32'`` (OpenVINO's own
            default is bf16 on CPUs that have it, which moves the
            keypoints: ask for it explicitly). bf16 on a CPU without bf16
            arithmetic is an error (see ``bf16_fallback``). An int8 IR
            (``tools/export_onnx.py --format openvino --int8``) runs its
            quantized layers in int8 and the rest in this precision. ONNX
            Runtime runs fp32 and accepts only None or ``'f32'``.
        bf16_fallback (str): ``'error'`` (default): bf16 asked for on a CPU
            without it raises ``PrecisionNotSupportedError``; ``'f32'``:
            warn and run f32.

    Attributes:
        input_name (str), input_shape (tuple): ints or axis names (dynamic).
        output_names (list[str]).
    """

    def __init__(self,
                 model_file: str,
                 backend: str = 'auto',
                 num_threads: Optional[int] = None,
                 precision: Optional[str] = None,
                 bf16_fallback: str = 'error'):
        if not osp.isfile(model_file):
            raise FileNotFoundError(f'model file "{model_file}" does not '
                                    'exist')
        self.model_file = model_file
        self.backend = _resolve_backend(model_file, backend)
        if precision not in (None, 'f32', 'bf16'):
            raise ValueError(
                f"precision must be 'f32' or 'bf16', got {precision!r} (for "
                'int8, export the int8 IR: tools/export_onnx.py --format '
                'openvino --int8, and load its JSON)')
        self.ir_precision = 'f32'
        if self.backend == 'onnxruntime':
            if precision not in (None, 'f32'):
                raise ValueError(f'precision {precision!r} needs OpenVINO '
                                 "(backend='openvino'); ONNX Runtime runs f32")
            self.precision = 'f32'
            self._init_ort(num_threads)
        else:
            self._init_openvino(num_threads, precision or 'f32', bf16_fallback)

    def _init_ort(self, num_threads: Optional[int]) -> None:
        ort = _import_onnxruntime()
        opts = ort.SessionOptions()
        opts.graph_optimization_level = \
            ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if num_threads:
            opts.intra_op_num_threads = int(num_threads)
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self._sess = ort.InferenceSession(
            self.model_file, opts, providers=['CPUExecutionProvider'])
        inputs = self._sess.get_inputs()
        if len(inputs) != 1:
            raise ValueError(f'"{self.model_file}" must have one input, has '
                             f'{len(inputs)}')
        self.input_name = inputs[0].name
        self.input_shape = tuple(inputs[0].shape)
        self.output_names = [o.name for o in self._sess.get_outputs()]
        self.output_shapes = [tuple(o.shape) for o in self._sess.get_outputs()]

    def _init_openvino(self, num_threads: Optional[int], precision: str,
                       bf16_fallback: str) -> None:
        if self.model_file.lower().endswith('.xml') and osp.isfile(
                side_file(self.model_file)):
            self._check_ir_side()
        core = openvino_core()
        if precision == 'bf16':
            precision = check_bf16(core, bf16_fallback)
        self.precision = precision
        model = core.read_model(self.model_file)
        if len(model.inputs) != 1:
            raise ValueError(f'"{self.model_file}" must have one input, has '
                             f'{len(model.inputs)}')
        # latency mode, one stream, no thread pinning (the plugin's
        # settings: pinned engine threads fight other processes, and the
        # pinning outlives the call in the host process)
        config = {
            'INFERENCE_PRECISION_HINT': precision,
            'PERFORMANCE_HINT': 'LATENCY',
            'NUM_STREAMS': 1,
            'ENABLE_CPU_PINNING': False,
        }
        if num_threads:
            config['INFERENCE_NUM_THREADS'] = int(num_threads)
        # one model, dynamic where exported so (batch; SADI-Net's H and W):
        # compiling per pyramid shape ran 5 % faster but took 2.5x the
        # compile time and 2.2x the memory (six copies of the weights)
        self._compiled = core.compile_model(model, 'CPU', config)
        self._request = self._compiled.create_infer_request()
        port = model.inputs[0]
        self.input_name = port.get_any_name()
        self.input_shape = _ov_shape(port.get_partial_shape())
        self.output_names = [o.get_any_name() for o in model.outputs]
        self.output_shapes = [
            _ov_shape(o.get_partial_shape()) for o in model.outputs
        ]

    def _check_ir_side(self) -> None:
        """An IR exported by mmpose_ext: its .xml and .bin must be the
        ones its side file was written for (sha256)."""
        try:
            with open(side_file(self.model_file), encoding='utf-8') as f:
                fmt = json.load(f).get('format')
        except (ValueError, AttributeError):
            fmt = None
        if fmt != IR_FORMAT:
            return  # a runtime JSON beside an IR converted by hand
        self.ir_precision = read_side(self.model_file).get('precision', 'f32')

    @property
    def dynamic_hw(self) -> bool:
        return not all(isinstance(d, int) for d in self.input_shape[2:])

    def __call__(self, x: np.ndarray) -> List[np.ndarray]:
        """Run on ``x`` (B, C, H, W) float32; returns every output."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self.backend == 'onnxruntime':
            return self._sess.run(None, {self.input_name: x})
        res = self._request.infer({0: x})
        return [
            np.asarray(res[self._compiled.output(i)])
            for i in range(len(self.output_names))
        ]


def _ov_shape(partial) -> Tuple[Union[int, str], ...]:
    return tuple(d.get_length() if d.is_static else f'dim{i}'
                 for i, d in enumerate(partial))


def check_fixed_dims(session: InferenceSession, want: Sequence, what: str,
                     fix: str) -> None:
    """Raise ``ValueError`` when a static input axis of ``session`` differs
    from ``want`` (None entries are not checked): the model file and its
    JSON do not belong together."""
    for axis, (have, need) in enumerate(zip(session.input_shape, want)):
        if need is None or not isinstance(have, int):
            continue
        if have != need:
            raise ValueError(
                f'"{session.model_file}" takes inputs of shape '
                f'{session.input_shape}, but {what} says axis {axis} is '
                f'{need}: {fix}')
