# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Shared by the config tests."""
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config


def load_repo_config(repo_root: str, path: str) -> Config:
    """A config of this repository, by its path relative to the root."""
    return Config.fromfile(osp.join(repo_root, path))


def by_type(pipeline, type_: str) -> dict:
    """The one transform of ``type_`` in ``pipeline`` (asserts it is one)."""
    found = [t for t in pipeline if t['type'] == type_]
    assert len(found) == 1, type_
    return found[0]


def clipped_normal_spread(rf: float,
                          sf: float,
                          rotate_prob: float,
                          n: int = 200000,
                          seed: int = 0):
    """Std of the scale and rotation draws of HRNet's / the stacked
    hourglass's code: s = clip(N(1, sf), 1 - sf, 1 + sf) always, r =
    clip(N(0, rf), -2 rf, 2 rf) with probability ``rotate_prob``, else 0."""
    rng = np.random.default_rng(seed)
    s = np.clip(rng.standard_normal(n) * sf + 1, 1 - sf, 1 + sf)
    r = np.clip(rng.standard_normal(n) * rf, -2 * rf, 2 * rf)
    r = np.where(rng.random(n) < rotate_prob, r, 0)
    return s.std(), r.std()


def assert_spread_matches_clipped_normals(aug: dict, rf: float, sf: float,
                                          rotate_prob: float) -> None:
    """A config's ``RandomBBoxTransform`` draws scales and rotations with
    the spreads (within 10%) and rotation probability of the reference
    code's clipped normals, and no box shift."""
    from mmpose.datasets.transforms import RandomBBoxTransform
    args = dict(aug)
    args.pop('type')
    transform = RandomBBoxTransform(**args)  # referenced: cache_randomness
    np.random.seed(0)
    _, scale, rotate = transform._get_transform_params(200000)
    s_std, r_std = clipped_normal_spread(rf, sf, rotate_prob)
    assert float(scale.std()) == pytest.approx(s_std, rel=0.1)
    assert float(rotate.std()) == pytest.approx(r_std, rel=0.1)
    assert float((rotate != 0).mean()) == pytest.approx(rotate_prob, abs=0.01)
    assert args['shift_prob'] == 0
