# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Top-down inference with an MMDet person detector, and its file formats.

See ``docs/inference.md`` and :class:`TopdownInferencer`.
"""
from .batched_flip import enable_batched_flip
from .boxes import check_bboxes, filter_detections
from .coco_io import (ImageIdResolver, detection_results, dump_json,
                      evaluate_person_boxes, keypoint_results, load_bbox_file)
from .heatmap_vis import collect_maps, plot_maps
from .media import (IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, MediaReadError,
                    VideoInput, input_kind, list_folder, read_image)
from .model_loading import (CheckpointMismatchError, ModelTypeError,
                            check_checkpoint, init_person_detector,
                            init_pose_model, load_state_dict)
from .onnx_backend import OnnxHeatmapSession, attach_onnx_backend, export_onnx
from .openvino_backend import (IRMismatchError, OpenVINOHeatmapSession,
                               PrecisionNotSupportedError,
                               attach_openvino_backend, export_openvino,
                               quantize_openvino)
from .result import TopdownResult
from .topdown_inferencer import TopdownInferencer

__all__ = [
    'TopdownInferencer', 'TopdownResult', 'init_person_detector',
    'init_pose_model', 'load_state_dict', 'check_checkpoint', 'check_bboxes',
    'filter_detections', 'CheckpointMismatchError', 'ModelTypeError',
    'MediaReadError', 'read_image', 'VideoInput', 'input_kind', 'list_folder',
    'IMAGE_EXTENSIONS', 'VIDEO_EXTENSIONS', 'load_bbox_file',
    'ImageIdResolver', 'keypoint_results', 'detection_results', 'dump_json',
    'evaluate_person_boxes', 'collect_maps', 'plot_maps', 'OnnxHeatmapSession',
    'attach_onnx_backend', 'export_onnx', 'OpenVINOHeatmapSession',
    'attach_openvino_backend', 'export_openvino', 'quantize_openvino',
    'IRMismatchError', 'PrecisionNotSupportedError', 'enable_batched_flip'
]
