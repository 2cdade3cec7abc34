# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""The torch-free runtime against the training stack.

Tiny models (tests/test_apis/helpers.py) are exported with the tools
(``export_onnx.py`` writes the runtime JSON, ``export_detector_onnx.py``
exports RTMDet without NMS); then

* a fresh subprocess runs detection + pose + drawing on an image with
  ``mmpose_ext_runtime`` and must not have imported torch, mmcv, mmengine,
  mmpose, mmdet or the mmpose_ext plugin;
* its boxes are MMDet's (through ``TopdownInferencer.detect``) and its
  keypoints on the same boxes are ``TopdownInferencer``'s with the PyTorch
  weights: SG-HRNet (flip test, heatmap shift, DiskSegHeatmap), the same
  with DARK decoding, and SADI-Net with a three-scale pyramid + flip.
"""
import json
import os
import os.path as osp
import runpy
import subprocess
import sys

import numpy as np
import pytest

from tests.test_apis.helpers import (save_detector, save_pose_model,
                                     small_detector_cfg, small_pose_cfg)

pytestmark = pytest.mark.usefixtures('one_torch_thread')

HEAVY = ('torch', 'mmcv', 'mmengine', 'mmpose', 'mmdet', 'mmpose_ext')
BOXES = np.array([[40, 30, 200, 230], [150, 10, 310, 235]], np.float32)


@pytest.fixture(scope='module')
def image_path(synthetic_coco):
    return osp.join(synthetic_coco, 'val2017', '000000000013.jpg')


@pytest.fixture(scope='module')
def exported(tmp_path_factory, repo_root, image_path):
    """{name: (config, checkpoint, model file)}: three pose models and the
    detector, exported by the tools."""
    out = str(tmp_path_factory.mktemp('runtime_models'))
    export_pose = runpy.run_path(
        osp.join(repo_root, 'tools', 'export_onnx.py'))['main']
    export_det = runpy.run_path(
        osp.join(repo_root, 'tools', 'export_detector_onnx.py'))['main']
    models = {}
    for name in ('sg_hrnet', 'sg_hrnet_dark', 'sadi_net'):
        cfg = small_pose_cfg(repo_root, name.replace('_dark', ''))
        if name == 'sadi_net':
            cfg.model.test_cfg.multiscale_test.scales = (0.75, 1.0, 1.25)
        if name == 'sg_hrnet_dark':
            cfg.model.head.decoder.unbiased = True
        cfg_path, ckpt = save_pose_model(cfg, out, name, peaked=True)
        onnx_file = osp.join(out, f'{name}.onnx')
        info = export_pose([cfg_path, ckpt, '--out', onnx_file])
        assert info['spec_file'] == osp.join(out, f'{name}.json')
        models[name] = (cfg_path, ckpt, onnx_file)
    det_cfg, det_ckpt = save_detector(small_detector_cfg(), out)
    _spread_scores(det_cfg, det_ckpt, image_path)
    det_onnx = osp.join(out, 'det.onnx')
    info = export_det([det_cfg, det_ckpt, '--out', det_onnx])
    assert info['max_abs_diff'] <= 1e-3 * max(info['max_abs_output'], 1)
    models['det'] = (det_cfg, det_ckpt, det_onnx)
    return models


def _spread_scores(cfg, ckpt, image_path):
    """Re-draw the detector's weights so that its scores and boxes spread
    on the test image (an initialised RTMDet scores every point ~0.5 and
    predicts boxes of one size: ties that make the order of equal boxes
    arbitrary): Kaiming convolutions, BN statistics of the image, class
    logits of std 0.7 (persons' raised by 1.5) and box sides varying by
    0.3 stride."""
    import torch
    from mmdet.apis import inference_detector

    from mmpose_ext.apis import init_person_detector, read_image
    model = init_person_detector(cfg, ckpt, 'cpu')
    image = read_image(image_path)
    head = model.bbox_head
    torch.manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity='relu')
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative: the image's statistics
            m.train()
    outputs = {}
    hooks = [
        conv.register_forward_hook(lambda mod, i, o, key=
                                   (name, j): outputs.__setitem__(key, o))
        for name in ('rtm_cls', 'rtm_reg')
        for j, conv in enumerate(getattr(head, name))
    ]
    inference_detector(model, image)  # BN statistics
    model.eval()
    inference_detector(model, image)  # the head's outputs with them
    for h in hooks:
        h.remove()
    with torch.no_grad():
        for (name, j), out in outputs.items():
            conv = getattr(head, name)[j]
            std = (out - conv.bias.view(1, -1, 1, 1)).std().item()
            conv.weight.mul_((0.7 if name == 'rtm_cls' else 0.3) / std)
            conv.bias.fill_(0. if name == 'rtm_cls' else 2.0)
            if name == 'rtm_cls':  # persons (label 0) among the best
                conv.bias[0] = 1.5
    torch.save(
        dict(
            state_dict=model.state_dict(),
            meta=dict(dataset_meta=model.dataset_meta)), ckpt)


def _canonical(boxes, scores, labels):
    """Detections (boxes, scores, labels) in a canonical order: by label,
    then position rounded to 0.1 px (equal scores may come in either
    order)."""
    key = np.concatenate([labels[:, None], np.round(boxes, 1)], 1)
    order = np.lexsort(key.T[::-1])
    return boxes[order], scores[order], labels[order]


SCRIPT = '''
import json, sys
import numpy as np
from mmpose_ext_runtime import TopdownRuntime, read_image
rt = TopdownRuntime(sys.argv[1], sys.argv[2], num_threads=1, bbox_thr=0.05)
image = read_image(sys.argv[3])
poses = rt(image)
drawn = rt.draw(image, poses)
assert drawn.shape == image.shape and (drawn != image).any()
np.savez(sys.argv[4], boxes=poses.bboxes, scores=poses.bbox_scores,
         keypoints=poses.keypoints, keypoint_scores=poses.keypoint_scores)
print(json.dumps([m for m in sys.argv[5].split(',') if m in sys.modules]))
'''


def test_full_image_run_imports_no_training_stack(exported, image_path,
                                                  tmp_path, repo_root):
    from mmpose_ext.apis import TopdownInferencer
    pose_cfg, pose_ckpt, pose_onnx = exported['sg_hrnet']
    det_cfg, det_ckpt, det_onnx = exported['det']
    out = str(tmp_path / 'poses.npz')
    env = dict(os.environ, PYTHONPATH=repo_root, OMP_NUM_THREADS='1')
    proc = subprocess.run([
        sys.executable, '-c', SCRIPT,
        pose_onnx.replace('.onnx', '.json'),
        det_onnx.replace('.onnx', '.json'), image_path, out, ','.join(HEAVY)
    ],
                          cwd=str(tmp_path),
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
    got = np.load(out)
    assert len(got['boxes']) >= 1  # the random detector finds something
    # the same chain with the training stack
    inferencer = TopdownInferencer(
        pose_cfg,
        pose_ckpt,
        det_config=det_cfg,
        det_checkpoint=det_ckpt,
        device='cpu',
        bbox_thr=0.05)
    ref_boxes = inferencer.detect(image_path)
    np.testing.assert_allclose(got['boxes'], ref_boxes[:, :4], atol=1e-2)
    np.testing.assert_allclose(got['scores'], ref_boxes[:, 4], atol=1e-5)
    assert len(np.unique(ref_boxes[:, 4].round(3))) > 1  # scores spread
    # keypoints on the same boxes (the detectors' boxes differ by float
    # rounding, ~1e-3 px, which can flip a quarter-pixel refinement)
    ref = inferencer(image_path, got['boxes'])
    np.testing.assert_allclose(got['keypoints'], ref.keypoints, atol=1e-3)
    np.testing.assert_allclose(
        got['keypoint_scores'], ref.keypoint_scores, atol=1e-4)


def test_detector_matches_mmdet_before_the_person_filter(exported, image_path):
    from mmdet.apis import inference_detector

    from mmpose_ext.apis import init_person_detector, read_image
    from mmpose_ext_runtime import PersonDetector
    det_cfg, det_ckpt, det_onnx = exported['det']
    image = read_image(image_path)
    ref = inference_detector(
        init_person_detector(det_cfg, det_ckpt, 'cpu'),
        image).pred_instances.cpu().numpy()
    got = PersonDetector(det_onnx, num_threads=1)(image)
    assert len(got) == len(ref.bboxes) > 10  # NMS and max_per_img included
    assert (np.diff(got[:, 4]) <= 0).all()  # best first
    assert (got[:, 5] == 0).sum() >= 3  # persons among them
    gb, gs, gl = _canonical(got[:, :4], got[:, 4], got[:, 5])
    rb, rs, rl = _canonical(ref.bboxes, ref.scores, ref.labels)
    np.testing.assert_array_equal(gl, rl)
    np.testing.assert_allclose(gb, rb, atol=1e-2)  # pixels
    np.testing.assert_allclose(gs, rs, atol=1e-5)


@pytest.mark.parametrize('name', ['sg_hrnet', 'sg_hrnet_dark', 'sadi_net'])
def test_keypoints_match_topdown_inferencer(exported, image_path, name):
    from mmpose_ext.apis import TopdownInferencer, read_image
    from mmpose_ext_runtime import PoseEstimator
    cfg, ckpt, onnx_file = exported[name]
    image = read_image(image_path)
    ref = TopdownInferencer(cfg, ckpt, device='cpu')(image, BOXES)
    pose = PoseEstimator(onnx_file.replace('.onnx', '.json'), num_threads=1)
    kpts, scores = pose(image, BOXES)
    np.testing.assert_allclose(kpts, ref.keypoints, atol=1e-3)
    np.testing.assert_allclose(scores, ref.keypoint_scores, atol=1e-4)
    # the settings that make the models differ were followed
    assert pose.flip_test and pose.shift_heatmap
    assert pose.codec['unbiased'] == (name == 'sg_hrnet_dark')
    assert len(pose.scales) == (3 if name == 'sadi_net' else 1)


def test_openvino_reads_the_same_files(exported, image_path):
    """backend='openvino' (f32 unless bf16 is asked for) on the ONNX files
    gives ONNX Runtime's keypoints; precisions ONNX Runtime lacks are an
    error."""
    pytest.importorskip('openvino')
    from mmpose_ext.apis import read_image
    from mmpose_ext_runtime import PoseEstimator
    spec = exported['sadi_net'][2].replace('.onnx', '.json')
    image = read_image(image_path)
    ref = PoseEstimator(spec, backend='onnxruntime', num_threads=1)
    ov = PoseEstimator(spec, backend='openvino', num_threads=1)
    assert ov.session.backend == 'openvino'
    np.testing.assert_allclose(
        ov(image, BOXES)[0], ref(image, BOXES)[0], atol=1e-3)
    with pytest.raises(ValueError, match='needs OpenVINO'):
        PoseEstimator(spec, backend='onnxruntime', precision='bf16')


def test_files_that_do_not_belong_together(exported, tmp_path):
    from mmpose_ext_runtime import PersonDetector, PoseEstimator, SpecError
    _, _, onnx_file = exported['sg_hrnet']
    spec_file = onnx_file.replace('.onnx', '.json')
    with open(spec_file) as f:
        spec = json.load(f)
    bad = dict(spec, input_size=[64, 64], model=onnx_file)
    bad_file = str(tmp_path / 'bad.json')
    with open(bad_file, 'w') as f:
        json.dump(bad, f)
    with pytest.raises(ValueError, match='do not belong together'):
        PoseEstimator(bad_file)
    with open(bad_file, 'w') as f:
        json.dump(dict(spec, codec=dict(type='SimCCLabel')), f)
    with pytest.raises(SpecError, match='SimCCLabel'):
        PoseEstimator(bad_file, model_file=onnx_file)
    with pytest.raises(SpecError, match='does not exist'):
        PoseEstimator(str(tmp_path / 'missing.json'))
    with pytest.raises(SpecError, match='person_detection'):
        PoseEstimator(exported['det'][2])  # the detector's JSON
    with pytest.raises(ValueError, match='outputs'):  # a pose net as detector
        det_spec = exported['det'][2].replace('.onnx', '.json')
        PersonDetector(det_spec, model_file=onnx_file)


def test_export_refuses_what_the_runtime_cannot_do(exported):
    from mmpose.codecs import UDPHeatmap

    from mmpose_ext.apis import init_pose_model
    from mmpose_ext.apis.runtime_export import pose_runtime_spec
    cfg, ckpt, onnx_file = exported['sg_hrnet']
    model = init_pose_model(cfg, ckpt, device='cpu')
    model.head.decoder = UDPHeatmap((96, 128), (24, 32))
    with pytest.raises(ValueError, match='UDPHeatmap'):
        pose_runtime_spec(model, onnx_file)


def test_cli_images_video_and_camera(exported, image_path, tmp_path, capsys):
    """``python -m mmpose_ext_runtime`` on an image, on a video with a
    corrupt frame (detector every 3rd frame, smoothing), and on a camera
    that cannot be opened."""
    import cv2

    from mmpose_ext_runtime.__main__ import main
    from tests.test_runtime.test_video import _corrupt_frame
    pose = exported['sg_hrnet'][2].replace('.onnx', '.json')
    det = exported['det'][2].replace('.onnx', '.json')
    out = str(tmp_path / 'img')
    args = ['--pose', pose, '--det', det, '--threads', '1']
    assert main([*args, '--input', image_path, '--out-dir', out]) == 0
    assert osp.isfile(osp.join(out, osp.basename(image_path)))
    with open(osp.join(out, 'predictions.json')) as f:
        assert len(json.load(f)) >= 1
    img = cv2.imread(image_path)
    video = str(tmp_path / 'clip.avi')
    vw = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*'MJPG'), 10,
                         img.shape[1::-1])
    for t in range(7):
        vw.write(np.roll(img, 2 * t, axis=1))
    vw.release()
    _corrupt_frame(video, 3)
    out = str(tmp_path / 'vid')
    capsys.readouterr()
    assert main([
        *args, '--input', video, '--out-dir', out, '--det-interval', '3',
        '--smooth', '--bbox-thr', '0.01'
    ]) == 0
    text = capsys.readouterr().out
    assert '6 frames (1 bad, skipped)' in text and 'fps' in text
    with open(osp.join(out, 'predictions.json')) as f:
        preds = json.load(f)
    # frames numbered 0-5 (the random detector may miss a JPEG'd frame)
    assert preds and {p['image_id'] for p in preds} <= set(range(6))
    assert all(isinstance(p['track_id'], int) for p in preds)
    cap = cv2.VideoCapture(osp.join(out, 'clip.mp4'))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    cap.release()
    assert main([*args, '--input', '97', '--out-dir', out]) == 1
    assert 'cannot open camera 97' in capsys.readouterr().err
