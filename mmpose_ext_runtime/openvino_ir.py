# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""OpenVINO IR files and precisions: what both the plugin's OpenVINO
backend (:mod:`mmpose_ext.apis.openvino_backend`) and the torch-free
runtime need, kept here (numpy-free, torch-free) so there is one rule.

An IR is three files::

    model.xml   the graph
    model.bin   the weights
    model.json  the side file: format ``mmpose_ext.openvino_ir/1``, the
                sha256 of model.xml and model.bin (``files``), the precision
                (``f32`` or ``int8``), input / output shapes, and, when the
                torch-free runtime can run the model, its runtime spec
                (``runtime``, see :mod:`.spec`)

so an IR that was re-exported, quantized or swapped without its side file
is refused (:class:`IRMismatchError`), and one JSON serves
``TopdownInferencer(pose_ir=...)`` and ``python -m mmpose_ext_runtime``.

bf16 rule: asking for bf16 on a CPU without bf16 arithmetic (OpenVINO does
not list ``'BF16'`` in the CPU's ``OPTIMIZATION_CAPABILITIES``) raises
:class:`PrecisionNotSupportedError`: emulated bf16 would be slower than f32,
and silently running f32 would change what the user measured.
``bf16_fallback='f32'`` opts in to f32, with a ``RuntimeWarning``.
"""
import hashlib
import json
import os.path as osp
import warnings
from typing import Dict, Optional, Tuple

__all__ = [
    'IR_FORMAT', 'PrecisionNotSupportedError', 'IRMismatchError', 'side_file',
    'bin_file', 'write_side', 'read_side', 'cpu_capabilities', 'check_bf16'
]

IR_FORMAT = 'mmpose_ext.openvino_ir/1'


class PrecisionNotSupportedError(RuntimeError):
    """The CPU cannot run the requested precision natively."""


class IRMismatchError(ValueError):
    """An IR and its JSON side file (or the model config) do not match."""


def side_file(xml_file: str) -> str:
    """The JSON side file of an IR: ``model.xml`` -> ``model.json``."""
    return osp.splitext(xml_file)[0] + '.json'


def bin_file(xml_file: str) -> str:
    """The weights of an IR: ``model.xml`` -> ``model.bin``."""
    return osp.splitext(xml_file)[0] + '.bin'


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def write_side(xml_file: str, info: Dict) -> Dict:
    """Write ``info`` as the side file of ``xml_file`` (with the format and
    the sha256 of the .xml and .bin); returns what was written."""
    side = dict(info)
    side['format'] = IR_FORMAT
    side['files'] = {
        'xml': _sha256(xml_file),
        'bin': _sha256(bin_file(xml_file))
    }
    with open(side_file(xml_file), 'w', encoding='utf-8') as f:
        json.dump(side, f, indent=1)
    return side


def read_side(xml_file: str) -> Dict:
    """The side file of ``xml_file``, checked against the IR's files.

    Raises:
        FileNotFoundError: the IR or its side file is missing.
        IRMismatchError: the side file is not one, or was written for other
            IR files (sha256).
    """
    for path in (xml_file, bin_file(xml_file)):
        if not osp.isfile(path):
            raise FileNotFoundError(f'OpenVINO IR file "{path}" does not '
                                    'exist')
    path = side_file(xml_file)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'"{xml_file}" has no side file "{path}" (input shape, '
            'precision, dataset_meta): export the IR with tools/export_onnx.py'
            ' --format openvino, which writes the .xml, .bin and .json '
            'together, and keep them together')
    try:
        with open(path, encoding='utf-8') as f:
            side = json.load(f)
    except ValueError as e:
        raise IRMismatchError(
            f'side file "{path}" is not valid JSON: {e}') from e
    if not isinstance(side, dict) or side.get('format') != IR_FORMAT:
        raise IRMismatchError(
            f'"{path}" is not an mmpose_ext OpenVINO side file (format '
            f'{IR_FORMAT!r} expected): re-export the IR')
    for key, file in (('xml', xml_file), ('bin', bin_file(xml_file))):
        if side.get('files', {}).get(key) != _sha256(file):
            raise IRMismatchError(
                f'the side file "{path}" does not match "{file}" (sha256 '
                'differs): the IR was re-exported, quantized or replaced '
                'without its .json. Re-export (tools/export_onnx.py --format '
                'openvino) so that .xml, .bin and .json come from one run')
    return side


def cpu_capabilities(core) -> Tuple[str, ...]:
    """OpenVINO's ``OPTIMIZATION_CAPABILITIES`` of the CPU device, e.g.
    ``('FP32', 'BF16', 'INT8', ...)``."""
    return tuple(core.get_property('CPU', 'OPTIMIZATION_CAPABILITIES'))


def check_bf16(core, bf16_fallback: str = 'error') -> str:
    """``'bf16'`` where the CPU has bf16 arithmetic; otherwise an error, or
    ``'f32'`` with a warning when ``bf16_fallback='f32'``.

    Args:
        core: An ``openvino.Core`` (tests pass a stand-in).
        bf16_fallback (str): ``'error'`` (default) or ``'f32'``.

    Raises:
        PrecisionNotSupportedError: no bf16 and no opted-in fallback.
    """
    if bf16_fallback not in ('error', 'f32'):
        raise ValueError("bf16_fallback must be 'error' or 'f32', got "
                         f'{bf16_fallback!r}')
    caps = cpu_capabilities(core)
    if 'BF16' in caps:
        return 'bf16'
    try:
        name = core.get_property('CPU', 'FULL_DEVICE_NAME')
    except Exception:  # noqa: BLE001  (the name only decorates the message)
        name = 'this CPU'
    msg = (f'bf16 inference needs a CPU with bf16 arithmetic (AVX512_BF16 '
           f'or AMX); OpenVINO reports {name} with capabilities '
           f'{list(caps)} (no BF16). Use precision=\'f32\' (or \'int8\' '
           "with a quantized IR), or pass bf16_fallback='f32' "
           '(--bf16-fallback f32) to run f32 instead')
    if bf16_fallback == 'f32':
        warnings.warn(msg + ': running f32', RuntimeWarning, stacklevel=3)
        return 'f32'
    raise PrecisionNotSupportedError(msg)


def runtime_section(side: Dict, path: Optional[str] = None) -> Dict:
    """The runtime spec stored in an IR side file (``runtime``).

    Raises:
        KeyError: the side file has none (the model uses settings the
            runtime does not implement; the export said which).
    """
    if not isinstance(side.get('runtime'), dict):
        raise KeyError(
            f'"{path or "the side file"}" is an OpenVINO IR side file '
            'without a runtime section: the model uses a setting '
            'mmpose_ext_runtime does not implement (the export printed '
            'which); run the IR with mmpose_ext.apis.TopdownInferencer('
            'pose_ir=...)')
    return side['runtime']
