# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""tools/topdown_demo.py on an image, a folder and a short video.

Models: the tiny baseline HRNet and MMDet's RTMDet-tiny COCO config with
weights initialised by the test (tests/test_apis/helpers.py).
"""
import glob
import json
import os.path as osp
import runpy
import shutil

import cv2
import numpy as np
import pytest

from tests.test_apis.helpers import (save_detector, save_pose_model,
                                     small_detector_cfg, small_pose_cfg)

pytestmark = pytest.mark.slow
K = 17


@pytest.fixture(scope='module')
def demo(repo_root):
    return runpy.run_path(osp.join(repo_root, 'tools', 'topdown_demo.py'))


@pytest.fixture(scope='module')
def models(repo_root, tmp_path_factory):
    out = str(tmp_path_factory.mktemp('demo_models'))
    pose_cfg, pose_ckpt = save_pose_model(small_pose_cfg(repo_root), out)
    det_cfg, det_ckpt = save_detector(small_detector_cfg(), out)
    return [pose_cfg, pose_ckpt
            ], ['--det-config', det_cfg, '--det-checkpoint', det_ckpt]


def _val_images(root):
    return sorted(glob.glob(osp.join(root, 'val2017', '*.jpg')))


def _check_predictions(out_dir, image_ids, video=False):
    with open(osp.join(out_dir, 'predictions.json')) as f:
        preds = json.load(f)
    keys = {'image_id', 'category_id', 'keypoints', 'score'}
    for p in preds:
        assert set(p) == (keys | {'track_id'} if video else keys)
        assert p['category_id'] == 1 and len(p['keypoints']) == 3 * K
        assert p['image_id'] in image_ids
    return preds


def test_image_with_detector(demo, models, synthetic_coco, tmp_path):
    pose, det = models
    img = _val_images(synthetic_coco)[0]
    out = str(tmp_path / 'out')
    rc = demo['main']([
        *pose, '--input', img, '--out-dir', out, *det, '--bbox-thr', '0',
        '--max-persons', '2', '--device', 'cpu'
    ])
    assert rc == 0
    vis = cv2.imread(osp.join(out, osp.basename(img)))
    src = cv2.imread(img)
    assert vis.shape == src.shape
    assert np.abs(vis.astype(int) - src).sum() > 0  # something was drawn
    image_id = int(osp.splitext(osp.basename(img))[0])  # 000000000013 -> 13
    preds = _check_predictions(out, {image_id})
    assert 1 <= len(preds) <= 2
    with open(osp.join(out, 'image_ids.json')) as f:
        assert json.load(f) == {img: image_id}


def test_folder_with_bbox_file_continues_past_bad_files(
        demo, models, synthetic_coco, tmp_path, capsys):
    pose, _ = models
    folder = tmp_path / 'imgs'
    folder.mkdir()
    good = _val_images(synthetic_coco)[:2]
    for path in good:
        shutil.copy(path, folder)
    (folder / '000000000099.jpg').write_bytes(b'\x00broken jpeg')
    (folder / 'notes.txt').write_text('not an image')
    bbox_file = osp.join(synthetic_coco, 'person_detection_results',
                         'COCO_val2017_detections_AP_H_56_person.json')
    # one box outside the image is added to the first image's boxes
    with open(bbox_file) as f:
        dets = json.load(f)
    first_id = int(osp.splitext(osp.basename(good[0]))[0])
    dets.append(
        dict(
            image_id=first_id,
            category_id=1,
            bbox=[500, 400, 30, 60],
            score=0.99))
    my_bbox_file = tmp_path / 'dets.json'
    my_bbox_file.write_text(json.dumps(dets))
    out = str(tmp_path / 'out')
    with pytest.warns(UserWarning, match='outside the image'):
        rc = demo['main']([
            *pose, '--input',
            str(folder), '--out-dir', out, '--bbox-file',
            str(my_bbox_file), '--device', 'cpu'
        ])
    captured = capsys.readouterr()
    assert rc == 1
    assert '1 inputs failed' in captured.err
    assert '000000000099.jpg' in captured.err and 'cannot read' in \
        captured.err
    assert 'notes.txt' in captured.out  # ignored, and said so
    assert '3/3' in captured.out  # the progress bar (3 .jpg files)
    for path in good:
        assert osp.isfile(osp.join(out, osp.basename(path)))
    ids = {int(osp.splitext(osp.basename(p))[0]) for p in good}
    preds = _check_predictions(out, ids)
    # the persons are the file's boxes above --bbox-thr after NMS
    expected = sum(
        1 for d in dets
        if d['image_id'] in ids and d['score'] > 0.3 and d['bbox'][0] < 320)
    assert 1 <= len(preds) <= expected


def _write_video(path, frames, fps=10):
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), fps,
                             (w, h))
    assert writer.isOpened()
    for f in frames:
        writer.write(f)
    writer.release()


def _count_frames(path):
    cap = cv2.VideoCapture(path)
    n = 0
    while True:
        ok, _ = cap.read()
        if not ok:
            break
        n += 1
    cap.release()
    return n


def test_video_without_detector(demo, models, synthetic_coco, tmp_path):
    pose, _ = models
    frames = [cv2.imread(p) for p in _val_images(synthetic_coco)[:5]]
    video = str(tmp_path / 'clip.mp4')
    _write_video(video, frames)
    assert _count_frames(video) == 5
    out = str(tmp_path / 'out')
    rc = demo['main'](
        [*pose, '--input', video, '--out-dir', out, '--device', 'cpu'])
    assert rc == 0
    written = osp.join(out, 'clip.mp4')
    assert _count_frames(written) == 5
    cap = cv2.VideoCapture(written)
    assert int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == frames[0].shape[1]
    assert int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == frames[0].shape[0]
    cap.release()
    # whole-image boxes: one person per frame, frames numbered from 0
    preds = _check_predictions(out, set(range(5)), video=True)
    assert sorted(p['image_id'] for p in preds) == list(range(5))


def test_video_tracking_smoothing_and_a_bad_frame(demo, models, synthetic_coco,
                                                  tmp_path, capsys):
    """Detector every 2nd frame, tracking and smoothing between; a frame
    that cannot be decoded is skipped and counted; a progress line with
    frames per second; track ids in predictions.json."""
    from tests.test_runtime.test_video import _corrupt_frame
    pose, det = models
    img = cv2.imread(_val_images(synthetic_coco)[0])
    h, w = img.shape[:2]
    video = str(tmp_path / 'walk.avi')
    vw = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*'MJPG'), 10, (w, h))
    for t in range(6):  # the scene moves 3 px per frame
        vw.write(np.roll(img, 3 * t, axis=1))
    vw.release()
    _corrupt_frame(video, 2)
    out = str(tmp_path / 'out')
    rc = demo['main']([
        *pose, '--input', video, '--out-dir', out, *det, '--bbox-thr', '0',
        '--max-persons', '2', '--det-interval', '2', '--smooth', '--device',
        'cpu'
    ])
    text = capsys.readouterr().out
    assert rc == 0
    assert '1 frames could not be decoded' in text
    assert 'fps' in text and '5/6' in text  # 6 announced, 5 decoded
    assert _count_frames(osp.join(out, 'walk.mp4')) == 5
    preds = _check_predictions(out, set(range(5)), video=True)
    by_frame = {}
    for p in preds:
        by_frame.setdefault(p['image_id'], []).append(p['track_id'])
    assert sorted(by_frame) == list(range(5))
    # between detections the tracks carry their ids: frame 1 has frame 0's
    assert sorted(by_frame[1]) == sorted(by_frame[0])


def test_camera_that_cannot_be_opened(demo, models, tmp_path, capsys):
    pose, _ = models
    rc = demo['main']([
        *pose, '--input', '97', '--out-dir',
        str(tmp_path / 'out'), '--device', 'cpu'
    ])
    assert rc == 1
    assert 'cannot open camera 97' in capsys.readouterr().err


def test_openvino_backend_from_the_command_line(demo, models, synthetic_coco,
                                                tmp_path, capsys):
    """--backend openvino --pose-ir runs the exported IR: f32 gives the
    PyTorch run's predictions; int8 asked of an f32 IR is refused."""
    pytest.importorskip('openvino')
    from mmpose_ext.apis import init_pose_model
    from mmpose_ext.apis.openvino_backend import export_openvino
    pose, det = models
    xml = str(tmp_path / 'pose.xml')
    export_openvino(init_pose_model(*pose, device='cpu'), xml, (1, 3, 128, 96))
    img = _val_images(synthetic_coco)[0]
    common = ['--input', img, *det, '--max-persons', '2', '--device', 'cpu']
    preds = {}
    for name, engine in (('pytorch', pose), ('openvino', [
            pose[0], '--backend', 'openvino', '--pose-ir', xml, '--precision',
            'f32'
    ])):
        out = str(tmp_path / name)
        assert demo['main']([*engine, *common, '--out-dir', out]) == 0
        preds[name] = _check_predictions(out, {13})
    assert len(preds['openvino']) == len(preds['pytorch']) >= 1
    for a, b in zip(preds['openvino'], preds['pytorch']):
        np.testing.assert_allclose(a['keypoints'], b['keypoints'], atol=2e-3)
    rc = demo['main']([
        pose[0], '--backend', 'openvino', '--pose-ir', xml, '--precision',
        'int8', *common, '--out-dir',
        str(tmp_path / 'int8')
    ])
    assert rc != 0
    assert 'needs a quantized IR' in capsys.readouterr().err


def test_bad_inputs(demo, models, tmp_path, capsys, synthetic_coco):
    pose, det = models
    bad_video = tmp_path / 'broken.mp4'
    bad_video.write_bytes(b'not a video at all')
    out = str(tmp_path / 'out')
    rc = demo['main']([
        *pose, '--input',
        str(bad_video), '--out-dir', out, '--device', 'cpu'
    ])
    assert rc == 1
    assert 'cannot open video' in capsys.readouterr().err
    # a missing input, a pose config given as the detector
    assert demo['main'](
        [*pose, '--input',
         str(tmp_path / 'nope.jpg'), '--out-dir', out]) == 2
    assert 'does not exist' in capsys.readouterr().err
    img = _val_images(synthetic_coco)[0]
    assert demo['main']([
        *pose, '--input', img, '--out-dir', out, '--det-config', pose[0],
        '--det-checkpoint', pose[1], '--device', 'cpu'
    ]) == 2
    assert 'not an MMDet detector' in capsys.readouterr().err
    # the pose weights do not fit the detector
    assert demo['main']([
        *pose, '--input', img, '--out-dir', out, det[0], det[1],
        '--det-checkpoint', pose[1], '--device', 'cpu'
    ]) == 2
    assert 'does not match' in capsys.readouterr().err
    with pytest.raises(SystemExit):  # both box sources
        demo['main']([
            *pose, '--input', img, '--out-dir', out, *det, '--bbox-file',
            'x.json'
        ])
    with pytest.raises(SystemExit):  # would overwrite the input
        demo['main']([*pose, '--input', img, '--out-dir', osp.dirname(img)])
    assert 'overwrite' in capsys.readouterr().err


def test_fast_cpu_paths_give_the_same_keypoints(demo, repo_root,
                                                synthetic_coco, tmp_path):
    """--pose-onnx (no checkpoint needed) and --optimize-cpu predict what
    the PyTorch model predicts, through the whole tool."""
    import torch

    from mmpose_ext.apis import init_pose_model
    from mmpose_ext.apis.onnx_backend import export_onnx
    from tests.test_apis.helpers import (POSE_INPUT, save_pose_model,
                                         small_pose_cfg)
    cfg, ckpt = save_pose_model(
        small_pose_cfg(repo_root, 'sg_hrnet'),
        str(tmp_path),
        'sg',
        peaked=True)
    onnx_file = str(tmp_path / 'sg.onnx')
    w, h = POSE_INPUT
    export_onnx(
        init_pose_model(cfg, ckpt, device='cpu'), onnx_file, (1, 3, h, w))
    img = _val_images(synthetic_coco)[1]
    image_id = int(osp.splitext(osp.basename(img))[0])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        runs = {
            'eager': [cfg, ckpt],
            'onnx': [cfg, '--pose-onnx', onnx_file],
            'optimized': [cfg, ckpt, '--optimize-cpu'],
        }
        preds = {}
        for name, args in runs.items():
            out = str(tmp_path / name)
            assert demo['main'](
                [*args, '--input', img, '--out-dir', out, '--device',
                 'cpu']) == 0
            preds[name] = _check_predictions(out, {image_id})
    finally:
        torch.set_num_threads(threads)
    ref = np.array([p['keypoints'] for p in preds['eager']]).reshape(-1, K, 3)
    assert len(ref) == 1  # no detector, no bbox file: the whole image
    for name in ('onnx', 'optimized'):
        got = np.array([p['keypoints'] for p in preds[name]]).reshape(-1, K, 3)
        np.testing.assert_allclose(
            got[..., :2], ref[..., :2], atol=1e-3, err_msg=name)
        np.testing.assert_allclose(
            got[..., 2], ref[..., 2], atol=1e-4, err_msg=name)


def test_pose_checkpoint_or_onnx_is_required(demo, tmp_path, capsys):
    with pytest.raises(SystemExit):
        demo['parse_args'](
            ['cfg.py', '--input', 'a.jpg', '--out-dir',
             str(tmp_path / 'o')])
    assert 'pose checkpoint' in capsys.readouterr().err
    with pytest.raises(SystemExit):  # two fast paths at once
        demo['parse_args']([
            'cfg.py', 'c.pth', '--input', 'a.jpg', '--out-dir',
            str(tmp_path / 'o'), '--pose-onnx', 'm.onnx', '--optimize-cpu'
        ])
