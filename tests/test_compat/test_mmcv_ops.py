# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""The torch stand-in for mmcv's compiled ops (mmcv-lite): nms and
roi_align equal the compiled ops (where installed) and independent
references; any other op fails naming itself and the fix; a process whose
``mmcv._ext`` cannot be imported runs MMPose and an MMDet detector with the
stand-in and keeps the same boxes as the compiled ops."""
import importlib
import json
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch

from mmpose_ext.compat import mmcv_ops

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _compiled_ext():
    ext = sys.modules.get('mmcv._ext')
    if isinstance(ext, mmcv_ops.TorchOpsExtModule):
        pytest.skip('this environment runs on mmcv-lite')
    try:
        return importlib.import_module('mmcv._ext')
    except ImportError:
        pytest.skip('the compiled mmcv is not installed (mmcv-lite)')


def _boxes(n, seed, int_coords=False):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 60
    wh = torch.rand(n, 2, generator=g) * 30 + 1
    boxes = torch.cat([xy, xy + wh], 1)
    if int_coords:  # ties and touching boxes, where offset matters most
        boxes = boxes.round()
    return boxes, torch.rand(n, generator=g)


def _reference_nms(boxes, scores, thr, offset):
    """Greedy NMS by the book, in numpy (mmcv's semantics: suppress when
    IoU > thr; areas with ``+ offset``)."""
    b, s = boxes.double().numpy(), scores.double().numpy()
    order = np.argsort(-s, kind='stable')
    area = (b[:, 2] - b[:, 0] + offset) * (b[:, 3] - b[:, 1] + offset)
    keep, dead = [], np.zeros(len(b), bool)
    for i in order:
        if dead[i]:
            continue
        keep.append(i)
        w = np.minimum(b[i, 2], b[:, 2]) - np.maximum(b[i, 0], b[:, 0])
        h = np.minimum(b[i, 3], b[:, 3]) - np.maximum(b[i, 1], b[:, 1])
        inter = np.clip(w + offset, 0, None) * np.clip(h + offset, 0, None)
        dead |= inter / (area[i] + area - inter) > thr
    return keep


@pytest.mark.parametrize('offset', [0, 1])
@pytest.mark.parametrize('thr', [0.3, 0.5, 0.7])
def test_nms_keeps_the_boxes_of_greedy_nms(offset, thr):
    for seed in range(3):
        boxes, scores = _boxes(300, seed)
        keep = mmcv_ops.nms(boxes, scores, thr, offset)
        assert keep.dtype == torch.int64
        assert keep.tolist() == _reference_nms(boxes, scores, thr, offset)


@pytest.mark.parametrize('offset', [0, 1])
def test_nms_equals_the_compiled_op(offset):
    ext = _compiled_ext()
    for seed in range(5):
        boxes, scores = _boxes(500, seed, int_coords=seed % 2 == 1)
        for thr in (0.2, 0.5, 0.8):
            ours = mmcv_ops.nms(boxes, scores, thr, offset)
            theirs = ext.nms(boxes, scores, iou_threshold=thr, offset=offset)
            assert ours.tolist() == theirs.tolist()


def _roi_align_args(aligned, sampling_ratio):
    g = torch.Generator().manual_seed(1)
    feats = torch.randn(2, 3, 20, 24, generator=g, dtype=torch.float64)
    xy = torch.rand(7, 2, generator=g, dtype=torch.float64) * 30
    wh = torch.rand(7, 2, generator=g, dtype=torch.float64) * 40 + 2
    idx = torch.tensor([0, 1, 0, 1, 1, 0, 0], dtype=torch.float64)[:, None]
    rois = torch.cat([idx, xy, xy + wh], 1)
    return feats, rois, dict(
        aligned_height=4,
        aligned_width=5,
        spatial_scale=0.5,
        sampling_ratio=sampling_ratio,
        pool_mode=1,
        aligned=aligned)


def _run_roi_align(ops, feats, rois, kw, grad_out):
    n, c = rois.shape[0], feats.shape[1]
    out = feats.new_zeros(n, c, kw['aligned_height'], kw['aligned_width'])
    empty = feats.new_zeros(0)
    ops.roi_align_forward(feats, rois, out, empty, empty, **kw)
    grad_in = torch.zeros_like(feats)
    ops.roi_align_backward(grad_out, rois, empty, empty, grad_in, **kw)
    return out, grad_in


@pytest.mark.parametrize('aligned', [True, False])
@pytest.mark.parametrize('sampling_ratio', [0, 2])
def test_roi_align_equals_the_compiled_op(aligned, sampling_ratio):
    ext = _compiled_ext()
    feats, rois, kw = _roi_align_args(aligned, sampling_ratio)
    grad_out = torch.randn(7, 3, 4, 5, dtype=torch.float64)
    ours = _run_roi_align(mmcv_ops, feats, rois, kw, grad_out)
    theirs = _run_roi_align(ext, feats, rois, kw, grad_out)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


def test_roi_align_of_a_linear_ramp_is_the_bin_centre_value():
    """A bilinear sample of a linear function is exact, so each bin's
    average is the ramp at the bin centre: with aligned=True pixel i sits
    at coordinate i + 0.5 (the half-pixel convention mmcv documents)."""
    h, w = 16, 20
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=torch.float64),
        torch.arange(w, dtype=torch.float64),
        indexing='ij')
    feats = (2 * xs + 3 * ys)[None, None]
    x1, y1, x2, y2 = 3.0, 2.0, 15.0, 10.0
    rois = torch.tensor([[0, x1, y1, x2, y2]], dtype=torch.float64)
    out = feats.new_zeros(1, 1, 2, 3)
    empty = feats.new_zeros(0)
    mmcv_ops.roi_align_forward(feats, rois, out, empty, empty, 2, 3, 1.0, 2, 1,
                               True)
    cx = x1 + (torch.arange(3) + 0.5) * (x2 - x1) / 3 - 0.5
    cy = y1 + (torch.arange(2) + 0.5) * (y2 - y1) / 2 - 0.5
    expected = 2 * cx[None, :] + 3 * cy[:, None]
    torch.testing.assert_close(out[0, 0], expected.double())
    # the backward spreads each bin's gradient over the input: sums agree
    grad_in = torch.zeros_like(feats)
    mmcv_ops.roi_align_backward(
        torch.ones(1, 1, 2, 3, dtype=torch.float64), rois, empty, empty,
        grad_in, 2, 3, 1.0, 2, 1, True)
    assert grad_in.sum().item() == pytest.approx(6.0)


def test_other_ops_fail_naming_the_op_and_the_fix():
    ext = mmcv_ops.TorchOpsExtModule()
    assert hasattr(ext, 'deform_conv_forward')  # mmcv.ops can import
    with pytest.raises(
            mmcv_ops.MmcvOpUnavailableError,
            match="'deform_conv_forward'.*--mmcv-full"):
        ext.deform_conv_forward(None)
    with pytest.raises(mmcv_ops.MmcvOpUnavailableError, match="max"):
        ext.roi_align_forward(None, None, None, None, None, 2, 2, 1.0, 0, 0,
                              True)
    with pytest.raises(AttributeError):
        ext.__wrapped__


# Run in a fresh interpreter whose `mmcv._ext` cannot be imported, as on
# mmcv-lite: import the plugin, then MMPose's and MMDet's models, and run
# batched_nms and a detector with the weights saved by the parent.
_LITE_CHILD = r'''
import importlib.abc, json, sys

class BlockCompiledOps(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == 'mmcv._ext':
            raise ModuleNotFoundError("No module named 'mmcv._ext'")

sys.meta_path.insert(0, BlockCompiledOps())
import mmpose_ext
from mmpose_ext.compat import compiled_ops_available
from mmpose_ext.compat.mmcv_ops import TorchOpsExtModule
import mmpose.models, mmdet.models  # noqa: F401
import torch
from mmcv.ops import batched_nms
from mmdet.apis import inference_detector, init_detector

boxes, scores, idxs = torch.load(sys.argv[1])
config, weights, image = sys.argv[2:5]
_, keep = batched_nms(boxes, scores, idxs, dict(type='nms',
                                                iou_threshold=0.5))
det = init_detector(config, weights, device='cpu')
res = inference_detector(det, image).pred_instances
print(json.dumps(dict(
    lite=not compiled_ops_available()
    and isinstance(sys.modules['mmcv._ext'], TorchOpsExtModule),
    keep=keep.tolist(), bboxes=res.bboxes.tolist(),
    scores=res.scores.tolist())))
'''


@pytest.mark.slow
def test_mmpose_and_a_detector_run_without_the_compiled_ops(
        tmp_path, real_data_root):
    from mmcv.ops import batched_nms
    from mmdet.apis import inference_detector, init_detector
    from mmengine.config import Config
    from mmengine.runner import save_checkpoint

    import mmpose_ext  # noqa: F401

    boxes, scores = _boxes(400, 7)
    idxs = torch.randint(
        0, 3, (400, ), generator=torch.Generator().manual_seed(0))
    config = osp.join(REPO, 'configs', 'detectors',
                      'rtmdet_tiny_person_synthetic.py')
    image = osp.join(real_data_root, 'coco', '000000196141.jpg')
    cfg = Config.fromfile(config)
    # an untrained detector scores ~0.01: keep every candidate for NMS
    cfg.model.test_cfg.score_thr = 0.0
    torch.manual_seed(0)
    det = init_detector(cfg, None, device='cpu')
    weights = str(tmp_path / 'det.pth')
    save_checkpoint(det.state_dict(), weights)
    cfg_file = str(tmp_path / 'det_cfg.py')
    cfg.dump(cfg_file)
    tensors = str(tmp_path / 'nms_inputs.pt')
    torch.save((boxes, scores, idxs), tensors)

    proc = subprocess.run(
        [sys.executable, '-c', _LITE_CHILD, tensors, cfg_file, weights, image],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    child = json.loads(proc.stdout.strip().splitlines()[-1])
    assert child['lite'], 'the stand-in was not in use in the child'

    # batched_nms = NMS of boxes moved apart by class
    shifted = boxes + idxs[:, None].float() * (boxes.max() + 1)
    assert child['keep'] == _reference_nms(shifted, scores, 0.5, 0)
    _, keep = batched_nms(boxes, scores, idxs,
                          dict(type='nms', iou_threshold=0.5))
    assert child['keep'] == keep.tolist()
    det = init_detector(cfg, weights, device='cpu')
    res = inference_detector(det, image).pred_instances
    assert len(res.bboxes) > 1
    np.testing.assert_allclose(child['bboxes'], res.bboxes.numpy(), atol=1e-4)
    np.testing.assert_allclose(child['scores'], res.scores.numpy(), atol=1e-6)
