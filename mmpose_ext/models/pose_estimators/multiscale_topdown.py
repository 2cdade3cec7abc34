# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Top-down pose estimator with image-pyramid (multi-scale) + flip testing.

SADI-Net tests with "image pyramids with six scales and flipping"; MMPose
1.x has no multi-scale top-down test, so this subclass of
``TopdownPoseEstimator`` adds it, driven by ``test_cfg``::

    test_cfg = dict(
        flip_test=True, flip_mode='heatmap', shift_heatmap=True,
        multiscale_test=dict(
            scales=(0.75, 0.875, 1.0, 1.125, 1.25, 1.5),
            mode='resize',      # or 'zoom'
            size_divisor=32,
            merge='auto'))      # or 'heatmap' / 'keypoint'

What "scale" means for a top-down crop (the crop is already cut around the
person by ``TopdownAffine``):

* ``mode='resize'`` (default, a true image pyramid): the whole crop is
  resized to ``s`` times the input size (rounded to ``size_divisor``), so
  the content is unchanged and only its resolution changes; the person can
  never leave the frame. The network's heatmaps (of size ~ s * base) are
  resampled onto the base heatmap grid with the exact coordinate mapping
  (bilinear image resize with ``align_corners=False`` followed by MSRA's
  ``index * stride`` convention), not a plain ``interpolate``.
* ``mode='zoom'``: the input size stays fixed and the crop is zoomed by
  ``s`` about its centre (s > 1 zooms in and can cut off extremities;
  s < 1 zooms out and pads with the value a black border has after
  normalisation, as ``TopdownAffine`` pads). Heatmaps are warped back with
  the inverse zoom; base pixels a zoomed-in scale never saw are left out of
  that pixel's average (coverage mask).

Per scale, the heatmaps are flip-averaged exactly as ``HeatmapHead`` does,
resampled to the base heatmap size, averaged over scales and decoded once
(``merge='heatmap'``). Heads without heatmap output (e.g. ``DLMHead`` with
``predict_from='regression'``, ``RLEHead``) fall back to averaging the
decoded keypoints and scores over scales (``merge='keypoint'``). With
``scales=(1.0,)`` (or no ``multiscale_test``) the result equals
``TopdownPoseEstimator`` exactly: scale 1 is never resampled.

At test time the neck is skipped when the head reports (through an optional
``uses_neck_output(test_cfg)`` method) that it does not read the neck's
output: ``DLMHead`` predicting from H_rfm needs only the backbone's
heatmaps, so the SFM's cost is saved 2 x len(scales) times per batch with
unchanged results.
"""
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmpose.models.heads import CPMHead, HeatmapHead
from mmpose.models.pose_estimators import TopdownPoseEstimator
from mmpose.models.utils.tta import flip_heatmaps
from mmpose.registry import MODELS
from mmpose.utils.typing import SampleList
from torch import Tensor

MS_MODES = ('resize', 'zoom')
MERGE_MODES = ('auto', 'heatmap', 'keypoint')


@MODELS.register_module()
class MultiScaleTopdownPoseEstimator(TopdownPoseEstimator):
    """``TopdownPoseEstimator`` with a test-time image pyramid.

    Arguments are those of ``TopdownPoseEstimator``; ``test_cfg`` may add
    ``multiscale_test`` (dict):

    - ``scales`` (Sequence[float]): scale factors (> 0). Defaults to
      ``(1.0,)``.
    - ``mode`` (str): ``'resize'`` or ``'zoom'`` (see the module docstring).
      Defaults to ``'resize'``.
    - ``size_divisor`` (int): ``'resize'`` rounds the scaled input height and
      width to a multiple of it (scale 1 is kept as is). Defaults to 32.
    - ``merge`` (str): ``'auto'``, ``'heatmap'`` or ``'keypoint'``.
      ``'auto'`` merges heatmaps for heatmap heads (``HeatmapHead``,
      ``CPMHead``, ``DLMHead`` unless it predicts from its regression) and
      keypoints otherwise. The keypoint merge expects the head's decoder to
      return base-frame coordinates in ``'resize'`` mode, as coordinate
      codecs normalised by the input size (``RegressionLabel``) do.
      Defaults to ``'auto'``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._check_multiscale_cfg(self.test_cfg.get('multiscale_test'))

    @staticmethod
    def _check_multiscale_cfg(cfg: Optional[dict]) -> None:
        if cfg is None:
            return
        scales = cfg.get('scales', (1.0, ))
        if not isinstance(scales, (list, tuple)) or len(scales) == 0:
            raise ValueError(
                f'multiscale_test.scales must be a non-empty sequence, got '
                f'{scales!r}')
        for s in scales:
            if not isinstance(s, (int, float)) or not s > 0:
                raise ValueError(
                    f'multiscale_test.scales entries must be > 0, got {s!r}')
        if cfg.get('mode', 'resize') not in MS_MODES:
            raise ValueError(f"multiscale_test.mode must be one of "
                             f"{MS_MODES}, got {cfg.get('mode')!r}")
        div = cfg.get('size_divisor', 32)
        if not isinstance(div, int) or div < 1:
            raise ValueError(
                f'multiscale_test.size_divisor must be an int >= 1, got '
                f'{div!r}')
        if cfg.get('merge', 'auto') not in MERGE_MODES:
            raise ValueError(f"multiscale_test.merge must be one of "
                             f"{MERGE_MODES}, got {cfg.get('merge')!r}")

    # ------------------------------------------------------------- helpers
    def _ms_cfg(self) -> dict:
        cfg = dict(scales=(1.0, ), mode='resize', size_divisor=32,
                   merge='auto')
        cfg.update(self.test_cfg.get('multiscale_test') or {})
        self._check_multiscale_cfg(cfg)
        return cfg

    def _merge_mode(self, cfg: dict) -> str:
        if cfg['merge'] != 'auto':
            return cfg['merge']
        if hasattr(self.head, 'predict_heatmaps'):
            mode = self.test_cfg.get(
                'predict_from', getattr(self.head, 'predict_from', 'heatmap'))
            return 'keypoint' if mode == 'regression' else 'heatmap'
        if isinstance(self.head, (HeatmapHead, CPMHead)):
            return 'heatmap'
        return 'keypoint'

    def _pad_value(self, inputs: Tensor) -> Tensor:
        """Normalised value of a black pixel, (1, C, 1, 1)."""
        dp = self.data_preprocessor
        if getattr(dp, '_enable_normalize', False):
            return ((0 - dp.mean) / dp.std).view(1, -1, 1, 1).to(inputs)
        return inputs.new_zeros(1, inputs.shape[1], 1, 1)

    def _scaled_size(self, hw: Tuple[int, int], s: float,
                     div: int) -> Tuple[int, int]:
        if s == 1:
            return tuple(hw)
        return tuple(max(div, int(round(v * s / div)) * div) for v in hw)

    def _scale_inputs(self, inputs: Tensor, s: float, cfg: dict) -> Tensor:
        if s == 1:
            return inputs
        if cfg['mode'] == 'resize':
            size = self._scaled_size(inputs.shape[-2:], s,
                                     cfg['size_divisor'])
            return F.interpolate(
                inputs, size=size, mode='bilinear', align_corners=False)
        # zoom about the centre; pad with the normalised black value
        b = inputs.shape[0]
        theta = inputs.new_tensor([[1 / s, 0, 0], [0, 1 / s, 0]])
        grid = F.affine_grid(
            theta.expand(b, 2, 3), list(inputs.shape), align_corners=True)
        pad = self._pad_value(inputs)
        return F.grid_sample(
            inputs - pad, grid, mode='bilinear', padding_mode='zeros',
            align_corners=True) + pad

    def _test_feat(self, inputs: Tensor):
        """``extract_feat``, skipping the neck when the head says it does not
        use the neck's output at test time (``DLMHead`` predicting from
        H_rfm: the SFM only feeds the DLM). The head's inputs are otherwise
        identical (the SFM passes the backbone's heatmaps through)."""
        uses_neck = getattr(self.head, 'uses_neck_output', None)
        if self.with_neck and uses_neck is not None and \
                not uses_neck(self.test_cfg):
            return self.backbone(inputs)
        return self.extract_feat(inputs)

    def _extract(self, inputs: Tensor):
        if self.test_cfg.get('flip_test', False):
            return [self._test_feat(inputs), self._test_feat(inputs.flip(-1))]
        return self._test_feat(inputs)

    def _head_heatmaps(self, feats, data_samples: SampleList) -> Tensor:
        """Flip-merged heatmaps of one scale, (B, K, h, w)."""
        head = self.head
        if hasattr(head, 'predict_heatmaps'):
            return head.predict_heatmaps(feats, data_samples, self.test_cfg)

        def fwd(f):
            out = head.forward(f)
            return out[-1] if isinstance(out, (list, tuple)) else out

        if self.test_cfg.get('flip_test', False):
            flip_indices = data_samples[0].metainfo['flip_indices']
            _feats, _feats_flip = feats
            heatmaps = fwd(_feats)
            heatmaps_flip = flip_heatmaps(
                fwd(_feats_flip),
                flip_mode=self.test_cfg.get('flip_mode', 'heatmap'),
                flip_indices=flip_indices,
                shift_heatmap=self.test_cfg.get('shift_heatmap', False))
            return (heatmaps + heatmaps_flip) * 0.5
        return fwd(feats)

    def _heatmaps_to_base(self, heatmaps: Tensor, s: float, cfg: dict,
                          in_hw: Sequence[int], scaled_hw: Sequence[int],
                          base_hm: Sequence[int]) -> Tuple[Tensor, Tensor]:
        """Resample a scale's heatmaps (B, K, h', w') onto the base heatmap
        grid (B, K, h0, w0) with the exact inverse coordinate mapping.

        Returns:
            tuple: the resampled heatmaps and a coverage mask (1, 1, h0, w0):
            1 where the base pixel lies inside this scale's heatmap (within
            half a pixel), 0 where the scale never saw it (outside the
            zoomed-in crop); the merge averages over covering scales only.
        """
        if s == 1 and tuple(heatmaps.shape[-2:]) == tuple(base_hm):
            return heatmaps, heatmaps.new_ones(1, 1, *base_hm)
        h1, w1 = heatmaps.shape[-2:]
        coords, inside = [], []
        for axis in (1, 0):  # x then y
            n0, n1 = base_hm[axis], (h1, w1)[axis]
            size0, size1 = in_hw[axis], scaled_hw[axis]
            st0, st1 = size0 / n0, size1 / n1  # strides (input px / hm px)
            u = torch.arange(n0, dtype=heatmaps.dtype,
                             device=heatmaps.device)
            x = u * st0  # base input coordinate of base heatmap index u
            if cfg['mode'] == 'resize':
                r = size1 / size0
                x1 = (x + 0.5) * r - 0.5
            else:
                c = (size0 - 1) / 2
                x1 = c + (x - c) * s
            u1 = x1 / st1
            coords.append(2 * u1 / max(n1 - 1, 1) - 1)
            inside.append((u1 >= -0.5) & (u1 <= n1 - 0.5))
        gx, gy = coords
        grid = torch.stack(
            [gx[None, :].expand(len(gy), -1), gy[:, None].expand(-1, len(gx))],
            -1)
        grid = grid[None].expand(heatmaps.shape[0], -1, -1, -1)
        out = F.grid_sample(
            heatmaps, grid, mode='bilinear', padding_mode='border',
            align_corners=True)
        mask = (inside[1][:, None] & inside[0][None, :]).to(out.dtype)
        return out, mask[None, None]

    def _keypoints_to_base(self, keypoints: np.ndarray, s: float, cfg: dict,
                           in_hw: Sequence[int]) -> np.ndarray:
        """Map decoded input-frame keypoints of a scale back to the base
        frame (``'resize'`` decoders already work in the base frame)."""
        if s == 1 or cfg['mode'] == 'resize':
            return keypoints
        c = np.array([(in_hw[1] - 1) / 2, (in_hw[0] - 1) / 2])
        out = keypoints.copy()
        out[..., :2] = c + (keypoints[..., :2] - c) / s
        return out

    # ------------------------------------------------------------- predict
    def predict(self, inputs: Tensor, data_samples: SampleList) -> SampleList:
        """Predict with flip and multi-scale test-time augmentation.

        Args:
            inputs (Tensor): Normalised crops (B, 3, H, W).
            data_samples (list[PoseDataSample]): Their data samples.

        Returns:
            list[PoseDataSample]: ``data_samples`` with ``pred_instances``
            (and ``pred_fields.heatmaps`` with ``test_cfg.output_heatmaps``
            for the heatmap merge).
        """
        assert self.with_head, 'The model must have head to predict.'
        cfg = self._ms_cfg()
        scales = cfg['scales']
        in_hw = tuple(inputs.shape[-2:])
        merge = self._merge_mode(cfg)
        batch_pred_fields = None

        if merge == 'heatmap':
            decoder = getattr(self.head, 'decoder', None)
            if decoder is None or not hasattr(decoder, 'heatmap_size'):
                raise ValueError(
                    "multiscale_test merge='heatmap' needs a head decoder "
                    'with a heatmap_size (e.g. MSRAHeatmap)')
            base_hm = tuple(decoder.heatmap_size)[::-1]  # (h0, w0)
            merged, masks = [], []
            for s in scales:
                x = self._scale_inputs(inputs, s, cfg)
                hm = self._head_heatmaps(self._extract(x), data_samples)
                hm, mask = self._heatmaps_to_base(hm, s, cfg, in_hw,
                                                  tuple(x.shape[-2:]),
                                                  base_hm)
                merged.append(hm * mask)
                masks.append(mask)
            if len(merged) == 1:
                heatmaps = merged[0]
            else:  # mean over the scales that cover each pixel
                heatmaps = torch.stack(merged).sum(0) / torch.stack(
                    masks).sum(0).clamp(min=1)
            batch_pred_instances = self.head.decode(heatmaps)
            if self.test_cfg.get('output_heatmaps', False):
                batch_pred_fields = [
                    PixelData(heatmaps=hm) for hm in heatmaps.detach()
                ]
        else:
            per_scale: List = []
            for s in scales:
                x = self._scale_inputs(inputs, s, cfg)
                preds = self.head.predict(
                    self._extract(x), data_samples, test_cfg=self.test_cfg)
                if isinstance(preds, tuple):
                    preds, fields = preds
                    if len(scales) == 1:
                        batch_pred_fields = fields
                per_scale.append(preds)
            batch_pred_instances = per_scale[0]
            if len(scales) > 1:
                for i, inst in enumerate(batch_pred_instances):
                    kpts = [
                        self._keypoints_to_base(p[i].keypoints, s, cfg, in_hw)
                        for p, s in zip(per_scale, scales)
                    ]
                    inst.keypoints = np.mean(kpts, axis=0)
                    inst.keypoint_scores = np.mean(
                        [p[i].keypoint_scores for p in per_scale], axis=0)

        return self.add_pred_to_datasample(batch_pred_instances,
                                           batch_pred_fields, data_samples)
