# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Truncated-Gaussian keypoint heatmaps plus a binary disk segmentation mask
(SG-HRNet, Tang et al. 2024, eqs. 2-3)."""
import math
from typing import Optional, Tuple

import numpy as np
from mmpose.codecs import MSRAHeatmap
from mmpose.datasets.transforms import PackPoseInputs
from mmpose.registry import KEYPOINT_CODECS


def _check_size(name: str, value) -> Tuple[int, int]:
    try:
        w, h = (int(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f'{name} must be a pair (w, h) of positive ints, '
                         f'got {value!r}') from None
    if w <= 0 or h <= 0 or (w, h) != tuple(value):
        raise ValueError(f'{name} must be a pair (w, h) of positive ints, '
                         f'got {value!r}')
    return w, h


@KEYPOINT_CODECS.register_module()
class DiskSegHeatmap(MSRAHeatmap):
    r"""Keypoint heatmaps and a keypoint-disk segmentation mask for SG-HRNet.

    `Segmentation Guided Attention Networks for Human Pose Estimation`_
    (Tang et al., Traitement du Signal 41(5), 2024).

    Encoding:

    - **Heatmaps** (eq. 3): one unnormalised Gaussian per keypoint (peak 1),
      set to zero outside the square of half-side ``half_side`` (the paper's
      ``l``) around it: ``H_k(x, y) = exp(-((x-x_k)^2 + (y-y_k)^2) / (2
      sigma^2))`` if ``|x-x_k| <= l`` and ``|y-y_k| <= l``, else 0. With
      ``unbiased=False`` the centre is the rounded keypoint (as
      :class:`MSRAHeatmap`); when ``l`` is an integer (the default ``3*sigma``
      with ``sigma=2``) the heatmaps and weights equal MSRAHeatmap's. With
      ``unbiased=True`` (DARK) the centre is sub-pixel and the square is
      taken around it; unlike MSRAHeatmap's unbiased mode the Gaussian is
      still truncated, as eq. 3 asks.
    - **Segmentation mask** (eq. 2): one channel at heatmap resolution, 1 at
      every pixel ``p`` with ``||p - P|| <= disk_radius`` for ANY visible
      keypoint ``P`` lying inside the heatmap, else 0. The paper writes
      ``||p-P||^2 <= r``; ``r`` is read as a radius in heatmap pixels (its
      ablation compares 3, 5 and 9 and keeps 5). Invisible keypoints and
      keypoints outside the crop add nothing, so an instance with no visible
      keypoint gets an all-zero mask (and zero keypoint weights). With
      several instances the masks are united and the heatmaps maxed.

    The centres are the same as the heatmaps' (the rounded keypoint, or the
    sub-pixel one with ``unbiased=True``). Everything is vectorised over
    instances, keypoints and pixels (separable Gaussians and one broadcast
    distance test); there is no Python loop.

    Decoding is :class:`MSRAHeatmap`'s: argmax plus the quarter-pixel shift
    towards the higher neighbour, or DARK refinement with ``unbiased=True``.
    The segmentation mask is not needed to decode.

    Note:

        - instance number: N
        - keypoint number: K
        - keypoint dimension: D
        - image size: [w, h]
        - heatmap size: [W, H]

    Encoded:

        - heatmaps (np.ndarray): The keypoint heatmaps in shape (K, H, W),
          float32
        - keypoint_weights (np.ndarray): The target weights in shape (N, K),
          float32: the visibility, set to 0 when the Gaussian square lies
          completely outside the heatmap
        - seg_masks (np.ndarray): The binary segmentation mask in shape
          (1, H, W), float32 in {0, 1}

    ``GenerateTarget`` packs ``heatmaps`` and ``seg_masks`` into
    ``data_sample.gt_fields`` and ``keypoint_weights`` into
    ``data_sample.gt_instance_labels`` (see the mapping tables below). The
    instance table is MMPose's default one, so bboxes, bbox scores, bbox
    scales and head sizes still reach the metrics.

    Args:
        input_size (tuple): Image size in [w, h]
        heatmap_size (tuple): Heatmap size in [W, H]
        sigma (float): The sigma of the Gaussian heatmap, > 0. Defaults to 2
        half_side (float, optional): Half-side ``l`` of the square outside
            which a heatmap is zero, >= 0. ``None`` means ``3 * sigma``.
            Defaults to ``None``
        disk_radius (float): Radius ``r`` of the mask disks in heatmap
            pixels, >= 0. Defaults to 5
        unbiased (bool): Sub-pixel Gaussian centres and DARK decoding. See
            `Dark Pose`_. Defaults to ``False``
        blur_kernel_size (int): The Gaussian blur kernel size of the DARK
            heatmap modulation (see :class:`MSRAHeatmap`). Defaults to 11

    .. _`Segmentation Guided Attention Networks for Human Pose Estimation`:
        https://doi.org/10.18280/ts.410522
    .. _`Dark Pose`: https://arxiv.org/abs/1910.06278
    """

    # Both maps go to ``gt_fields`` (same H, W, as PixelData requires).
    field_mapping_table = dict(heatmaps='heatmaps', seg_masks='seg_masks')
    label_mapping_table = dict(
        keypoint_weights='keypoint_weights',
        keypoints_visible_weights='keypoints_visible_weights')
    # A codec's table REPLACES PackPoseInputs' default (and merges with the
    # other codecs' in a combined GenerateTarget), so name MMPose's default
    # instance table explicitly: bboxes, scores, bbox scales and head sizes
    # must reach the metrics.
    instance_mapping_table = dict(PackPoseInputs.instance_mapping_table)

    def __init__(self,
                 input_size: Tuple[int, int],
                 heatmap_size: Tuple[int, int],
                 sigma: float = 2.,
                 half_side: Optional[float] = None,
                 disk_radius: float = 5.,
                 unbiased: bool = False,
                 blur_kernel_size: int = 11) -> None:
        input_size = _check_size('input_size', input_size)
        heatmap_size = _check_size('heatmap_size', heatmap_size)
        if not (isinstance(sigma, (int, float)) and math.isfinite(sigma)
                and sigma > 0):
            raise ValueError(f'sigma must be a finite number > 0, got '
                             f'{sigma!r}')
        if half_side is None:
            half_side = 3. * sigma
        if not (isinstance(half_side, (int, float))
                and math.isfinite(half_side) and half_side >= 0):
            raise ValueError(f'half_side must be a finite number >= 0, got '
                             f'{half_side!r}')
        if not (isinstance(disk_radius, (int, float))
                and math.isfinite(disk_radius) and disk_radius >= 0):
            raise ValueError(f'disk_radius must be a finite number >= 0, got '
                             f'{disk_radius!r}')
        super().__init__(
            input_size=input_size,
            heatmap_size=heatmap_size,
            sigma=sigma,
            unbiased=unbiased,
            blur_kernel_size=blur_kernel_size)
        self.half_side = float(half_side)
        self.disk_radius = float(disk_radius)

        W, H = heatmap_size
        self._xs = np.arange(W, dtype=np.float32)
        self._ys = np.arange(H, dtype=np.float32)
        # MSRAHeatmap's patch is 2l+1 wide with its centre at index
        # (2l+1)//2; reproduce that indexing so integer l gives its values.
        self._patch_size = 2 * self.half_side + 1
        self._patch_center = np.float32(self._patch_size // 2)
        # decode clamps keypoints to [0, upper] (input-image pixels)
        self._upper = (np.asarray(heatmap_size) - 1) * self.scale_factor

    def encode(self,
               keypoints: np.ndarray,
               keypoints_visible: Optional[np.ndarray] = None) -> dict:
        """Encode keypoints into heatmaps and a segmentation mask.

        The keypoints must be in the input image space (as ``TopdownAffine``
        leaves them in ``transformed_keypoints``).

        Args:
            keypoints (np.ndarray): Keypoint coordinates in shape (N, K, D)
            keypoints_visible (np.ndarray): Keypoint visibilities in shape
                (N, K). ``None`` means all visible

        Returns:
            dict:
            - heatmaps (np.ndarray): shape (K, H, W), float32
            - keypoint_weights (np.ndarray): shape (N, K), float32
            - seg_masks (np.ndarray): shape (1, H, W), float32 in {0, 1}
        """
        keypoints = np.asarray(keypoints)
        if keypoints.ndim != 3 or keypoints.shape[-1] < 2:
            raise ValueError('keypoints must have shape (N, K, D>=2), got '
                             f'{keypoints.shape}')
        N, K = keypoints.shape[:2]
        if keypoints_visible is None:
            keypoints_visible = np.ones((N, K), dtype=np.float32)
        keypoints_visible = np.asarray(keypoints_visible)
        if keypoints_visible.shape != (N, K):
            raise ValueError('keypoints_visible must have shape (N, K) = '
                             f'{(N, K)}, got {keypoints_visible.shape}')

        W, H = self.heatmap_size
        sigma, half = self.sigma, self.half_side
        visible = keypoints_visible >= 0.5
        finite = np.isfinite(keypoints[..., :2]).all(-1)
        if (visible & ~finite).any():
            n, k = np.argwhere(visible & ~finite)[0]
            raise ValueError(
                f'keypoint {k} of instance {n} is visible but its '
                f'coordinates are not finite: {keypoints[n, k, :2]}')
        # invisible keypoints may carry NaN (e.g. unlabelled): they are not
        # drawn, and must not turn the products below into NaN
        kpts = np.where(finite[..., None], keypoints[..., :2],
                        0) / self.scale_factor  # (N, K, 2) heatmap px
        keypoint_weights = keypoints_visible.astype(np.float32, copy=True)

        if self.unbiased:
            centers = kpts.astype(np.float32)
            lo = centers - half
            hi = centers + half + 1
            outside = ((lo[..., 0] >= W) | (lo[..., 1] >= H)
                       | (hi[..., 0] < 0) | (hi[..., 1] < 0))
            # |x - mu| <= l around the sub-pixel centre
            dx = self._xs - centers[..., 0:1]  # (N, K, W)
            dy = self._ys - centers[..., 1:2]  # (N, K, H)
            in_x = np.abs(dx) <= half
            in_y = np.abs(dy) <= half
        else:
            # MSRAHeatmap's integer arithmetic, so the two codecs agree,
            # except that the patch corners are floored where MSRAHeatmap
            # truncates: with a non-integer half side (sigma=1.5: l=4.5) its
            # Gaussian peaks one pixel off for keypoints near the left/top
            # border. Identical for integer half sides (the default l=3sigma
            # with integer sigma).
            centers = (kpts + 0.5).astype(np.int64)
            lo = np.floor(centers - half).astype(np.int64)
            hi = np.floor(centers + half + 1).astype(np.int64)
            outside = ((lo[..., 0] >= W) | (lo[..., 1] >= H)
                       | (hi[..., 0] < 0) | (hi[..., 1] < 0))
            # pixel x sits at index x - left of MSRA's (2l+1)-wide patch
            gx = self._xs - lo[..., 0:1]  # (N, K, W)
            gy = self._ys - lo[..., 1:2]  # (N, K, H)
            in_x = (gx >= 0) & (gx < self._patch_size) & (
                self._xs < hi[..., 0:1])
            in_y = (gy >= 0) & (gy < self._patch_size) & (
                self._ys < hi[..., 1:2])
            dx = gx - self._patch_center
            dy = gy - self._patch_center
            centers = centers.astype(np.float32)

        keypoint_weights[visible & outside] = 0
        drawn = (visible & ~outside).astype(np.float32)[..., None]  # (N,K,1)

        # Separable Gaussian: exp(-(dx^2+dy^2)/2s^2) = exp(-dx^2/2s^2) *
        # exp(-dy^2/2s^2); zero outside the square.
        inv = np.float32(-0.5 / sigma**2)
        ex = np.exp(dx.astype(np.float32)**2 * inv) * in_x * drawn
        ey = np.exp(dy.astype(np.float32)**2 * inv) * in_y
        heatmaps = ey[..., :, None] * ex[..., None, :]  # (N, K, H, W)
        heatmaps = heatmaps[0] if N == 1 else heatmaps.max(axis=0)
        heatmaps = heatmaps.astype(np.float32, copy=False)

        seg_masks = self._disk_mask(centers, visible)
        return dict(
            heatmaps=heatmaps,
            keypoint_weights=keypoint_weights,
            seg_masks=seg_masks)

    def decode(self, encoded: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Decode keypoints from heatmaps, as :meth:`MSRAHeatmap.decode`.

        The sub-pixel refinement (the quarter offset, or DARK's Taylor step)
        can push a keypoint past the heatmap's border when the heatmap is
        flat around its maximum: DARK then divides a near-zero gradient by a
        near-zero Hessian, and the result depends on the last bits of the
        blur. Such keypoints are clamped to the heatmap; keypoints of empty
        heatmaps keep MMPose's ``(-1, -1)`` with score 0.

        Args:
            encoded (np.ndarray): Heatmaps in shape (K, H, W).

        Returns:
            tuple:
            - keypoints (np.ndarray): (1, K, 2) in input-image coordinates.
            - scores (np.ndarray): (1, K).
        """
        keypoints, scores = super().decode(encoded)
        found = (scores > 0)[..., None]  # heatmap maxima; <= 0: MMPose's -1
        np.clip(keypoints, 0, self._upper, out=keypoints, where=found)
        return keypoints, scores

    def _disk_mask(self, centers: np.ndarray,
                   visible: np.ndarray) -> np.ndarray:
        """Union of disks of radius ``disk_radius`` around the visible,
        in-heatmap keypoint centres.

        Args:
            centers (np.ndarray): Centres in heatmap pixels, shape (N, K, 2)
            visible (np.ndarray): Visibility mask, shape (N, K), bool

        Returns:
            np.ndarray: The mask in shape (1, H, W), float32
        """
        W, H = self.heatmap_size
        c = centers.reshape(-1, 2)
        keep = visible.reshape(-1) & (c[:, 0] >= 0) & (c[:, 0] <= W -
                                                       1) & (c[:, 1] >= 0) & (
                                                           c[:, 1] <= H - 1)
        c = c[keep]
        if c.shape[0] == 0:
            return np.zeros((1, H, W), dtype=np.float32)
        dx2 = (self._xs - c[:, 0:1])**2  # (M, W)
        dy2 = (self._ys - c[:, 1:2])**2  # (M, H)
        inside = (dy2[:, :, None] + dx2[:, None, :]) <= self.disk_radius**2
        return inside.any(axis=0, keepdims=True).astype(np.float32)
