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
            merge='auto',       # or 'heatmap' / 'keypoint'
            keypoint_scales=None))  # scales of the keypoint merge

What "scale" means for a top-down crop (the crop is already cut around the
person by ``TopdownAffine``):

* ``mode='resize'`` (default, a true image pyramid): the (H, W) crop is
  resized by the same factor on both sides to (h, w) = (round(H * s),
  round(W * s)), so its aspect ratio is kept (up to rounding), and padded on
  the right and bottom up to the next multiple of ``size_divisor`` (Hp, Wp)
  with the value a black pixel has after normalisation (as ``TopdownAffine``
  pads). The content is unchanged, only its resolution changes, and the
  person can never leave the frame. Pixel centres of the resized part map
  to the base crop per axis by ``x_base = (x_s + 0.5) / r - 0.5`` with
  ``r = w / W`` (``h / H`` for y), the convention of a bilinear resize with
  ``align_corners=False``; the padding does not enter ``r``.
* ``mode='zoom'``: the input size stays fixed and the crop is zoomed by
  ``s`` about its centre c = (size - 1) / 2: ``x_s = c + (x_base - c) * s``
  (s > 1 zooms in and can cut off extremities; s < 1 zooms out and pads with
  the normalised black value).

The heatmaps of a scale (stride ``Wp / w_hm`` with MSRA's convention that
heatmap index u sits at input pixel ``u * stride``) are resampled onto the
base heatmap grid with that exact mapping (bilinear, from the heatmap cells
whose input pixel lies in the resized content only: the padded cells never
enter the result; beyond the content the last content cell is repeated).
Base pixels a zoomed-in scale never saw are left out of that pixel's average
(coverage mask).

Per scale, the heatmaps are flip-averaged exactly as ``HeatmapHead`` does
(the whole padded input is flipped), resampled to the base heatmap size,
averaged over scales and decoded once (``merge='heatmap'``). Heads without
heatmap output (e.g. ``DLMHead`` with ``predict_from='regression'``,
``RLEHead``) average the decoded keypoints and scores over scales instead
(``merge='keypoint'``): the head sees data samples whose ``input_size`` is
that scale's network input (Wp, Hp), so its flip test flips about the width
of the image it was given. A coordinate head's normalised coordinates refer
to that image, so a keypoint its codec decoded with the base ``input_size``
is first brought to the scaled padded frame (times Wp / W, Hp / H; stride
based codecs such as ``MSRAHeatmap`` decode to that frame already) and then
mapped to the base frame with the inverse of the heatmaps' mapping. With
``scales=(1.0,)`` (or no ``multiscale_test``) the result equals
``TopdownPoseEstimator`` exactly: scale 1 is never resized, padded nor
resampled.

The head is asked through its contract
(:mod:`mmpose_ext.models.heads.interface`; MMPose's own heads through an
adapter): what it decodes (``prediction_source``), its flip-merged heatmaps
(``predict_heatmaps``) and coordinate codec (``coordinate_decoder``), and
whether it reads the neck's output (``uses_neck_output``): ``DLMHead``
predicting from H_rfm needs only the backbone's heatmaps, so the SFM is
skipped, 2 x len(scales) times per batch, with unchanged results.
"""
import math
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmpose.codecs import IntegralRegressionLabel, RegressionLabel
from mmpose.models.pose_estimators import TopdownPoseEstimator
from mmpose.registry import MODELS
from mmpose.utils.typing import SampleList
from torch import Tensor

from ..heads.interface import as_topdown_head

MS_MODES = ('resize', 'zoom')
MERGE_MODES = ('auto', 'heatmap', 'keypoint')
# codecs whose decode multiplies normalised coordinates by the input size
NORMALISED_CODECS = (RegressionLabel, IntegralRegressionLabel)

# (a_x, b_x), (a_y, b_y): x_scaled = a * x_base + b per axis
Affine = Tuple[Tuple[float, float], Tuple[float, float]]


@MODELS.register_module()
class MultiScaleTopdownPoseEstimator(TopdownPoseEstimator):
    """``TopdownPoseEstimator`` with a test-time image pyramid.

    Arguments are those of ``TopdownPoseEstimator``; ``test_cfg`` may add
    ``multiscale_test`` (dict):

    - ``scales`` (Sequence[float]): scale factors (> 0). Defaults to
      ``(1.0,)``.
    - ``mode`` (str): ``'resize'`` or ``'zoom'`` (see the module docstring).
      Defaults to ``'resize'``.
    - ``size_divisor`` (int): ``'resize'`` pads the resized crop (right and
      bottom) up to a multiple of it (scale 1 is kept as is). Defaults to 32.
    - ``merge`` (str): ``'auto'``, ``'heatmap'`` or ``'keypoint'``.
      ``'auto'`` merges heatmaps for heatmap heads (``HeatmapHead``,
      ``CPMHead``, ``DLMHead`` unless it predicts from its regression) and
      keypoints otherwise. Defaults to ``'auto'``.
    - ``keypoint_scales`` (Sequence[float], optional): the scales of the
      keypoint merge (coordinate heads), in place of ``scales``. A
      regression from a pooled vector (``RLEHead``, ``DLMHead`` with
      ``predict_from='regression'``) is not equivariant to the input's
      resolution: at a resolution it was not trained at its coordinates are
      off, and averaging them spoils the scale-1 prediction (SADI-Net's
      configs set ``(1.0,)``, measured in docs/sadi_net.md, "Predicting from
      the DLM"). None uses ``scales``. Defaults to None.
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
        kscales = cfg.get('keypoint_scales')
        if kscales is not None:
            if not isinstance(kscales, (list, tuple)) or len(kscales) == 0:
                raise ValueError(
                    f'multiscale_test.keypoint_scales must be None or a '
                    f'non-empty sequence, got {kscales!r}')
            for s in kscales:
                if not isinstance(s, (int, float)) or not s > 0:
                    raise ValueError(
                        f'multiscale_test.keypoint_scales entries must be '
                        f'> 0, got {s!r}')
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
        cfg = dict(
            scales=(1.0, ),
            mode='resize',
            size_divisor=32,
            merge='auto',
            keypoint_scales=None)
        cfg.update(self.test_cfg.get('multiscale_test') or {})
        self._check_multiscale_cfg(cfg)
        return cfg

    def _merge_mode(self, cfg: dict) -> str:
        if cfg['merge'] != 'auto':
            return cfg['merge']
        source = as_topdown_head(self.head).prediction_source(self.test_cfg)
        return 'heatmap' if source == 'heatmap' else 'keypoint'

    def _pad_value(self, inputs: Tensor) -> Tensor:
        """Normalised value of a black pixel, (1, C, 1, 1)."""
        dp = self.data_preprocessor
        if getattr(dp, '_enable_normalize', False):
            return ((0 - dp.mean) / dp.std).view(1, -1, 1, 1).to(inputs)
        return inputs.new_zeros(1, inputs.shape[1], 1, 1)

    @staticmethod
    def _pyramid_sizes(hw: Sequence[int], s: float,
                       cfg: dict) -> Tuple[Tuple[int, int], Tuple[int, int]]:
        """Network input geometry of scale ``s`` for a crop of size ``hw``.

        Args:
            hw (Sequence[int]): Base crop (H, W).
            s (float): Scale.
            cfg (dict): The multi-scale config (``mode``, ``size_divisor``).

        Returns:
            tuple: ``(resized, padded)``, each (h, w): ``'resize'``: the crop
            resized by ``s`` on both sides (half-up rounding, at least 1)
            and that padded up to a multiple of ``size_divisor``;
            ``'zoom'`` and scale 1: the base size twice.
        """
        hw = (int(hw[0]), int(hw[1]))
        if s == 1 or cfg['mode'] != 'resize':
            return hw, hw
        div = cfg['size_divisor']
        resized = tuple(max(1, int(math.floor(v * s + 0.5))) for v in hw)
        padded = tuple(-(-v // div) * div for v in resized)
        return resized, padded

    @staticmethod
    def _frame_affine(s: float, cfg: dict, in_hw: Sequence[int],
                      resized_hw: Sequence[int]) -> Affine:
        """Per axis (x, y), ``(a, b)`` with ``x_scaled = a * x_base + b``
        (pixel coordinates, pixel centres at integers).

        ``'resize'``: ``r = resized / base`` per axis (the padding is not
        part of it), ``x_s = (x + 0.5) * r - 0.5``; ``'zoom'``: about the
        crop centre c = (size - 1) / 2, ``x_s = c + (x - c) * s``.
        """
        out = []
        for axis in (1, 0):
            if cfg['mode'] == 'resize':
                r = resized_hw[axis] / in_hw[axis]
                out.append((r, 0.5 * r - 0.5))
            else:
                c = (in_hw[axis] - 1) / 2
                out.append((float(s), c * (1 - s)))
        return tuple(out)

    def _scale_inputs(self, inputs: Tensor, s: float,
                      cfg: dict) -> Tuple[Tensor, Tuple[int, int]]:
        """The network input of scale ``s``.

        Args:
            inputs (Tensor): Normalised base crops (B, C, H, W).
            s (float): Scale.
            cfg (dict): The multi-scale config.

        Returns:
            tuple: the input (B, C, Hp, Wp) and the size (h, w) of its
            resized (unpadded) part; ``inputs`` itself for scale 1.
        """
        in_hw = tuple(inputs.shape[-2:])
        if s == 1:
            return inputs, in_hw
        b, c = inputs.shape[:2]
        pad = self._pad_value(inputs)
        if cfg['mode'] == 'resize':
            resized, padded = self._pyramid_sizes(in_hw, s, cfg)
            x = F.interpolate(
                inputs, size=resized, mode='bilinear', align_corners=False)
            if padded == resized:
                return x, resized
            out = pad.expand(b, c, *padded).clone()
            out[..., :resized[0], :resized[1]] = x
            return out, resized
        # zoom about the centre; pad with the normalised black value
        theta = inputs.new_tensor([[1 / s, 0, 0], [0, 1 / s, 0]])
        grid = F.affine_grid(
            theta.expand(b, 2, 3), list(inputs.shape), align_corners=True)
        return F.grid_sample(
            inputs - pad,
            grid,
            mode='bilinear',
            padding_mode='zeros',
            align_corners=True) + pad, in_hw

    @staticmethod
    def _scale_samples(data_samples: SampleList,
                       input_hw: Sequence[int]) -> SampleList:
        """Shallow copies of ``data_samples`` whose ``input_size`` metainfo
        is the network input (w, h) of a scale (the head flips coordinates
        about that width); the caller's samples are left untouched."""
        size = (int(input_hw[1]), int(input_hw[0]))
        if all(
                tuple(ds.metainfo.get('input_size', ())) == size
                for ds in data_samples):
            return data_samples
        return [
            ds.new(metainfo=dict(ds.metainfo, input_size=size))
            for ds in data_samples
        ]

    def _test_feat(self, inputs: Tensor):
        """``extract_feat``, skipping the neck when the head says it does not
        use the neck's output at test time (``DLMHead`` predicting from
        H_rfm: the SFM only feeds the DLM). The head's inputs are otherwise
        identical (the SFM passes the backbone's heatmaps through)."""
        if self.with_neck and not as_topdown_head(self.head).uses_neck_output(
                self.test_cfg):
            return self.backbone(inputs)
        return self.extract_feat(inputs)

    def _extract(self, inputs: Tensor):
        if self.test_cfg.get('flip_test', False):
            return [self._test_feat(inputs), self._test_feat(inputs.flip(-1))]
        return self._test_feat(inputs)

    def _head_heatmaps(self, feats, data_samples: SampleList) -> Tensor:
        """Flip-merged heatmaps of one scale, (B, K, h, w)."""
        return as_topdown_head(self.head).predict_heatmaps(
            feats, data_samples, self.test_cfg)

    @staticmethod
    def _heatmaps_to_base(heatmaps: Tensor,
                          affine: Affine,
                          in_hw: Sequence[int],
                          resized_hw: Sequence[int],
                          padded_hw: Sequence[int],
                          base_hm: Sequence[int],
                          full_cover: bool = False) -> Tuple[Tensor, Tensor]:
        """Resample a scale's heatmaps onto the base heatmap grid with the
        exact inverse coordinate mapping.

        Base heatmap index u sits at base input pixel ``u * st0`` (st0 =
        H / h0, W / w0), which the scale's network input has at
        ``a * u * st0 + b`` (:meth:`_frame_affine`), i.e. at heatmap index
        ``(a * u * st0 + b) / st1`` (st1 = Hp / h', Wp / w'). Only the cells
        whose input pixel lies in the resized content are read (the padded
        cells never reach the result; positions beyond the content take the
        last content cell).

        Args:
            heatmaps (Tensor): The scale's heatmaps (B, K, h', w').
            affine (tuple): Base -> scaled input mapping per axis (x, y).
            in_hw (Sequence[int]): Base input (H, W).
            resized_hw (Sequence[int]): Resized, unpadded input (h, w).
            padded_hw (Sequence[int]): Network input (Hp, Wp).
            base_hm (Sequence[int]): Base heatmap (h0, w0).
            full_cover (bool): The scale saw the whole base crop
                (``'resize'``): the mask is all ones. Defaults to False.

        Returns:
            tuple: the resampled heatmaps (B, K, h0, w0) and a coverage mask
            (1, 1, h0, w0): 1 where the base pixel lies inside this scale's
            heatmap (within half a heatmap pixel), 0 where the scale never
            saw it (outside the zoomed-in crop); the merge averages over
            covering scales only.
        """
        identity = affine == ((1.0, 0.0), (1.0, 0.0))
        if identity and tuple(heatmaps.shape[-2:]) == tuple(base_hm):
            return heatmaps, heatmaps.new_ones(1, 1, *base_hm)
        hm_hw = heatmaps.shape[-2:]
        coords, inside, content = [], [], []
        for i, axis in enumerate((1, 0)):  # x then y
            n0, n1 = base_hm[axis], hm_hw[axis]
            st0 = in_hw[axis] / n0
            st1 = padded_hw[axis] / n1
            # cells u with u * st1 < resized, i.e. ceil(resized * n1 / Hp)
            n_in = min(n1, -(-resized_hw[axis] * n1 // padded_hw[axis]))
            a, b = affine[i]
            u = torch.arange(n0, dtype=heatmaps.dtype, device=heatmaps.device)
            u1 = (a * (u * st0) + b) / st1
            coords.append(2 * u1 / max(n_in - 1, 1) - 1)
            inside.append((u1 >= -0.5) & (u1 <= n_in - 0.5))
            content.append(n_in)
        heatmaps = heatmaps[..., :content[1], :content[0]]
        gx, gy = coords
        grid = torch.stack(
            [gx[None, :].expand(len(gy), -1), gy[:, None].expand(-1, len(gx))],
            -1)
        grid = grid[None].expand(heatmaps.shape[0], -1, -1, -1)
        out = F.grid_sample(
            heatmaps,
            grid,
            mode='bilinear',
            padding_mode='border',
            align_corners=True)
        if full_cover:
            return out, out.new_ones(1, 1, *base_hm)
        mask = (inside[1][:, None] & inside[0][None, :]).to(out.dtype)
        return out, mask[None, None]

    @staticmethod
    def _keypoints_to_base(keypoints: np.ndarray, affine: Affine,
                           factor: Sequence[float]) -> np.ndarray:
        """Map a scale's decoded keypoints back to the base input frame.

        Args:
            keypoints (np.ndarray): Decoded keypoints (N, K, 2) of a scale.
            affine (tuple): Base -> scaled input mapping per axis (x, y).
            factor (Sequence[float]): (x, y) factors from decoded units to
                pixels of the scale's network input
                (:meth:`_keypoint_factor`).

        Returns:
            np.ndarray: Base-frame keypoints, same shape.
        """
        (ax, bx), (ay, by) = affine
        a, b = np.array([ax, ay]), np.array([bx, by])
        out = keypoints.copy()
        scaled = keypoints[..., :2] * np.asarray(factor, dtype=np.float64)
        out[..., :2] = (scaled - b) / a
        return out

    def _keypoint_factor(self,
                         padded_hw: Sequence[int]) -> Tuple[float, float]:
        """(x, y) factors from a scale's decoded keypoints to pixels of its
        network input (Hp, Wp).

        Coordinate codecs (``RegressionLabel``, ``IntegralRegressionLabel``,
        also ``DLMHead``'s ``regression_decoder``) multiply the normalised
        coordinates, which refer to the image the network saw, by their
        (base) ``input_size``: the factor is Wp / W, Hp / H. Stride-based
        codecs (heatmaps, SimCC) already decode to input pixels of the image
        the head saw (index times a fixed stride): the factor is 1.
        """
        decoder = as_topdown_head(self.head).coordinate_decoder(self.test_cfg)
        if isinstance(decoder, NORMALISED_CODECS):
            w, h = decoder.input_size
            return padded_hw[1] / w, padded_hw[0] / h
        return 1.0, 1.0

    # ------------------------------------------------------------- predict
    def predict(self, inputs: Tensor, data_samples: SampleList) -> SampleList:
        """Predict with flip and multi-scale test-time augmentation.

        Args:
            inputs (Tensor): Normalised crops (B, 3, H, W).
            data_samples (list[PoseDataSample]): Their data samples (not
                modified except for the added predictions).

        Returns:
            list[PoseDataSample]: ``data_samples`` with ``pred_instances``
            (and ``pred_fields.heatmaps`` with ``test_cfg.output_heatmaps``
            for the heatmap merge).
        """
        assert self.with_head, 'The model must have head to predict.'
        cfg = self._ms_cfg()
        in_hw = tuple(inputs.shape[-2:])
        merge = self._merge_mode(cfg)
        scales = cfg['scales']
        if merge == 'keypoint' and cfg['keypoint_scales'] is not None:
            scales = cfg['keypoint_scales']
        batch_pred_fields = None

        def run(s):
            """Network input geometry and head input of scale s."""
            x, resized = self._scale_inputs(inputs, s, cfg)
            padded = tuple(x.shape[-2:])
            samples = data_samples if s == 1 else self._scale_samples(
                data_samples, padded)
            affine = self._frame_affine(s, cfg, in_hw, resized)
            return self._extract(x), samples, affine, resized, padded

        if merge == 'heatmap':
            decoder = getattr(self.head, 'decoder', None)
            if decoder is None or not hasattr(decoder, 'heatmap_size'):
                raise ValueError(
                    "multiscale_test merge='heatmap' needs a head decoder "
                    'with a heatmap_size (e.g. MSRAHeatmap)')
            base_hm = tuple(decoder.heatmap_size)[::-1]  # (h0, w0)
            merged, masks = [], []
            for s in scales:
                feats, samples, affine, resized, padded = run(s)
                hm = self._head_heatmaps(feats, samples)
                hm, mask = self._heatmaps_to_base(
                    hm,
                    affine,
                    in_hw,
                    resized,
                    padded,
                    base_hm,
                    full_cover=cfg['mode'] == 'resize')
                merged.append(hm * mask)
                masks.append(mask)
            if len(merged) == 1:
                heatmaps = merged[0]
            else:  # mean over the scales that cover each pixel
                heatmaps = torch.stack(merged).sum(0) / torch.stack(masks).sum(
                    0).clamp(min=1)
            batch_pred_instances = self.head.decode(heatmaps)
            if self.test_cfg.get('output_heatmaps', False):
                batch_pred_fields = [
                    PixelData(heatmaps=hm) for hm in heatmaps.detach()
                ]
        else:
            per_scale: List = []
            for s in scales:
                feats, samples, affine, resized, padded = run(s)
                preds = self.head.predict(
                    feats, samples, test_cfg=self.test_cfg)
                if isinstance(preds, tuple):
                    preds, fields = preds
                    if len(scales) == 1:
                        batch_pred_fields = fields
                if s != 1:  # scale 1 is the base frame already
                    factor = self._keypoint_factor(padded)
                    for inst in preds:
                        inst.keypoints = self._keypoints_to_base(
                            inst.keypoints, affine, factor)
                per_scale.append(preds)
            batch_pred_instances = per_scale[0]
            if len(scales) > 1:
                for i, inst in enumerate(batch_pred_instances):
                    inst.keypoints = np.mean(
                        [p[i].keypoints for p in per_scale], axis=0)
                    inst.keypoint_scores = np.mean(
                        [p[i].keypoint_scores for p in per_scale], axis=0)

        return self.add_pred_to_datasample(batch_pred_instances,
                                           batch_pred_fields, data_samples)
