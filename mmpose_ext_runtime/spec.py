# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""The JSON files that travel with the exported networks.

``tools/export_onnx.py`` writes ``<model>.json`` beside the pose network and
``tools/export_detector_onnx.py`` beside the detector; each says what the
training stack's config said about the pre- and post-processing, so the
runtime needs neither the config nor the training stack. An OpenVINO IR
export (``--format openvino``, f32 or ``--int8``) writes one JSON beside
the ``.xml``: the IR side file (:mod:`.openvino_ir`: sha256 of the .xml and
.bin, precision), whose ``runtime`` section is this spec. Pose::

    {"format": "mmpose_ext.runtime", "version": 1, "task": "topdown_pose",
     "model": "sg_hrnet.onnx",              # beside this file (or .xml)
     "input_size": [192, 256],              # network input (w, h)
     "heatmap_size": [48, 64],              # (w, h)
     "preprocess": {"mean": [3], "std": [3],    # RGB or BGR, as the model
                    "bgr_to_rgb": true,         # channel order it wants
                    "bbox_padding": 1.25},      # GetBBoxCenterScale
     "codec": {"type": "MSRAHeatmap", "unbiased": false,   # DARK if true
               "blur_kernel_size": 11,
               "clamp_to_heatmap": false},  # DiskSegHeatmap clamps
     "test": {"flip_test": true, "flip_mode": "heatmap",
              "shift_heatmap": true,
              "scales": [1.0], "size_divisor": 32},  # SADI-Net: 6 scales
     "dataset_meta": {"num_keypoints": 17, "keypoint_names": [...],
                      "flip_indices": [...], "skeleton_links": [[0, 1]...],
                      "keypoint_colors": [[r, g, b]...],
                      "skeleton_link_colors": [...], "sigmas": [...]}}

Detector (RTMDet; its NMS and box decoding run in the runtime)::

    {"format": "mmpose_ext.runtime", "version": 1,
     "task": "person_detection", "architecture": "RTMDet",
     "model": "rtmdet.onnx",
     "outputs": ["cls_logits", "distances"],   # (B, N, C), (B, N, 4)
     "preprocess": {"scale": [160, 160], "keep_ratio": true,
                    "pad_size_divisor": 32, "pad_size": null,
                    "pad_value": [114, 114, 114], "mean": [3],
                    "std": [3], "bgr_to_rgb": false,
                    "batch_pad_size_divisor": 1, "batch_pad_value": 0},
     "head": {"strides": [8, 16, 32], "offset": 0.0, "num_classes": 1,
              "classes": ["person"]},
     "test": {"score_thr": 0.01, "nms_pre": 1000, "iou_threshold": 0.65,
              "max_per_img": 100, "min_bbox_size": -1}}
"""
import json
import os.path as osp
from typing import Optional

from .openvino_ir import IR_FORMAT, runtime_section, side_file

__all__ = [
    'FORMAT', 'VERSION', 'SpecError', 'load_spec', 'dump_spec', 'spec_record',
    'check_json_free', 'spec_path_for', 'resolve_model_file'
]

FORMAT = 'mmpose_ext.runtime'
VERSION = 1
TASKS = ('topdown_pose', 'person_detection')
REQUIRED = {
    'topdown_pose': ('input_size', 'heatmap_size', 'preprocess', 'codec',
                     'test', 'dataset_meta'),
    'person_detection': ('architecture', 'preprocess', 'head', 'test'),
}


class SpecError(ValueError):
    """A runtime JSON file is missing, malformed or of another kind."""


# the JSON beside a model file, ``a/b.onnx`` (or ``.xml``) -> ``a/b.json``:
# one rule for runtime specs and IR side files
spec_path_for = side_file


def check_json_free(json_file: str, model_file: str) -> None:
    """Refuse to overwrite a JSON that belongs to another model file.

    ``a.onnx`` and the IR ``a.xml`` both keep their JSON in ``a.json``:
    exporting one beside the other would silently replace the other's
    JSON, so that is an error naming both (re-exporting the same file is
    fine).

    Raises:
        FileExistsError: ``json_file`` describes a model file other than
            ``model_file``.
    """
    if not osp.isfile(json_file):
        return
    try:
        with open(json_file, encoding='utf-8') as f:
            old = json.load(f)
    except (OSError, ValueError):
        return  # not ours (or broken): replaced
    if not isinstance(old, dict):
        return
    if old.get('format') == IR_FORMAT:
        owner = osp.splitext(osp.basename(json_file))[0] + '.xml'
    elif old.get('format') == FORMAT and old.get('model'):
        owner = osp.basename(old['model'])
    else:
        return
    if owner != osp.basename(model_file):
        raise FileExistsError(
            f'"{json_file}" is the JSON of "{owner}", which would be '
            f'replaced by the JSON of "{osp.basename(model_file)}"; an '
            'ONNX file and an OpenVINO IR of one name share it: give one '
            'of them another name (e.g. --out model_ir.xml)')


def spec_record(spec: dict) -> dict:
    """``spec`` with this format's name and version: what is written."""
    return dict(format=FORMAT, version=VERSION, **spec)


def dump_spec(spec: dict, path: str) -> str:
    """Write ``spec`` (with format and version) to ``path``."""
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(spec_record(spec), f, indent=1)
    return path


def load_spec(path: str, task: Optional[str] = None) -> dict:
    """Read and check a runtime JSON file.

    Args:
        path (str): The JSON file (or the model file beside it).
        task (str, optional): ``'topdown_pose'`` or ``'person_detection'``:
            the kind expected.

    Returns:
        dict: The spec, with ``_path`` (the file read) added.

    Raises:
        SpecError: missing file, not JSON, another format or version, the
            wrong task, or a missing key.
    """
    if osp.splitext(path)[1].lower() in ('.onnx', '.xml'):
        path = spec_path_for(path)
    if not osp.isfile(path):
        raise SpecError(
            f'runtime JSON "{path}" does not exist: export the model with '
            'tools/export_onnx.py (pose) or tools/export_detector_onnx.py '
            '(detector), which write it beside the model file')
    try:
        with open(path, encoding='utf-8') as f:
            spec = json.load(f)
    except (OSError, ValueError) as e:
        raise SpecError(f'cannot read runtime JSON "{path}": {e}') from e
    if isinstance(spec, dict) and spec.get('format') == IR_FORMAT:
        # an OpenVINO IR's side file: the runtime spec is its section
        try:
            spec = dict(runtime_section(spec, path))
        except KeyError as e:
            raise SpecError(e.args[0]) from None
    if not isinstance(spec, dict) or spec.get('format') != FORMAT:
        raise SpecError(f'"{path}" is not a {FORMAT} file (no "format": '
                        f'"{FORMAT}")')
    if spec.get('version') != VERSION:
        raise SpecError(
            f'"{path}" has version {spec.get("version")!r}; this '
            f'runtime reads version {VERSION}: re-export the model')
    if spec.get('task') not in TASKS:
        raise SpecError(f'"{path}": unknown task {spec.get("task")!r}')
    if task is not None and spec['task'] != task:
        raise SpecError(f'"{path}" describes a {spec["task"]} model, not a '
                        f'{task} model')
    missing = [k for k in REQUIRED[spec['task']] if k not in spec]
    if missing:
        raise SpecError(f'"{path}" lacks {", ".join(missing)}: re-export the '
                        'model')
    spec['_path'] = path
    return spec


def resolve_model_file(spec: dict, model_file: Optional[str] = None) -> str:
    """The network file: ``model_file`` if given, else the spec's
    ``model`` relative to the JSON's folder."""
    if model_file is not None:
        return model_file
    if not spec.get('model'):
        raise SpecError(f'"{spec["_path"]}" names no model file: pass it')
    return osp.join(osp.dirname(osp.abspath(spec['_path'])), spec['model'])
