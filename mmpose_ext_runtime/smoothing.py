# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""One-Euro filter of keypoint tracks (Casiez et al., CHI 2012), as
MMPose 0.x's ``OneEuroFilter`` applies it to 2D keypoints: time counted in
frames, cutoff ``min_cutoff + beta * |speed|`` per coordinate, so a still
keypoint is smoothed hard (jitter removed) and a fast one follows with
little lag.

Defaults: MMPose 0.x's config (``min_cutoff=0.004, beta=0.7``) barely
smooths pixel coordinates (its speed term follows the noise: 2 px of noise
kept 88% of the jitter on a synthetic track); ``min_cutoff=0.05,
beta=0.05`` halve the jitter of a track with 2 px noise, bring it closer to
the truth, and lag 2.4 px behind a keypoint moving 10 px per frame
(``tests/test_runtime/test_video.py``)."""
import math
from typing import Dict, Optional

import numpy as np

__all__ = ['OneEuroFilter', 'TrackSmoother']


def _alpha(t_e: float, cutoff: np.ndarray) -> np.ndarray:
    r = 2 * math.pi * cutoff * t_e
    return r / (r + 1)


class OneEuroFilter:
    """One-Euro filter of an array signal (e.g. keypoints (K, 2)).

    Args:
        min_cutoff (float): Cutoff frequency (per frame) at rest; lower
            smooths more. Defaults to 0.05.
        beta (float): How fast the cutoff rises with speed (pixels per
            frame); higher lags less. Defaults to 0.05.
        d_cutoff (float): Cutoff of the speed estimate. Defaults to 1.0.
    """

    def __init__(self,
                 min_cutoff: float = 0.05,
                 beta: float = 0.05,
                 d_cutoff: float = 1.0):
        if min_cutoff <= 0 or beta < 0 or d_cutoff <= 0:
            raise ValueError('OneEuroFilter needs min_cutoff > 0, beta >= 0 '
                             f'and d_cutoff > 0, got {min_cutoff}, {beta}, '
                             f'{d_cutoff}')
        self.min_cutoff = min_cutoff
        self.beta = beta
        self.d_cutoff = d_cutoff
        self.x_prev: Optional[np.ndarray] = None
        self.dx_prev: Optional[np.ndarray] = None
        self.t_prev = 0.

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        """Filter the value ``x`` observed at time ``t`` (frames)."""
        x = np.asarray(x, np.float64)
        if self.x_prev is None or x.shape != self.x_prev.shape:
            self.x_prev, self.dx_prev, self.t_prev = x, np.zeros_like(x), t
            return x.astype(np.float32)
        t_e = max(t - self.t_prev, 1e-6)
        dx = (x - self.x_prev) / t_e
        dx_hat = _alpha(t_e, self.d_cutoff) * dx + (
            1 - _alpha(t_e, self.d_cutoff)) * self.dx_prev
        a = _alpha(t_e, self.min_cutoff + self.beta * np.abs(dx_hat))
        x_hat = a * x + (1 - a) * self.x_prev
        self.x_prev, self.dx_prev, self.t_prev = x_hat, dx_hat, t
        return x_hat.astype(np.float32)


class TrackSmoother:
    """A :class:`OneEuroFilter` per track id.

    Args:
        max_age (int): Forget a track not seen for this many frames.
        **kwargs: :class:`OneEuroFilter`'s arguments.
    """

    def __init__(self, max_age: int = 30, **kwargs):
        self.kwargs = kwargs
        OneEuroFilter(**kwargs)  # check the arguments now
        self.max_age = max_age
        self.filters: Dict[int, OneEuroFilter] = {}

    def __call__(self, keypoints: np.ndarray, track_ids: np.ndarray,
                 t: float) -> np.ndarray:
        """Smoothed keypoints (N, K, 2) of the persons ``track_ids`` (N,) at
        frame ``t``."""
        out = np.array(keypoints, np.float32, copy=True)
        for i, tid in enumerate(np.asarray(track_ids).tolist()):
            f = self.filters.get(tid)
            if f is None:
                f = self.filters[tid] = OneEuroFilter(**self.kwargs)
            out[i] = f(keypoints[i], t)
        self.filters = {
            k: f
            for k, f in self.filters.items() if t - f.t_prev <= self.max_age
        }
        return out
