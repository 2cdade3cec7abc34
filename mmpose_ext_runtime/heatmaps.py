# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Heatmap post-processing in numpy, vectorised over persons and keypoints:
flip merge, the multi-scale merge of
:class:`mmpose_ext.models.pose_estimators.MultiScaleTopdownPoseEstimator`,
and the decoding of MMPose's ``MSRAHeatmap`` (quarter offset or DARK) and of
the plugin's ``DiskSegHeatmap`` (the same, clamped to the heatmap).

Each function gives what MMPose's own code gives (tested against it):
``flip_heatmaps``, ``get_heatmap_maximum``, ``refine_keypoints``,
``refine_keypoints_dark`` and ``MSRAHeatmap.decode``.
"""
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

__all__ = [
    'flip_back', 'heatmap_maximum', 'refine_quarter', 'refine_dark',
    'decode_heatmaps', 'resample_to_base'
]

# cv2 filters images of at most this many channels at once
_CV_MAX_CHANNELS = 512


def flip_back(heatmaps: np.ndarray,
              flip_indices: Optional[Sequence[int]],
              shift: bool = True) -> np.ndarray:
    """Heatmaps of mirrored crops, brought back to the original frame
    (MMPose's ``flip_heatmaps``, ``flip_mode='heatmap'``).

    Args:
        heatmaps (np.ndarray): (N, K, H, W) of the mirrored crops.
        flip_indices (Sequence[int], optional): Keypoint index of each
            keypoint's mirror image (left <-> right).
        shift (bool): Shift one pixel to the right (MMPose's
            ``shift_heatmap``).

    Returns:
        np.ndarray: (N, K, H, W), a new array.
    """
    out = heatmaps[..., ::-1]
    if flip_indices is not None:
        out = out[:, list(flip_indices)]
    out = np.ascontiguousarray(out)
    if shift:
        out[..., 1:] = out[..., :-1].copy()
    return out


def heatmap_maximum(heatmaps: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Location (x, y) and value of each heatmap's maximum; (-1, -1) where
    the maximum is <= 0 (MMPose's ``get_heatmap_maximum``).

    Args:
        heatmaps (np.ndarray): (N, K, H, W).

    Returns:
        tuple: locations (N, K, 2) float32 and values (N, K).
    """
    n, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(n * k, h * w)
    idx = np.argmax(flat, axis=1)
    y, x = np.unravel_index(idx, (h, w))
    locs = np.stack((x, y), axis=-1).astype(np.float32)
    vals = flat[np.arange(n * k), idx]
    locs[vals <= 0.] = -1
    return locs.reshape(n, k, 2), vals.reshape(n, k)


def _at(heatmaps: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``heatmaps[n, k, y[n, k], x[n, k]]`` with indices clipped (the
    callers mask out-of-range positions)."""
    n, k, h, w = heatmaps.shape
    yi = np.clip(y, 0, h - 1)
    xi = np.clip(x, 0, w - 1)
    return heatmaps[np.arange(n)[:, None], np.arange(k)[None], yi, xi]


def refine_quarter(keypoints: np.ndarray, heatmaps: np.ndarray) -> np.ndarray:
    """Move each maximum a quarter pixel towards its higher neighbour
    (MMPose's ``refine_keypoints``, including its border conditions).

    Args:
        keypoints (np.ndarray): (N, K, 2) heatmap maxima.
        heatmaps (np.ndarray): (N, K, H, W).

    Returns:
        np.ndarray: refined keypoints (N, K, 2), a new array.
    """
    h, w = heatmaps.shape[-2:]
    x = keypoints[..., 0].astype(int)
    y = keypoints[..., 1].astype(int)
    dx = _at(heatmaps, y, x + 1) - _at(heatmaps, y, x - 1)
    dy = _at(heatmaps, y + 1, x) - _at(heatmaps, y - 1, x)
    dx = np.where((1 < x) & (x < w - 1) & (0 < y) & (y < h), dx, 0)
    dy = np.where((1 < y) & (y < h - 1) & (0 < x) & (x < w), dy, 0)
    return keypoints + np.sign(np.stack([dx, dy], -1)).astype(
        np.float32) * 0.25


def _gaussian_blur(heatmaps: np.ndarray, kernel: int) -> np.ndarray:
    """MMPose's ``gaussian_blur`` (zero border, peak kept) on (N, K, H, W),
    blurring many heatmaps per cv2 call."""
    n, k, h, w = heatmaps.shape
    b = (kernel - 1) // 2
    flat = heatmaps.reshape(n * k, h, w)
    peak = flat.max(axis=(1, 2))
    padded = np.zeros((h + 2 * b, w + 2 * b, n * k), np.float32)
    padded[b:-b, b:-b] = flat.transpose(1, 2, 0)
    out = np.empty_like(padded)
    for i in range(0, n * k, _CV_MAX_CHANNELS):
        part = np.ascontiguousarray(padded[..., i:i + _CV_MAX_CHANNELS])
        blurred = cv2.GaussianBlur(part, (kernel, kernel), 0)
        out[..., i:i + _CV_MAX_CHANNELS] = blurred.reshape(part.shape)
    out = out[b:-b, b:-b].transpose(2, 0, 1)
    with np.errstate(divide='ignore', invalid='ignore'):
        out = out * (peak / out.max(axis=(1, 2)))[:, None, None]
    return out.reshape(n, k, h, w).astype(np.float32)


def refine_dark(keypoints: np.ndarray, heatmaps: np.ndarray,
                blur_kernel_size: int) -> np.ndarray:
    """DARK's Taylor step on the blurred log-heatmap (MMPose's
    ``refine_keypoints_dark``).

    Args:
        keypoints (np.ndarray): (N, K, 2) heatmap maxima.
        heatmaps (np.ndarray): (N, K, H, W).
        blur_kernel_size (int): Odd Gaussian kernel size.

    Returns:
        np.ndarray: refined keypoints (N, K, 2), a new array.
    """
    h, w = heatmaps.shape[-2:]
    hm = np.log(np.maximum(_gaussian_blur(heatmaps, blur_kernel_size), 1e-10))
    x = keypoints[..., 0].astype(int)
    y = keypoints[..., 1].astype(int)

    def at(dy, dx):
        return _at(hm, y + dy, x + dx)

    c = at(0, 0)
    dx = 0.5 * (at(0, 1) - at(0, -1))
    dy = 0.5 * (at(1, 0) - at(-1, 0))
    dxx = 0.25 * (at(0, 2) - 2 * c + at(0, -2))
    dxy = 0.25 * (at(1, 1) - at(-1, 1) - at(1, -1) + at(-1, -1))
    dyy = 0.25 * (at(2, 0) - 2 * c + at(-2, 0))
    det = dxx * dyy - dxy**2
    ok = (1 < x) & (x < w - 2) & (1 < y) & (y < h - 2) & (det != 0)
    safe = np.where(ok, det, 1)
    # offset = -H^-1 d with H = [[dxx, dxy], [dxy, dyy]]
    ox = -(dyy * dx - dxy * dy) / safe
    oy = -(-dxy * dx + dxx * dy) / safe
    offset = np.where(ok[..., None], np.stack([ox, oy], -1), 0)
    return keypoints + offset.astype(np.float32)


def decode_heatmaps(
        heatmaps: np.ndarray,
        input_size: Sequence[int],
        unbiased: bool = False,
        blur_kernel_size: int = 11,
        clamp_to_heatmap: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """``MSRAHeatmap.decode`` (and ``DiskSegHeatmap.decode`` with
    ``clamp_to_heatmap``) for a batch of persons.

    Args:
        heatmaps (np.ndarray): (N, K, H, W).
        input_size (Sequence[int]): Network input (w, h).
        unbiased (bool): DARK refinement instead of the quarter offset.
        blur_kernel_size (int): DARK's blur kernel.
        clamp_to_heatmap (bool): Clamp found keypoints to the heatmap's
            extent (DiskSegHeatmap).

    Returns:
        tuple: keypoints (N, K, 2) in input-crop pixels, scores (N, K).
    """
    heatmaps = np.asarray(heatmaps, np.float32)
    h, w = heatmaps.shape[-2:]
    scale = (np.asarray(input_size, np.float32) /
             np.array([w, h], np.float32)).astype(np.float32)
    locs, scores = heatmap_maximum(heatmaps)
    if unbiased:
        locs = refine_dark(locs, heatmaps, blur_kernel_size)
    else:
        locs = refine_quarter(locs, heatmaps)
    keypoints = locs * scale
    if clamp_to_heatmap:
        upper = (np.array([w, h], np.float32) - 1) * scale
        found = (scores > 0)[..., None]
        keypoints = np.where(found, np.clip(keypoints, 0, upper), keypoints)
    return keypoints.astype(np.float32), scores


def _axis_weights(n0: int, base_len: float, n1: int, padded_len: float,
                  resized_len: float, a: float, b: float) -> np.ndarray:
    """(n0, n_in) bilinear weights along one axis of
    ``MultiScaleTopdownPoseEstimator._heatmaps_to_base``: base index u reads
    the scale's heatmap at ``(a * u * st0 + b) / st1``, clamped to the
    content cells (``grid_sample``, border padding, align_corners)."""
    st0 = base_len / n0
    st1 = padded_len / n1
    n_in = min(n1, -(-int(resized_len) * n1 // int(padded_len)))
    u1 = (a * (np.arange(n0) * st0) + b) / st1
    u1 = np.clip(u1, 0, max(n_in - 1, 0))
    lo = np.floor(u1).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = u1 - lo
    weights = np.zeros((n0, n1), np.float64)
    np.add.at(weights, (np.arange(n0), lo), 1 - frac)
    np.add.at(weights, (np.arange(n0), hi), frac)
    return weights


def resample_to_base(heatmaps: np.ndarray, in_hw: Sequence[int],
                     resized_hw: Sequence[int], padded_hw: Sequence[int],
                     base_hm_hw: Sequence[int]) -> np.ndarray:
    """A scale's flip-merged heatmaps on the base heatmap grid
    (``mode='resize'`` of the multi-scale test: the scale saw the whole
    crop, so every base cell is covered).

    Args:
        heatmaps (np.ndarray): (N, K, h', w') of the scale.
        in_hw (Sequence[int]): Base crop (H, W).
        resized_hw (Sequence[int]): The resized crop (h, w), unpadded.
        padded_hw (Sequence[int]): The network input (Hp, Wp).
        base_hm_hw (Sequence[int]): Base heatmap (h0, w0).

    Returns:
        np.ndarray: (N, K, h0, w0) float32.
    """
    hm_h, hm_w = heatmaps.shape[-2:]
    ry = resized_hw[0] / in_hw[0]
    rx = resized_hw[1] / in_hw[1]
    wy = _axis_weights(base_hm_hw[0], in_hw[0], hm_h, padded_hw[0],
                       resized_hw[0], ry, 0.5 * ry - 0.5)
    wx = _axis_weights(base_hm_hw[1], in_hw[1], hm_w, padded_hw[1],
                       resized_hw[1], rx, 0.5 * rx - 0.5)
    # separable: columns then rows, two batched matmuls (a three-operand
    # einsum without a contraction order loops over all four indices)
    out = np.matmul(
        wy.astype(np.float32),
        np.matmul(np.asarray(heatmaps, np.float32), wx.T.astype(np.float32)))
    return out.astype(np.float32)
