# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Forward and training-step speed of several configs, interleaved.

Every config's model is built offline (no pretrained weights) in this
process. Its training batch comes from the config's OWN training pipeline
(codec targets included) run on a generated data set of the config's format,
then its data preprocessor. Per round, each model in turn (in reverse order
every other round) runs

* forward: the network prediction runs, in eval mode under
  ``torch.inference_mode()`` (backbone, neck if prediction uses it, head's
  heatmaps; no flip, no decoding), i.e. what ``tools/get_flops.py``
  counts and what the ONNX graph holds;
* training step: ``model(inputs, data_samples, mode='loss')``,
  ``parse_losses``, backward and an Adam step, in train mode;

(the models are untrained: their BN statistics are first estimated on the
batch, see :func:`~.common.calibrate_bn`, or eval-mode activations decay
into subnormal floats that make CPU arithmetic 10-100x slower);

so load changes between rounds hit every model alike. Times are per image
(batch time / batch). Ratios are to the first config: ``min`` = ratio of the
best times, ``median`` = median over rounds of the per-round ratio.

FLOPs: ``tools/get_flops.py``'s ``get_complexity`` (MMEngine's
FlopAnalyzer, every operator, 1 FLOP = 1 multiply-add = "MAC"). Achieved
GFLOP/s counts 2 FLOPs per multiply-add, like the matmul probe (2 n^3 per
n x n product), so the share of peak compares like with like.
"""
import statistics
import tempfile
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmpose.registry import DATASETS
from torch.profiler import ProfilerActivity, profile

from mmpose_ext.apis.onnx_backend import HeatmapNet
from .common import (Timer, build_model, calibrate_bn, data_overrides,
                     dataset_format, fmt, generate_data, input_size_of,
                     loadavg, md_table, paired_ratios, set_input_size,
                     summarize)


# --------------------------------------------------------------- peak
def matmul_peak(n: int = 2048, repeats: int = 10, warmup: int = 2) -> Dict:
    """fp32 matrix-product throughput of this machine (current threads).

    Returns:
        dict: ``n``, ``gflops`` (best round, 2 n^3 / t), ``gflops_median``,
        ``repeats``.
    """
    a = torch.randn(n, n)
    b = torch.randn(n, n)
    c = torch.empty(n, n)
    times = []
    for i in range(warmup + repeats):
        with Timer() as t:
            torch.mm(a, b, out=c)
        if i >= warmup:
            times.append(t.seconds)
    flop = 2.0 * n**3
    return dict(
        n=n,
        repeats=repeats,
        gflops=flop / min(times) / 1e9,
        gflops_median=flop / statistics.median(times) / 1e9)


# --------------------------------------------------------------- batches
def make_train_batch(cfg,
                     model,
                     batch_size: int,
                     data_root: str,
                     seed: int = 0) -> Dict:
    """A preprocessed training batch from the config's training pipeline.

    Args:
        cfg (Config): The config, already pointed at ``data_root``.
        model (nn.Module): The model (its data preprocessor is used).
        batch_size (int): Samples in the batch (the data set is cycled).
        data_root (str): Unused here; kept for symmetry with the callers.
        seed (int): numpy seed of the random augmentations.

    Returns:
        dict: ``inputs`` (B, 3, H, W) and ``data_samples`` (with targets).
    """
    init_default_scope(cfg.get('default_scope', 'mmpose'))
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        items = [dataset[i % len(dataset)] for i in range(batch_size)]
    finally:
        np.random.set_state(state)
    return model.data_preprocessor(pseudo_collate(items), training=True)


def forward_fn(model, inputs) -> Callable:
    """The network that prediction runs (no flip, one scale): heatmaps from
    ``head.forward`` on the model's test-time features (``_test_feat``
    where the model has it: SADI-Net's test path skips the SFM neck, which
    only feeds the DLM regression; FlopAnalyzer, which traces
    ``mode='tensor'``, does not count the unused neck either)."""
    net = HeatmapNet(model)

    def run():
        with torch.inference_mode():
            net(inputs)

    return run


def train_step_fn(model, optimizer, batch, amp: bool = False) -> Callable:
    """One training step; ``amp``: the forward and loss under bfloat16 CPU
    autocast, as ``AmpOptimWrapper`` runs them on a machine without a GPU
    (``--amp``; no loss scaling)."""

    def run():
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=amp):
            losses = model(batch['inputs'], batch['data_samples'], mode='loss')
        loss, _ = model.parse_losses(losses)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return run


class SpeedCase:
    """One config prepared for timing: model, optimizer, batch, FLOPs."""

    def __init__(self,
                 name: str,
                 cfg,
                 batch_size: int,
                 data_root: str,
                 flops_fn: Optional[Callable] = None,
                 seed: int = 0,
                 lr: float = 1e-4):
        self.name = name
        self.cfg = cfg
        self.batch_size = batch_size
        self.model = build_model(cfg, seed=seed)
        self.params = sum(p.numel() for p in self.model.parameters())
        self.batch = make_train_batch(cfg, self.model, batch_size, data_root,
                                      seed)
        calibrate_bn(self.model, self.batch['inputs'])
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr)
        w, h = input_size_of(cfg)
        self.shape = (h, w)
        self.macs = None
        if flops_fn is not None:
            self.macs = flops_fn(cfg, self.shape)['flops']
        self.times = dict(forward=[], train=[])
        self._fwd = forward_fn(self.model, self.batch['inputs'])
        # a config trained with --amp (AmpOptimWrapper) times bf16 steps
        self.amp = cfg.get('optim_wrapper',
                           {}).get('type') == 'AmpOptimWrapper'
        self._train = train_step_fn(self.model, self.optimizer, self.batch,
                                    self.amp)

    def run(self, what: str, record: bool = True) -> float:
        if what == 'forward':
            self.model.eval()
            fn = self._fwd
        else:
            self.model.train()
            fn = self._train
        with Timer() as t:
            fn()
        if record:
            self.times[what].append(t.seconds / self.batch_size)
        return t.seconds


def prepare_config(cfg, shape: Optional[Sequence[int]], data_root: str):
    """Offline copy of ``cfg`` at input (H, W) ``shape``, pointed at the
    generated data under ``data_root``."""
    if shape is not None:
        h, w = shape
        set_input_size(cfg, (w, h))
    cfg.merge_from_dict(data_overrides(cfg, data_root))
    return cfg


def run_speed(configs: Sequence[Tuple[str, object]],
              batch_size: int = 8,
              shape: Optional[Sequence[int]] = None,
              repeats: int = 10,
              warmup: int = 2,
              train: bool = True,
              flops_fn: Optional[Callable] = None,
              peak: bool = True,
              work_dir: Optional[str] = None,
              log: Callable = print,
              keep_cases: Optional[list] = None) -> Dict:
    """Time forward and training steps of several configs, interleaved.

    Args:
        configs (list): ``(name, Config)`` pairs; the first is the reference.
        batch_size (int): Batch size. Defaults to 8.
        shape (tuple, optional): Input (H, W); default: each config's codec.
        repeats (int): Timed rounds. Defaults to 10.
        warmup (int): Untimed rounds first. Defaults to 2.
        train (bool): Also time training steps. Defaults to True.
        flops_fn (callable, optional): ``get_complexity(cfg, shape)``.
        peak (bool): Measure the matmul peak first. Defaults to True.
        work_dir (str, optional): Where data sets are generated (a
            temporary folder by default).
        log (callable): Progress messages.
        keep_cases (list, optional): Receives the :class:`SpeedCase` objects
            (e.g. to profile them afterwards).

    Returns:
        dict: ``peak``, ``batch_size``, ``repeats``, ``rows`` (one per
        config: name, params, macs, shape, forward/train stats in s/image,
        ratios, achieved GFLOP/s, share of peak), ``loadavg`` (before/after).
    """
    tmp = None
    if work_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix='mmpose_ext_speed_')
        work_dir = tmp.name
    try:
        load_before = loadavg()
        peak_res = matmul_peak() if peak else None
        if peak_res:
            log(f'matmul peak: {peak_res["gflops"]:.1f} GFLOP/s '
                f'(n={peak_res["n"]}, median {peak_res["gflops_median"]:.1f})')
        cases: List[SpeedCase] = []
        for name, cfg in configs:
            fmt_ = dataset_format(cfg)
            root = generate_data(
                fmt_,
                f'{work_dir}/{fmt_}',
                num_train=max(4, batch_size),
                num_val=1)
            cfg = prepare_config(cfg, shape, root)
            log(f'building {name} ...')
            cases.append(
                SpeedCase(name, cfg, batch_size, root, flops_fn=flops_fn))
        whats = ('forward', 'train') if train else ('forward', )
        for r in range(warmup + repeats):
            # interleaved round-robin; every other round in reverse order,
            # so no model always runs right after the same one
            for case in (cases if r % 2 == 0 else cases[::-1]):
                for what in whats:
                    case.run(what, record=r >= warmup)
            if r >= warmup:
                log(f'round {r - warmup + 1}/{repeats}: ' + ', '.join(
                    f'{c.name} fwd {1e3 * c.times["forward"][-1]:.1f}' +
                    (f' train {1e3 * c.times["train"][-1]:.1f}'
                     if train else '') + ' ms/img' for c in cases))
        if keep_cases is not None:
            keep_cases.extend(cases)
        ref = cases[0]
        rows = []
        for case in cases:
            row = dict(
                name=case.name,
                params=case.params,
                macs=case.macs,
                shape=case.shape,
                batch_size=case.batch_size)
            for what in whats:
                row[what] = summarize(case.times[what])
                row[f'{what}_ratio'] = paired_ratios(case.times[what],
                                                     ref.times[what])
            if case.macs is not None:
                gflops = 2 * case.macs / row['forward']['min'] / 1e9
                row['forward_gflops'] = gflops
                row['forward_gflops_median'] = \
                    2 * case.macs / row['forward']['median'] / 1e9
                if peak_res:
                    row['forward_peak_share'] = gflops / peak_res['gflops']
            rows.append(row)
        return dict(
            kind='speed',
            peak=peak_res,
            batch_size=batch_size,
            repeats=repeats,
            warmup=warmup,
            threads=torch.get_num_threads(),
            loadavg=dict(before=load_before, after=loadavg()),
            rows=rows)
    finally:
        if tmp is not None:
            tmp.cleanup()


def format_speed(res: Dict) -> str:
    """Markdown table of :func:`run_speed`'s result."""
    train = any('train' in r for r in res['rows'])
    headers = [
        'config', 'input', 'params (M)', 'GMAC/img', 'fwd ms/img min / med',
        'fwd ratio min / med'
    ]
    if train:
        headers += ['train ms/img min / med', 'train ratio min / med']
    headers += ['fwd GFLOP/s', 'share of peak']
    rows = []
    for r in res['rows']:
        ms = lambda s: f'{fmt(1e3 * s["min"], ".1f")} / '\
            f'{fmt(1e3 * s["median"], ".1f")}'  # noqa: E731
        ratio = lambda d: f'{fmt(d["min"], ".3f")} / '\
            f'{fmt(d["median"], ".3f")}'  # noqa: E731
        line = [
            r['name'], f'{r["shape"][0]}x{r["shape"][1]}',
            fmt(r['params'] / 1e6, '.2f'),
            fmt(None if r['macs'] is None else r['macs'] / 1e9, '.3g'),
            ms(r['forward']),
            ratio(r['forward_ratio'])
        ]
        if train:
            line += [ms(r['train']), ratio(r['train_ratio'])]
        line += [
            fmt(r.get('forward_gflops'), '.1f'),
            fmt(
                None if r.get('forward_peak_share') is None else 100 *
                r['forward_peak_share'], '.0f') +
            ('%' if r.get('forward_peak_share') is not None else '')
        ]
        rows.append(line)
    out = md_table(headers, rows)
    peak = res.get('peak')
    notes = [
        f'batch {res["batch_size"]}, {res["repeats"]} interleaved '
        f'rounds after {res["warmup"]} warm-up, {res["threads"]} '
        f'threads; load average {res["loadavg"]["before"]} -> '
        f'{res["loadavg"]["after"]}'
    ]
    if peak:
        notes.append(f'matmul peak {peak["gflops"]:.1f} GFLOP/s '
                     f'({peak["n"]}x{peak["n"]} fp32, best of '
                     f'{peak["repeats"]}; median {peak["gflops_median"]:.1f})'
                     '; fwd GFLOP/s = 2 x MAC / best forward time')
    return out + '\n\n' + '\n'.join(f'- {n}' for n in notes)


def profile_cases(cases: Sequence['SpeedCase'], top: int) -> str:
    """Top operators (self CPU time) of one forward and one training step
    of each case (``torch.profiler``), as text tables."""
    out = []
    for case in cases:
        for what in ('forward', 'train'):
            case.run(what, record=False)  # warm
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                case.run(what, record=False)
            out.append(f'\n### {case.name}: {what} (batch '
                       f'{case.batch_size})\n')
            out.append(prof.key_averages().table(
                sort_by='self_cpu_time_total', row_limit=top))
    return '\n'.join(out)
