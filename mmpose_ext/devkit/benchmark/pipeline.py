# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Is data loading the bottleneck? The training data pipeline's throughput
beside the model's training throughput.

The config's own ``train_dataloader`` (dataset, training pipeline with
augmentation and codec targets, sampler, collate) is built by MMEngine's
``Runner.build_dataloader``, as training builds it, on a generated data set
of the config's format (images of ``image_size``, default 640x480 like
COCO's), with 0 and 2 worker processes. Throughput is measured in steady
state: the first batch (worker start-up) is timed separately.

Beside it: the model's training throughput at the same batch size on a
preloaded batch (:mod:`.speed`), and training with the 2-worker loader in the
loop (loading + preprocessing + training step per iteration), which shows
what loading costs when workers share the two cores with training.
"""
import tempfile
from typing import Callable, Dict, Optional, Sequence

import torch
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from .common import (Timer, data_overrides, dataset_format, fmt, generate_data,
                     loadavg, md_table, set_input_size, summarize)
from .speed import SpeedCase


def build_loader(cfg, batch_size: int, num_workers: int, seed: int = 0):
    init_default_scope(cfg.get('default_scope', 'mmpose'))
    loader_cfg = cfg.train_dataloader.copy()
    loader_cfg.update(
        batch_size=batch_size,
        num_workers=num_workers,
        persistent_workers=False)
    if num_workers == 0:
        loader_cfg.pop('prefetch_factor', None)
    return Runner.build_dataloader(loader_cfg, seed=seed)


def loader_throughput(cfg,
                      batch_size: int,
                      num_workers: int,
                      num_batches: int,
                      seed: int = 0) -> Dict:
    """Samples per second of the config's training loader.

    Returns:
        dict: ``workers``, ``first_batch_s`` (start-up + first batch),
        ``samples_per_s`` (the next ``num_batches`` batches), ``batch_s``
        stats.
    """
    loader = build_loader(cfg, batch_size, num_workers, seed)
    if len(loader) < num_batches + 1:
        raise ValueError(f'the generated data set has {len(loader)} batches; '
                         f'{num_batches + 1} needed')
    it = iter(loader)
    with Timer() as t:
        next(it)
    first = t.seconds
    times = []
    with Timer() as total:
        for _ in range(num_batches):
            with Timer() as t:
                next(it)
            times.append(t.seconds)
    del it
    return dict(
        workers=num_workers,
        first_batch_s=first,
        samples_per_s=num_batches * batch_size / total.seconds,
        batch_s=summarize(times))


def train_with_loader(case: SpeedCase,
                      cfg,
                      num_workers: int,
                      num_iters: int,
                      seed: int = 0) -> Dict:
    """Training iterations fed by the real loader (load + preprocess + step);
    the first iteration (worker start-up) is not counted."""
    loader = build_loader(cfg, case.batch_size, num_workers, seed)
    if len(loader) < num_iters + 1:
        raise ValueError(f'the generated data set has {len(loader)} batches; '
                         f'{num_iters + 1} needed')
    model = case.model.train()
    it = iter(loader)
    times = []
    for i in range(num_iters + 1):
        with Timer() as t:
            data = model.data_preprocessor(next(it), training=True)
            losses = model(data['inputs'], data['data_samples'], mode='loss')
            loss, _ = model.parse_losses(losses)
            loss.backward()
            case.optimizer.step()
            case.optimizer.zero_grad(set_to_none=True)
        if i > 0:
            times.append(t.seconds)
    del it
    stats = summarize(times)
    return dict(
        workers=num_workers,
        iter_s=stats,
        samples_per_s=case.batch_size / stats['median'])


def run_pipeline(config_name: str,
                 cfg,
                 batch_size: Optional[int] = None,
                 workers: Sequence[int] = (0, 2),
                 num_batches: int = 10,
                 train_repeats: int = 5,
                 loader_train_iters: int = 3,
                 image_size: Sequence[int] = (640, 480),
                 shape: Optional[Sequence[int]] = None,
                 flops_fn: Optional[Callable] = None,
                 work_dir: Optional[str] = None,
                 log: Callable = print) -> Dict:
    """Loader throughput (per worker count) beside training throughput.

    Args:
        config_name (str): Name shown in the table.
        cfg (Config): The config.
        batch_size (int, optional): Default: the config's training batch.
        workers (Sequence[int]): Worker counts. Defaults to (0, 2).
        num_batches (int): Timed batches per loader. Defaults to 10.
        train_repeats (int): Timed training steps on a preloaded batch.
        loader_train_iters (int): Timed training iterations fed by the
            loader with ``max(workers)`` workers (0 skips). Defaults to 3.
        image_size (Sequence[int]): (w, h) of the generated images.
        shape (Sequence[int], optional): Model input (H, W).
        flops_fn (callable, optional): For the model's FLOPs.
        work_dir (str, optional): Where the data set is generated.
        log (callable): Progress messages.

    Returns:
        dict: ``loader`` (one entry per worker count), ``train`` (preloaded
        batch: s/iteration stats and samples/s), ``train_with_loader``,
        ``ratio`` (loader samples/s with the most workers / training
        samples/s).
    """
    tmp = None
    if work_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix='mmpose_ext_pipeline_')
        work_dir = tmp.name
    try:
        load_before = loadavg()
        batch_size = batch_size or cfg.train_dataloader.batch_size
        if shape is not None:
            set_input_size(cfg, (shape[1], shape[0]))
        fmt_ = dataset_format(cfg)
        needed = batch_size * (max(num_batches, loader_train_iters) + 2)
        # COCO / MPII images hold 1-2 people: one image per needed sample
        root = generate_data(
            fmt_,
            f'{work_dir}/{fmt_}',
            num_train=needed,
            num_val=1,
            image_size=image_size)
        cfg.merge_from_dict(data_overrides(cfg, root))
        loader = []
        for w in workers:
            log(f'loader with {w} workers ...')
            loader.append(loader_throughput(cfg, batch_size, w, num_batches))
        log('training steps on a preloaded batch ...')
        case = SpeedCase(config_name, cfg, batch_size, root, flops_fn=flops_fn)
        for r in range(1 + train_repeats):
            case.run('train', record=r > 0)
        iter_s = summarize([t * batch_size for t in case.times['train']])
        train = dict(
            iter_s=iter_s, samples_per_s=batch_size / iter_s['median'])
        with_loader = None
        if loader_train_iters > 0:
            log(f'training with the {max(workers)}-worker loader ...')
            with_loader = train_with_loader(case, cfg, max(workers),
                                            loader_train_iters)
        best = max(loader, key=lambda d: d['workers'])
        return dict(
            kind='pipeline',
            config=config_name,
            batch_size=batch_size,
            image_size=tuple(image_size),
            input_shape=case.shape,
            threads=torch.get_num_threads(),
            loader=loader,
            train=train,
            train_with_loader=with_loader,
            ratio=best['samples_per_s'] / train['samples_per_s'],
            loadavg=dict(before=load_before, after=loadavg()))
    finally:
        if tmp is not None:
            tmp.cleanup()


def format_pipeline(res: Dict) -> str:
    headers = ['what', 'samples/s', 'note']
    rows = []
    for d in res['loader']:
        rows.append([
            f'data pipeline, {d["workers"]} workers',
            fmt(d['samples_per_s'], '.1f'),
            f'first batch {fmt(d["first_batch_s"], ".2f")} s (start-up)'
        ])
    t = res['train']
    rows.append([
        'training step, preloaded batch',
        fmt(t['samples_per_s'], '.2f'),
        f'{fmt(t["iter_s"]["median"], ".2f")} s/iter median '
        f'(min {fmt(t["iter_s"]["min"], ".2f")})'
    ])
    w = res.get('train_with_loader')
    if w:
        rows.append([
            f'training fed by the {w["workers"]}-worker loader',
            fmt(w['samples_per_s'], '.2f'),
            f'{fmt(w["iter_s"]["median"], ".2f")} s/iter median'
        ])
    best = max(res['loader'], key=lambda d: d['workers'])
    note = (f'- {res["config"]}: batch {res["batch_size"]}, input '
            f'{res["input_shape"][0]}x{res["input_shape"][1]}, generated '
            f'{res["image_size"][0]}x{res["image_size"][1]} images; '
            f'loader ({best["workers"]} workers) / training throughput = '
            f'{res["ratio"]:.1f}x; load average {res["loadavg"]["before"]} '
            f'-> {res["loadavg"]["after"]}')
    return md_table(headers, rows) + '\n\n' + note
