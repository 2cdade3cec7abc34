# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Shared pytest fixtures.

Generated data sets are made once per session (they are deterministic by
seed) under pytest's temporary directory; tests must not write elsewhere.
"""
import os
import os.path as osp

# Test models are tiny: thread synchronisation costs more than it gains, and
# subprocesses (tools, mim, torchrun) inherit this before torch starts.
os.environ.setdefault('OMP_NUM_THREADS', '1')

import pytest  # noqa: E402

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SHARED_REAL = osp.join(osp.dirname(REPO_ROOT), 'shared', 'data', 'real')


@pytest.fixture(scope='session', autouse=True)
def _register_mmpose():
    """Register MMPose's and the plugin's modules, default scope 'mmpose'."""
    from mmpose.utils import register_all_modules
    register_all_modules()
    import mmpose_ext  # noqa: F401


@pytest.fixture(scope='session')
def real_data_root():
    """``../shared/data/real`` (real MMPose test photos) or skip if absent."""
    if not osp.isdir(SHARED_REAL):
        pytest.skip(f'real data not found at {SHARED_REAL}')
    return SHARED_REAL


@pytest.fixture(scope='session')
def repo_root():
    return REPO_ROOT


def _make(tmp_path_factory, fmt, **kwargs):
    from mmpose_ext.devkit.synthetic import generate_dataset
    out = str(tmp_path_factory.mktemp(f'synthetic_{fmt}'))
    generate_dataset(fmt, out, **kwargs)
    return out


@pytest.fixture(scope='session')
def synthetic_coco(tmp_path_factory):
    """A small generated COCO-keypoints data set (real COCO file layout)."""
    return _make(tmp_path_factory, 'coco', num_train=12, num_val=6, seed=0)


@pytest.fixture(scope='session')
def synthetic_mpii(tmp_path_factory):
    """A small generated MPII data set (MMPose json + head-box .mat)."""
    return _make(tmp_path_factory, 'mpii', num_train=12, num_val=6, seed=0)


@pytest.fixture(scope='session')
def synthetic_lsp(tmp_path_factory):
    """A small generated LSP data set (joints.mat 3x14xN + images)."""
    return _make(tmp_path_factory, 'lsp', num_train=12, num_val=6, seed=0)


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: end-to-end runs (training, CLI)')


@pytest.fixture(scope='module')
def one_torch_thread():
    """One torch thread for a module (ONNX Runtime sessions follow torch's
    count): on a loaded two-core machine two OpenMP threads wait for each
    other at every operator of the tiny test models. OMP_NUM_THREADS=1
    above does not reach a torch that was imported before."""
    import torch
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _scopes_restored():
    """Remove the registry scopes created meanwhile and make the previous
    current scope current again: MMDet's and MMPose's high-level APIs
    (``init_detector``, ``init_model``) make their scope the current one
    for the rest of the process, which would make later tests' registry
    lookups depend on the test order."""
    from mmengine.registry import DefaultScope
    before = list(DefaultScope._instance_dict)
    yield
    # read the dict again: ``overwrite_default_scope`` replaces it by a copy
    scopes = DefaultScope._instance_dict
    for name in [n for n in scopes if n not in before]:
        del scopes[name]
    if before and before[-1] in scopes:
        scopes.move_to_end(before[-1])


@pytest.fixture(autouse=True)
def _restore_default_scope():
    """Each test leaves the registry scope as it found it."""
    yield from _scopes_restored()


@pytest.fixture(autouse=True, scope='module')
def _restore_default_scope_per_module():
    """So do module-scoped fixtures (e.g. one that builds a detector)."""
    yield from _scopes_restored()
