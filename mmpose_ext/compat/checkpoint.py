# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Safe loading of MMEngine checkpoints under torch >= 2.6.

torch >= 2.6 defaults ``torch.load`` to ``weights_only=True``, and MMEngine
0.10.7 calls it without that argument, so its own checkpoints (which hold
numpy arrays in ``meta['dataset_meta']``, ``HistoryBuffer`` objects in the
message hub and ``Counter`` objects in scheduler states) fail to load on
``--resume``, ``tools/test.py``, ``mim test`` and ``mmpose.apis.init_model``.

The usual workaround, ``weights_only=False`` (or the global
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``), unpickles arbitrary code. Instead,
this module replaces MMEngine's local-file loader with one that keeps
``weights_only=True`` and extends torch's allow-list by exactly the plain-data
types that MMEngine / MMPose checkpoints contain (:data:`SAFE_GLOBALS`). Any
other global in the pickle -- e.g. ``os.system`` smuggled in through
``__reduce__`` -- makes the load fail with :class:`UnsafeCheckpointError`,
which names the file and the offending global.

The loader is installed on ``import mmpose_ext`` (so through
``custom_imports`` as well) and is used for every path without a URL scheme.
"""
import collections
import os.path as osp
import pickle
from typing import Callable, List, Optional

import numpy as np
import torch
from mmengine.config import ConfigDict
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

# numpy 1.x pickles arrays through ``numpy.core``, numpy 2.x through
# ``numpy._core``: allow whichever this numpy uses
try:
    from numpy._core import multiarray
except ImportError:  # numpy < 2
    from numpy.core import multiarray

__all__ = [
    'SAFE_GLOBALS', 'UnsafeCheckpointError', 'CorruptCheckpointError',
    'safe_torch_load', 'load_from_local'
]


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint holds pickled objects outside the allow-list."""


class CorruptCheckpointError(pickle.UnpicklingError):
    """A file is not a readable torch checkpoint (truncated, not torch)."""


def _numpy_globals() -> List[object]:
    """numpy objects that pickled arrays, scalars and dtypes refer to."""
    # numpy 1.x pickles through ``numpy.core``, numpy 2.x through
    # ``numpy._core``; allow whichever this numpy uses.
    items = [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype]
    # Each dtype has its own class (numpy >= 1.25) that dtype pickles name.
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        items += [
            getattr(dtypes, name) for name in dir(dtypes) if
            name.endswith('DType') and isinstance(getattr(dtypes, name), type)
        ]
    # Scalar types (``np.float64(1.0)`` pickles as ``scalar(dtype, bytes)``
    # but older pickles reference the type itself).
    items += [
        np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
        np.uint32, np.uint64, np.float16, np.float32, np.float64, np.str_
    ]
    return items


def _history_buffer_getattr(obj: object, name: str) -> object:
    """Stand-in for ``builtins.getattr`` inside checkpoint pickles.

    ``HistoryBuffer.__getstate__`` pickles its statistics methods as
    ``getattr(HistoryBuffer, 'mean')`` and so on. Allowing ``getattr`` itself
    would let a pickle reach any attribute of any allowed object (a path to
    code execution), so only public methods defined on ``HistoryBuffer`` are
    resolved; everything else is refused.
    """
    if (obj is HistoryBuffer and isinstance(name, str)
            and not name.startswith('_')
            and callable(vars(HistoryBuffer).get(name))):
        return getattr(obj, name)
    raise UnsafeCheckpointError(
        f'getattr({obj!r}, {name!r}) is not allowed in a checkpoint')


def _mmengine_globals() -> List[object]:
    """Plain-data classes that MMEngine stores in checkpoints."""
    # ConfigDict appears when a config fragment lands in meta
    return [
        HistoryBuffer, (_history_buffer_getattr, 'builtins.getattr'),
        ConfigDict
    ]


def _builtin_globals() -> List[object]:
    return [
        collections.Counter, collections.OrderedDict, collections.defaultdict,
        set, frozenset, slice, complex
    ]


SAFE_GLOBALS: List[object] = (
    _numpy_globals() + _mmengine_globals() + _builtin_globals())
"""Globals a checkpoint may reference on top of torch's own allow-list; a
``(callable, 'module.name')`` pair substitutes a restricted callable for the
pickled name."""


def safe_torch_load(filename: str,
                    map_location: Optional[object] = None) -> object:
    """``torch.load`` with ``weights_only=True`` and :data:`SAFE_GLOBALS`.

    Args:
        filename (str): Path of a local checkpoint file.
        map_location: Passed to :func:`torch.load`.

    Returns:
        The unpickled checkpoint (usually a dict with ``state_dict``,
        ``meta``, ``optimizer``, ``message_hub``, ``param_schedulers``).

    Raises:
        FileNotFoundError: ``filename`` does not exist.
        UnsafeCheckpointError: the pickle references a global outside the
            allow-list, i.e. it could run code when unpickled.
        CorruptCheckpointError: the file is not a torch checkpoint or is
            damaged (e.g. truncated).
    """
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint file "{filename}" does not exist')
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            return torch.load(
                filename, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, EOFError, RuntimeError) as e:
        if not isinstance(e, pickle.UnpicklingError):
            # torch raises these for truncated zip archives / empty files.
            raise CorruptCheckpointError(
                f'"{filename}" is not a readable PyTorch checkpoint (it may '
                f'be truncated or another kind of file): {e}') from None
        # torch words this as "Weights only load failed ... Unsupported
        # global: GLOBAL os.system ..."; keep its detail, name the file.
        detail = str(e).strip().splitlines()
        unsafe = ('GLOBAL', 'is not allowed in a checkpoint')
        reason = next(
            (line for line in detail if any(u in line for u in unsafe)), None)
        if reason is None:
            reason = next((line for line in detail if 'Unsupported' in line),
                          detail[-1] if detail else '')
            raise CorruptCheckpointError(
                f'"{filename}" is not a readable PyTorch checkpoint (it may '
                f'be truncated or another kind of file): {reason.strip()}'
            ) from None
        raise UnsafeCheckpointError(
            f'refusing to load checkpoint "{filename}": it contains pickled '
            f'objects outside the mmpose_ext allow-list ({reason.strip()}). '
            'Loading it could run arbitrary code. If you trust its origin, '
            'load it with torch.load(..., weights_only=False) yourself and '
            're-save its state_dict.') from None


def load_from_local(filename: str, map_location: Optional[object]) -> object:
    """MMEngine ``CheckpointLoader`` scheme for local paths (safe).

    Named ``load_from_local`` because MMEngine logs ``name[10:]`` of the
    loader ("Loads checkpoint by local backend").
    """
    filename = osp.expanduser(filename)
    return safe_torch_load(filename, map_location=map_location)


def register_safe_local_loader() -> Callable:
    """Make :func:`load_from_local` MMEngine's loader for local paths."""
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_from_local, force=True)
    return load_from_local
