# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Shared by the config tests."""
import os.path as osp

from mmengine.config import Config


def load_repo_config(repo_root: str, path: str) -> Config:
    """A config of this repository, by its path relative to the root."""
    return Config.fromfile(osp.join(repo_root, path))


def by_type(pipeline, type_: str) -> dict:
    """The one transform of ``type_`` in ``pipeline`` (asserts it is one)."""
    found = [t for t in pipeline if t['type'] == type_]
    assert len(found) == 1, type_
    return found[0]
