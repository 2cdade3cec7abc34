# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""TopdownInferencer end to end with a real MMDet detector.

The detector is MMDet's own RTMDet-tiny COCO config (person = label 0) with
weights initialised and saved here; the pose model is the baseline HRNet
config at tiny width. Untrained models say nothing about accuracy, so the
tests check structure, coordinate frames (keypoints lie in the crop region
of their box, in image pixels, and move with the image), equality with
MMPose's own ``MMPoseInferencer``, and every bad-input path.
"""
import glob
import os.path as osp
import pickle

import numpy as np
import pytest
import torch

from mmpose_ext.apis import (CheckpointMismatchError, MediaReadError,
                             ModelTypeError, TopdownInferencer, TopdownResult)
from .helpers import (save_detector, save_pose_model, small_detector_cfg,
                      small_pose_cfg)

K = 17


@pytest.fixture(scope='module')
def models(tmp_path_factory, repo_root):
    out = str(tmp_path_factory.mktemp('apis_models'))
    pose_cfg, pose_ckpt = save_pose_model(small_pose_cfg(repo_root), out)
    det_cfg, det_ckpt = save_detector(small_detector_cfg(), out)
    return dict(
        dir=out,
        pose_cfg=pose_cfg,
        pose_ckpt=pose_ckpt,
        det_cfg=det_cfg,
        det_ckpt=det_ckpt)


@pytest.fixture(scope='module')
def inferencer(models):
    # bbox_thr 0: the untrained detector scores every box ~0.01
    return TopdownInferencer(
        models['pose_cfg'],
        models['pose_ckpt'],
        det_config=models['det_cfg'],
        det_checkpoint=models['det_ckpt'],
        device='cpu',
        bbox_thr=0.0,
        nms_thr=0.3,
        max_persons=4)


def crop_region(bbox, input_size, padding=1.25):
    """The image region TopdownAffine crops for a box: (x1, y1, x2, y2)."""
    from mmpose.structures.bbox import bbox_xyxy2cs
    center, scale = bbox_xyxy2cs(np.asarray(bbox, np.float32)[None], padding)
    w, h = scale[0]
    aspect = input_size[0] / input_size[1]
    if w > h * aspect:
        h = w / aspect
    else:
        w = h * aspect
    cx, cy = center[0]
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def assert_result(result: TopdownResult,
                  img_shape,
                  input_size=(96, 128),
                  heatmap_size=(24, 32)):
    """Shapes, and keypoints inside the crop region of their box (image
    pixels), up to 1.5 heatmap pixels: MMPose decodes a keypoint whose
    heatmap maximum is <= 0 to heatmap pixel -1."""
    n = len(result)
    h, w = img_shape[:2]
    assert result.img_shape == (h, w)
    assert result.bboxes.shape == (n, 4)
    assert result.bbox_scores.shape == (n, )
    assert result.keypoints.shape == (n, K, 2)
    assert result.keypoint_scores.shape == (n, K)
    assert np.isfinite(result.keypoints).all()
    for box, kpts in zip(result.bboxes, result.keypoints):
        x1, y1, x2, y2 = crop_region(box, input_size)
        tx = 1.5 * (x2 - x1) / heatmap_size[0]
        ty = 1.5 * (y2 - y1) / heatmap_size[1]
        assert (kpts[:, 0] >= x1 - tx).all() and \
            (kpts[:, 0] <= x2 + tx).all(), (box, kpts)
        assert (kpts[:, 1] >= y1 - ty).all() and \
            (kpts[:, 1] <= y2 + ty).all(), (box, kpts)
    if n:
        inst = result.data_sample.pred_instances
        np.testing.assert_allclose(inst.keypoints, result.keypoints)
        np.testing.assert_allclose(inst.bboxes, result.bboxes)
        np.testing.assert_allclose(inst.bbox_scores, result.bbox_scores)
    # COCO results: one entry per person, K triplets
    coco = result.to_coco(image_id=7)
    assert len(coco) == n
    for entry, kpts, scores in zip(coco, result.keypoints,
                                   result.keypoint_scores):
        assert set(entry) == {'image_id', 'category_id', 'keypoints', 'score'}
        assert entry['image_id'] == 7 and entry['category_id'] == 1
        trip = np.asarray(entry['keypoints']).reshape(K, 3)
        np.testing.assert_allclose(trip[:, :2], kpts, atol=1e-3)
        np.testing.assert_allclose(trip[:, 2], scores, atol=1e-3)


def test_detector_then_pose_on_generated_images(inferencer, synthetic_coco):
    paths = sorted(glob.glob(osp.join(synthetic_coco, 'val2017', '*.jpg')))
    from mmpose_ext.apis import read_image
    for path in paths[:1]:
        img = read_image(path)
        boxes = inferencer.detect(path)
        result = inferencer(path)
        assert result.img_path == path
        assert 1 <= len(result) <= 4
        assert_result(result, img.shape)
        # the persons are the detector's boxes (clipped to the image),
        # best first, all above bbox_thr
        np.testing.assert_allclose(result.bboxes, boxes[:, :4])
        assert (np.diff(result.bbox_scores) <= 0).all()
        assert (result.bbox_scores > 0).all()
        h, w = img.shape[:2]
        assert (result.bboxes[:, [0, 2]] >= 0).all()
        assert (result.bboxes[:, [0, 2]] <= w).all()
        assert (result.bboxes[:, [1, 3]] >= 0).all()
        assert (result.bboxes[:, [1, 3]] <= h).all()
        # a path and the decoded array give the same predictions
        again = inferencer(img)
        np.testing.assert_allclose(again.keypoints, result.keypoints)


def test_real_photos(inferencer, real_data_root):
    import json
    coco_dir = osp.join(real_data_root, 'coco')
    with open(osp.join(coco_dir, 'test_coco.json')) as f:
        ann = json.load(f)
    for img_info in ann['images']:
        path = osp.join(coco_dir, img_info['file_name'])
        result = inferencer(path)
        assert len(result) >= 1
        assert_result(result, (img_info['height'], img_info['width']))
        # with the annotated person boxes instead of the detector
        boxes = [
            a['bbox'] for a in ann['annotations']
            if a['image_id'] == img_info['id']
        ]
        xyxy = [[x, y, x + w, y + h] for x, y, w, h in boxes]
        result = inferencer(path, bboxes=xyxy)
        assert len(result) == len(xyxy)
        np.testing.assert_allclose(result.bboxes, xyxy, rtol=1e-6)
        np.testing.assert_allclose(result.bbox_scores, 1.)
        assert_result(result, (img_info['height'], img_info['width']))


def test_keypoints_move_with_the_image(inferencer, synthetic_coco):
    """Image pixels: padding the image top-left by (dx, dy) and moving the
    box with it moves every keypoint by exactly (dx, dy)."""
    from mmpose_ext.apis import read_image
    path = sorted(glob.glob(osp.join(synthetic_coco, 'val2017', '*.jpg')))[0]
    img = read_image(path)
    box = np.array([[40., 30., 150., 200.]])
    dx, dy = 37, 21
    padded = np.zeros((img.shape[0] + dy, img.shape[1] + dx, 3), np.uint8)
    padded[dy:, dx:] = img
    a = inferencer(img, bboxes=box)
    b = inferencer(padded, bboxes=box + [dx, dy, dx, dy])
    np.testing.assert_allclose(b.keypoints, a.keypoints + [dx, dy], atol=0.05)
    np.testing.assert_allclose(
        b.keypoint_scores, a.keypoint_scores, rtol=1e-3, atol=1e-8)
    # not a degenerate case: the keypoints are spread over the crop
    assert np.ptp(a.keypoints[0], axis=0).min() > 5


def test_zero_detections_give_an_empty_result(inferencer, synthetic_coco):
    path = sorted(glob.glob(osp.join(synthetic_coco, 'val2017', '*.jpg')))[0]
    thr = inferencer.bbox_thr
    inferencer.bbox_thr = 1.0  # scores are <= 1: no box passes
    try:
        result = inferencer(path)
    finally:
        inferencer.bbox_thr = thr
    assert len(result) == 0 and result.data_sample is None
    assert_result(result, result.img_shape)
    assert result.to_coco(1) == []
    # an empty box list too (MMPose would use the whole image instead)
    assert len(inferencer(path, bboxes=np.zeros((0, 4)))) == 0


def test_whole_image_without_detector(models, synthetic_coco):
    path = sorted(glob.glob(osp.join(synthetic_coco, 'val2017', '*.jpg')))[0]
    pose_only = TopdownInferencer(
        models['pose_cfg'], models['pose_ckpt'], device='cpu')
    result = pose_only(path)
    h, w = result.img_shape
    assert len(result) == 1
    np.testing.assert_allclose(result.bboxes, [[0, 0, w, h]])
    np.testing.assert_allclose(result.bbox_scores, [1.])
    assert_result(result, (h, w))
    assert pose_only.dataset_meta['num_keypoints'] == K


def test_same_predictions_as_mmpose_inferencer(models, inferencer,
                                               synthetic_coco):
    """Our configs and checkpoints run in MMPose's MMPoseInferencer, and
    give the same keypoints for the same boxes."""
    from mmpose.apis import MMPoseInferencer
    path = sorted(glob.glob(osp.join(synthetic_coco, 'val2017', '*.jpg')))[0]
    mm = MMPoseInferencer(
        pose2d=models['pose_cfg'],
        pose2d_weights=models['pose_ckpt'],
        det_model=models['det_cfg'],
        det_weights=models['det_ckpt'],
        det_cat_ids=[0],
        device='cpu')
    out = next(mm(path, bbox_thr=0.0, nms_thr=0.3, return_datasamples=True))
    pred = out['predictions'][0].pred_instances
    assert pred.keypoints.shape[1:] == (K, 2) and len(pred.keypoints) >= 1
    # MMPose does not clip detector boxes: compare on those in the image
    h, w = inferencer(path, bboxes=[[0, 0, 1, 1]]).img_shape
    inside = ((pred.bboxes[:, 0] >= 0) & (pred.bboxes[:, 1] >= 0) &
              (pred.bboxes[:, 2] <= w) & (pred.bboxes[:, 3] <= h))
    assert inside.any()
    ours = inferencer(path, bboxes=pred.bboxes[inside])
    np.testing.assert_allclose(
        ours.keypoints, pred.keypoints[inside], atol=1e-3)
    np.testing.assert_allclose(
        ours.keypoint_scores, pred.keypoint_scores[inside], atol=1e-5)

    # whole-image mode (no detector) agrees too
    mm_whole = MMPoseInferencer(
        pose2d=models['pose_cfg'],
        pose2d_weights=models['pose_ckpt'],
        det_model='whole_image',
        device='cpu')
    out = next(mm_whole(path, return_datasamples=True))
    pose_only = TopdownInferencer(
        models['pose_cfg'], models['pose_ckpt'], device='cpu')
    np.testing.assert_allclose(
        pose_only(path).keypoints,
        out['predictions'][0].pred_instances.keypoints,
        atol=1e-3)


@pytest.mark.parametrize('family', ['sg_hrnet', 'sadi_net'])
def test_our_model_families(family, repo_root, tmp_path, synthetic_coco):
    cfg, ckpt = save_pose_model(
        small_pose_cfg(repo_root, family), str(tmp_path), family)
    pose = TopdownInferencer(cfg, ckpt, device='cpu')
    path = sorted(glob.glob(osp.join(synthetic_coco, 'val2017', '*.jpg')))[0]
    boxes = [[20, 10, 120, 200, 0.9], [150, 40, 300, 230, 0.6]]
    result = pose(path, bboxes=boxes)
    assert len(result) == 2
    np.testing.assert_allclose(result.bbox_scores, [0.9, 0.6], rtol=1e-6)
    assert_result(result, result.img_shape)
    # MMPose's MMPoseInferencer runs the config too (whole image)
    from mmpose.apis import MMPoseInferencer
    mm = MMPoseInferencer(
        pose2d=cfg, pose2d_weights=ckpt, det_model='whole_image', device='cpu')
    out = next(mm(path, return_datasamples=True))
    np.testing.assert_allclose(
        pose(path).keypoints,
        out['predictions'][0].pred_instances.keypoints,
        atol=1e-3)


# ----------------------------------------------------------- bad inputs
def test_unreadable_image(inferencer, tmp_path):
    bad = tmp_path / 'broken.jpg'
    bad.write_bytes(b'this is not a jpeg')
    with pytest.raises(MediaReadError, match='broken.jpg'):
        inferencer(str(bad))
    with pytest.raises(MediaReadError, match='does not exist'):
        inferencer(str(tmp_path / 'missing.jpg'))
    with pytest.raises(MediaReadError, match='BGR'):
        inferencer(np.zeros((4, 4), np.uint8))


def test_detector_config_that_is_not_a_detector(models):
    with pytest.raises(ModelTypeError, match='not an MMDet detector'):
        TopdownInferencer(
            models['pose_cfg'],
            det_config=models['pose_cfg'],
            det_checkpoint=models['pose_ckpt'],
            device='cpu')
    with pytest.raises(ModelTypeError, match='not an MMPose pose estimator'):
        TopdownInferencer(models['det_cfg'], device='cpu')
    with pytest.raises(FileNotFoundError, match='det_config'):
        TopdownInferencer(
            models['pose_cfg'], det_config='nope.py', device='cpu')


def test_checkpoint_that_does_not_match(models, repo_root, tmp_path):
    # the pose weights given to the detector
    with pytest.raises(
            CheckpointMismatchError,
            match=r'det_checkpoint ".*pose.pth" does not match'):
        TopdownInferencer(
            models['pose_cfg'],
            det_config=models['det_cfg'],
            det_checkpoint=models['pose_ckpt'],
            device='cpu')
    # a pose checkpoint of another width: shapes differ
    cfg = small_pose_cfg(repo_root)
    cfg.model.backbone.extra.stage4.num_channels = (8, 16, 32, 48)
    _, other = save_pose_model(cfg, str(tmp_path), 'other')
    with pytest.raises(CheckpointMismatchError, match='another shape'):
        TopdownInferencer(models['pose_cfg'], other, device='cpu')
    # a torch file that holds no weights
    torch.save([1, 2, 3], str(tmp_path / 'list.pth'))
    with pytest.raises(CheckpointMismatchError, match='not a model'):
        TopdownInferencer(
            models['pose_cfg'], str(tmp_path / 'list.pth'), device='cpu')
    # not a torch file at all (refused by the safe loader, file named)
    junk = tmp_path / 'junk.pth'
    junk.write_bytes(b'garbage')
    with pytest.raises((CheckpointMismatchError, pickle.UnpicklingError),
                       match='junk.pth'):
        TopdownInferencer(models['pose_cfg'], str(junk), device='cpu')


def test_boxes_outside_the_image(inferencer, synthetic_coco):
    path = sorted(glob.glob(osp.join(synthetic_coco, 'val2017', '*.jpg')))[0]
    with pytest.raises(ValueError, match='outside the image'):
        inferencer(path, bboxes=[[10, 10, 50, 50], [900, 900, 950, 990]])
    with pytest.raises(ValueError, match='is empty'):
        inferencer(path, bboxes=[[50, 50, 20, 80]])
    with pytest.raises(ValueError, match='expected'):
        inferencer(path, bboxes=np.zeros((2, 3)))
    # partly outside is fine: the crop is padded, as in training
    result = inferencer(path, bboxes=[[-30, -20, 60, 90]])
    assert_result(result, result.img_shape)
