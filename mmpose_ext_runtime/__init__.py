# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""mmpose_ext_runtime: person detection + top-down pose from exported files,
without the training stack.

Only numpy, OpenCV and ONNX Runtime or OpenVINO are imported: never torch,
mmcv, mmengine, mmpose, mmdet nor the :mod:`mmpose_ext` plugin (whose import
registers models into MMPose). A separate top-level package, so that
``import mmpose_ext_runtime`` does not run ``mmpose_ext/__init__.py``.

    python tools/export_onnx.py CFG CKPT --out pose.onnx        # + pose.json
    python tools/export_detector_onnx.py DET_CFG DET_CKPT --out det.onnx
    # or OpenVINO IRs (one JSON each: IR side file + runtime spec), int8 too
    python tools/export_onnx.py CFG CKPT --format openvino --out pose.xml

    from mmpose_ext_runtime import TopdownRuntime
    rt = TopdownRuntime('pose.json', 'det.json')
    poses = rt('photo.jpg')            # boxes, keypoints (N, K, 2), scores
    rt.run_video('clip.mp4', 'out/', det_interval=5, smooth=True)

    python -m mmpose_ext_runtime --pose pose.json --det det.json \
        --input 0 --out-dir out      # camera 0; or a video file, a URL
"""
from .backends import BACKENDS, BackendMissingError, InferenceSession
from .detector import PersonDetector
from .draw import draw_poses
from .nms import box_iou, filter_persons, nms
from .openvino_ir import IRMismatchError, PrecisionNotSupportedError
from .pose import PoseEstimator
from .smoothing import OneEuroFilter, TrackSmoother
from .spec import SpecError, dump_spec, load_spec, spec_path_for
from .topdown import Poses, TopdownRuntime, coco_results, read_image
from .tracking import (FramePoses, PoseTracker, TrackingPipeline,
                       boxes_from_keypoints)
from .video import (FrameSource, Progress, StreamStalledError,
                    VideoSourceError, source_kind)

__all__ = [
    'BACKENDS', 'BackendMissingError', 'InferenceSession', 'PersonDetector',
    'PoseEstimator', 'TopdownRuntime', 'Poses', 'coco_results', 'read_image',
    'draw_poses', 'box_iou', 'nms', 'filter_persons', 'OneEuroFilter',
    'TrackSmoother', 'PoseTracker', 'TrackingPipeline', 'FramePoses',
    'boxes_from_keypoints', 'FrameSource', 'Progress', 'VideoSourceError',
    'StreamStalledError', 'source_kind', 'SpecError', 'load_spec', 'dump_spec',
    'spec_path_for', 'IRMismatchError', 'PrecisionNotSupportedError'
]
