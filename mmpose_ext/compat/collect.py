# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Collect distributed evaluation results without a shared file system.

MMEngine 0.10.7's metrics (``BaseMetric.evaluate``, so MMPose's
``CocoMetric``, ``PCKAccuracy`` and the plugin's ``TorsoPCKAccuracy``)
collect the per-rank results with ``collect_device='cpu'`` by default:
every rank pickles its part into ``.dist_test/tmpXXXX`` - a path relative
to rank 0's *working directory*, broadcast to the other ranks - and rank 0
reads the parts back. Across nodes without a shared file system (or with
ranks started in different folders) the other ranks cannot write there:
they fail with ``FileNotFoundError`` while rank 0 waits at a barrier until
the process group times out. Nothing checks either that the collected parts
cover the data set, so a metric can be computed over a subset.

:func:`patch_mmengine_collect_results` (applied on import of
:mod:`mmpose_ext`) replaces the ``collect_results`` that
``mmengine.evaluator.metric`` calls:

- ``collect_device='cpu'`` without ``collect_dir`` (the default) sends the
  parts to rank 0 over the process group (``gather_object``; gloo, NCCL or
  any other backend) instead of through files: no shared folder, nothing
  written. The order (rank ``r`` of ``W`` holds samples ``r, r + W, ...``,
  as DefaultSampler splits them), padding removal and result are
  MMEngine's.
- an explicit ``collect_dir`` (a shared folder, e.g. to keep the parts out
  of memory) and ``collect_device='gpu'`` keep MMEngine's code.
- for every device, before anything is collected, each rank's number of
  results is gathered; if together they are fewer than the data set
  (``size``), every rank raises :class:`ResultCollectionError` naming the
  counts, instead of a metric over a subset (or a hang).
"""
import functools
from itertools import chain, zip_longest
from typing import Optional

import torch.distributed as torch_dist
from mmengine.dist import all_gather_object, get_dist_info
from mmengine.evaluator import metric as metric_mod

__all__ = [
    'ResultCollectionError', 'collect_results_without_files',
    'patch_mmengine_collect_results'
]


class ResultCollectionError(RuntimeError):
    """The ranks' evaluation results do not cover the data set."""


def check_result_counts(num_local: int, size: int) -> list:
    """Gather every rank's number of results; raise on every rank if they do
    not cover ``size`` samples (a collective: all ranks must call it).

    Args:
        num_local (int): Number of results on this rank.
        size (int): Number of samples in the evaluated data set.

    Returns:
        list[int]: The count of every rank.
    """
    counts = [int(c) for c in all_gather_object(int(num_local))]
    if sum(counts) < size:
        raise ResultCollectionError(
            f'Evaluation results are incomplete: the {len(counts)} ranks '
            f'hold {counts} results (together {sum(counts)}) but the data '
            f'set has {size} samples, so the metric would cover only a '
            'subset. Every sample must reach a metric\'s process() on some '
            'rank: use DefaultSampler (MMEngine\'s default) for the '
            'val/test dataloader and do not drop the last batch.')
    return counts


def collect_results_without_files(results: list, size: int) -> Optional[list]:
    """Collect every rank's ``results`` on rank 0 over the process group.

    Args:
        results (list): This rank's part (picklable items).
        size (int): Number of samples in the data set; the padding the
            sampler added beyond it is dropped.

    Returns:
        list | None: All results in data set order on rank 0, None on the
        other ranks.

    Raises:
        ResultCollectionError: On every rank when the parts together hold
            fewer than ``size`` results.
    """
    rank, world_size = get_dist_info()
    if world_size == 1:
        return results[:size]
    check_result_counts(len(results), size)
    parts = [None] * world_size if rank == 0 else None
    torch_dist.gather_object(results, parts, dst=0)
    if rank != 0:
        return None
    # same ordering as MMEngine's collect_results_cpu / _device
    ordered = [
        item for item in chain.from_iterable(zip_longest(*parts))
        if item is not None
    ]
    return ordered[:size]


def patch_mmengine_collect_results() -> None:
    """Make MMEngine's metrics collect without files (see module doc)."""
    original = metric_mod.collect_results
    if getattr(original, '_mmpose_ext_patched', False):
        return

    @functools.wraps(original)
    def collect_results(results: list,
                        size: int,
                        device: str = 'cpu',
                        tmpdir: Optional[str] = None) -> Optional[list]:
        if get_dist_info()[1] == 1:
            return original(results, size, device, tmpdir)
        if device == 'cpu' and tmpdir is None:
            return collect_results_without_files(results, size)
        check_result_counts(len(results), size)
        return original(results, size, device, tmpdir)

    collect_results._mmpose_ext_patched = True
    collect_results._mmpose_ext_original = original
    metric_mod.collect_results = collect_results
