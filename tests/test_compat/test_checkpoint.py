# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""The safe checkpoint loader: MMEngine checkpoints load, code does not run."""
import collections
import os
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint

from mmpose_ext.compat.checkpoint import (CorruptCheckpointError,
                                          UnsafeCheckpointError,
                                          load_from_local, safe_torch_load)


def _mmengine_like_checkpoint():
    """What a Runner checkpoint holds besides tensors."""
    hub = HistoryBuffer()
    hub.update(0.5)
    hub.update(0.25)
    return dict(
        meta=dict(
            epoch=3,
            iter=12,
            seed=np.int64(7),
            dataset_meta=dict(
                sigmas=np.array([0.026, 0.025], dtype=np.float32),
                flip_indices=[1, 0],
                joint_weights=np.ones(2, dtype=np.float64)),
            hook_msgs=dict(best_score=np.float64(0.7))),
        state_dict=collections.OrderedDict(w=torch.randn(2, 3)),
        message_hub=dict(log_scalars={'train/loss': hub}),
        param_schedulers=[dict(milestones=collections.Counter({170: 1}))],
        optimizer=dict(
            state={0: dict(step=torch.tensor(3.))},
            param_groups=[dict(lr=1e-3, betas=(0.9, 0.999))]))


class _RunsCode:
    """Pickles to a call of ``os.system``: what a hostile file does."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


def test_plain_weights_only_load_fails_on_mmengine_checkpoint(tmp_path):
    # The reason the loader exists: torch >= 2.6 refuses these by default.
    path = str(tmp_path / 'ckpt.pth')
    torch.save(_mmengine_like_checkpoint(), path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)


def test_safe_load_round_trip(tmp_path):
    path = str(tmp_path / 'ckpt.pth')
    ckpt = _mmengine_like_checkpoint()
    torch.save(ckpt, path)
    loaded = safe_torch_load(path, map_location='cpu')
    assert torch.equal(loaded['state_dict']['w'], ckpt['state_dict']['w'])
    np.testing.assert_array_equal(loaded['meta']['dataset_meta']['sigmas'],
                                  ckpt['meta']['dataset_meta']['sigmas'])
    assert loaded['meta']['seed'] == 7
    assert loaded['message_hub']['log_scalars']['train/loss'].current() == 0.25
    assert loaded['param_schedulers'][0]['milestones'] == {170: 1}


def test_mmengine_uses_safe_loader_for_local_paths(tmp_path):
    import mmpose_ext  # noqa: F401  (installs the loader)
    path = str(tmp_path / 'ckpt.pth')
    torch.save(_mmengine_like_checkpoint(), path)
    assert CheckpointLoader._get_checkpoint_loader(path) is load_from_local
    loaded = _load_checkpoint(path, map_location='cpu')
    assert loaded['meta']['iter'] == 12


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    import mmpose_ext  # noqa: F401
    marker = tmp_path / 'pwned'
    path = str(tmp_path / 'evil.pth')
    torch.save(dict(state_dict={}, meta=_RunsCode(marker)), path)
    with pytest.raises(UnsafeCheckpointError) as err:
        _load_checkpoint(path, map_location='cpu')
    msg = str(err.value)
    assert path in msg and 'system' in msg
    assert not marker.exists()


def test_missing_checkpoint_names_the_file(tmp_path):
    path = str(tmp_path / 'nope.pth')
    with pytest.raises(FileNotFoundError, match=osp.basename(path)):
        safe_torch_load(path)


@pytest.mark.parametrize(
    'target',
    [
        (HistoryBuffer, '__class__'),  # dunder of the allowed class
        (collections.OrderedDict, 'fromkeys'),  # method of another class
    ])
def test_getattr_is_only_resolved_for_history_buffer_methods(tmp_path, target):
    # HistoryBuffer pickles need getattr(HistoryBuffer, 'mean'); any other
    # getattr is a step towards reaching callables that run code.
    class _GetattrGadget:

        def __reduce__(self):
            return (getattr, target)

    path = str(tmp_path / 'gadget.pth')
    torch.save(dict(meta=_GetattrGadget()), path)
    with pytest.raises(UnsafeCheckpointError):
        safe_torch_load(path)


@pytest.mark.parametrize('content', [b'not a checkpoint', b'', b'PK\x03\x04'])
def test_corrupt_file_is_named_as_unreadable(tmp_path, content):
    path = tmp_path / 'broken.pth'
    path.write_bytes(content)
    with pytest.raises(CorruptCheckpointError, match='broken.pth'):
        safe_torch_load(str(path))


def test_truncated_checkpoint_is_named_as_unreadable(tmp_path):
    path = tmp_path / 'cut.pth'
    torch.save(_mmengine_like_checkpoint(), str(path))
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(CorruptCheckpointError, match='cut.pth'):
        safe_torch_load(str(path))
