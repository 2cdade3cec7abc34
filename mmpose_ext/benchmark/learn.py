# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Does it learn better? Baseline vs. full model, trained alike on generated
data with cluttered backgrounds, evaluated with the configs' own metrics.

Pairs (each: the baseline first, the paper's model last):

* ``hrnet``: MMPose's HRNet (``configs/hrnet_w32_coco_baseline.py``) vs.
  SG-HRNet (``configs/sg_hrnet_w32_coco.py``) on generated COCO data,
  COCO AP (CocoMetric, ground-truth boxes, flip test as configured);
* ``sadi``: the plain-hourglass ablation
  (``configs/ablations/sadi_net_mpii_hourglass.py``: basic blocks, no SFM,
  no DLM), the RFM ablation (``configs/ablations/sadi_net_mpii_rfm.py``:
  RFM blocks, no SFM, no DLM) and SADI-Net (``configs/sadi_net_mpii.py``)
  on generated MPII data, PCKh@0.5 (MpiiPCKAccuracy, flip + six-scale test
  as configured).

Both members of a pair get the same generated data, the same seed, the same
number of iterations, batch size, optimizer (Adam, the papers' lr 1e-3) and
schedule (linear warm-up over the first 10%, x0.1 at 80% and 95% of the
iterations, like MMPose's 170/200 of 210 epochs), and are built at the same
small width (``tiny_hrnet_overrides`` / :func:`tiny_sadi_overrides`) and
input size. Everything else comes from each config: its pipeline, codec,
head, loss and test-time settings. Training and evaluation use MMEngine's
``Runner`` (the real loops, hooks and evaluators).

Size-dependent SG-HRNet settings are rescaled with the heatmap: the disk
radius (5 heatmap pixels at 64x48) by the heatmap width ratio, and the
segmentation loss scale lambda (``task_scales[1]``, ~ 1/(H W)^2, see
``SGHeatmapHead``) by the squared heatmap-area ratio.
"""
import os.path as osp
import tempfile
import time
from typing import Callable, Dict, List, Optional, Sequence

from .common import (data_overrides, dataset_format, fmt, generate_data,
                     load_config, loadavg, make_offline, md_table,
                     set_input_size, shrink)

PAIRS = {
    'hrnet':
    dict(
        models=(('HRNet (MMPose)', 'configs/hrnet_w32_coco_baseline.py'),
                ('SG-HRNet', 'configs/sg_hrnet_w32_coco.py')),
        input_size=(96, 128),
        metric='coco/AP',
        percent=100.0,  # CocoMetric reports fractions
        claim='SG-HRNet paper: COCO val AP 76.3 vs 74.4 for HRNet-W32 '
        '(+1.9); MPII PCKh@0.5 90.6 vs 90.3'),
    'sadi':
    dict(
        models=(('Hourglass (ablation)',
                 'configs/ablations/sadi_net_mpii_hourglass.py'),
                ('RFM (ablation)', 'configs/ablations/sadi_net_mpii_rfm.py'),
                ('SADI-Net', 'configs/sadi_net_mpii.py')),
        input_size=(128, 128),
        metric='PCK',
        percent=1.0,  # MpiiPCKAccuracy reports percentages
        claim='SADI-Net paper (MPII PCKh@0.5, ablations): Hourglass 88.9, '
        'RFM 89.6, Hourglass+SFM+DLM 89.7; full SADI-Net 92.1 on the test '
        'set'),
}


def _scale_sg_settings(cfg, new_heatmap_size: Sequence[int]) -> Dict:
    """Rescale SG-HRNet's disk radius and lambda for another heatmap size
    (call before :func:`set_input_size`). Returns what changed."""
    head = cfg.model.head
    if head.get('type') != 'SGHeatmapHead':
        return {}
    old_w, old_h = head.decoder.heatmap_size
    new_w, new_h = new_heatmap_size
    lin = new_w / old_w
    area = (old_w * old_h) / (new_w * new_h)
    changed = {}
    mtl = head.get('multi_task_loss')
    if mtl is not None and 'task_scales' in mtl:
        scales = list(mtl.task_scales)
        scales[1] = scales[1] * area**2
        mtl.task_scales = tuple(scales)
        changed['task_scales'] = tuple(scales)
    for loader in ('train_dataloader', ):
        for t in cfg[loader].dataset.pipeline:
            enc = t.get('encoder') if isinstance(t, dict) else None
            if isinstance(enc, dict) and 'disk_radius' in enc:
                enc.disk_radius = enc.disk_radius * lin
                changed['disk_radius'] = enc.disk_radius
    if 'disk_radius' in head.decoder:
        head.decoder.disk_radius = head.decoder.disk_radius * lin
    return changed


def learn_config(config,
                 data_root: str,
                 work_dir: str,
                 width: int = 16,
                 input_size: Sequence[int] = (96, 128),
                 iters: int = 300,
                 batch_size: int = 16,
                 lr: float = 1e-3,
                 seed: int = 0,
                 num_workers: int = 0,
                 num_stacks: int = 2,
                 log_interval: int = 0,
                 cfg_options: Optional[Dict] = None):
    """The small training config of ``config`` for the learning benchmark.

    ``cfg_options`` (``--cfg-options``) are merged last, so they override
    the benchmark's own settings too.

    Returns:
        tuple: ``(cfg, notes)``; ``notes`` lists rescaled settings.
    """
    cfg = make_offline(load_config(config))
    shrink(cfg, width, num_stacks=num_stacks)
    stride = cfg.model.head.decoder.input_size[0] / \
        cfg.model.head.decoder.heatmap_size[0]
    w, h = input_size
    notes = _scale_sg_settings(
        cfg, (int(round(w / stride)), int(round(h / stride))))
    set_input_size(cfg, (w, h))
    cfg.merge_from_dict(data_overrides(cfg, data_root, bbox_file=False))
    warmup = max(1, iters // 10)
    # IterBasedTrainLoop validates once, after the last iteration
    cfg.train_cfg = dict(by_epoch=False, max_iters=iters,
                         val_interval=iters)
    cfg.train_dataloader.sampler = dict(type='InfiniteSampler', shuffle=True)
    cfg.param_scheduler = [
        dict(type='LinearLR', begin=0, end=warmup, start_factor=0.001,
             by_epoch=False),
        dict(type='MultiStepLR', begin=0, end=iters, by_epoch=False,
             milestones=[int(0.8 * iters), int(0.95 * iters)], gamma=0.1)
    ]
    cfg.optim_wrapper = dict(
        type='OptimWrapper', optimizer=dict(type='Adam', lr=lr))
    cfg.auto_scale_lr = dict(enable=False, base_batch_size=batch_size)
    for split, bs in (('train', batch_size), ('val', 32), ('test', 32)):
        loader = cfg[f'{split}_dataloader']
        loader.batch_size = bs
        loader.num_workers = num_workers if split == 'train' else 0
        loader.persistent_workers = loader.num_workers > 0
    cfg.default_hooks.logger = dict(
        type='LoggerHook', interval=max(log_interval, 1))
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=-1, save_last=False, save_best=None)
    cfg.log_processor = dict(type='LogProcessor', window_size=20,
                             by_epoch=False)
    cfg.custom_hooks = [
        h for h in cfg.get('custom_hooks', []) if h.get('type') !=
        'SyncBuffersHook'
    ]
    cfg.log_level = 'INFO' if log_interval else 'WARNING'
    cfg.randomness = dict(seed=seed)
    cfg.work_dir = work_dir
    cfg.env_cfg = dict(cudnn_benchmark=False,
                       mp_cfg=dict(mp_start_method='fork',
                                   opencv_num_threads=0),
                       dist_cfg=dict(backend='gloo'))
    cfg.visualizer = dict(type='PoseLocalVisualizer', vis_backends=[],
                          name=f'visualizer_{time.time_ns()}')
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg, notes


class _CaptureMetrics:
    """Hook that keeps the metrics of the last validation."""
    priority = 'LOWEST'

    def __init__(self):
        self.metrics = None

    def after_val_epoch(self, runner, metrics=None):
        self.metrics = metrics


def train_and_evaluate(cfg) -> Dict:
    """Train with MMEngine's Runner; the loop validates after the last
    iteration.

    Returns:
        dict: ``metrics`` (the evaluator's), ``seconds`` (training +
        validation), ``final_loss`` (last logged total loss, if any).
    """
    from mmengine.hooks import Hook
    from mmengine.logging import MMLogger
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner
    import mmpose_ext  # noqa: F401
    init_default_scope('mmpose')
    runner = Runner.from_cfg(cfg)
    capture = type('CaptureMetricsHook', (_CaptureMetrics, Hook), {})()
    runner.register_hook(capture, priority='LOWEST')
    t0 = time.perf_counter()
    runner.train()
    seconds = time.perf_counter() - t0
    if capture.metrics is None:
        raise RuntimeError('the training loop did not validate')
    loss = None
    hist = runner.message_hub.log_scalars.get('train/loss')
    if hist is not None:
        loss = float(hist.current())
    # free the runner's logger handlers (one per run)
    MMLogger._instance_dict.pop(runner.logger.instance_name, None)
    return dict(metrics={k: float(v) for k, v in capture.metrics.items()},
                seconds=seconds, final_loss=loss)


def run_learn(pairs: Sequence[str] = ('hrnet', 'sadi'),
              seeds: Sequence[int] = (0, ),
              width: int = 16,
              iters: int = 500,
              batch_size: int = 16,
              lr: float = 1e-3,
              num_train: int = 300,
              num_val: int = 60,
              data_seed: int = 0,
              input_sizes: Optional[Dict[str, Sequence[int]]] = None,
              num_workers: int = 0,
              num_stacks: int = 2,
              work_dir: Optional[str] = None,
              log: Callable = print,
              log_interval: int = 0,
              cfg_options: Optional[Dict] = None) -> Dict:
    """Train and evaluate every pair, every seed.

    Args:
        pairs (Sequence[str]): Keys of :data:`PAIRS`.
        seeds (Sequence[int]): Training seeds (model init, sampling,
            augmentation); the data set is the same for all.
        width (int): Width of the highest-resolution branch. Defaults to 16.
        iters (int): Training iterations. Defaults to 500.
        batch_size (int): Defaults to 16.
        lr (float): Adam learning rate. Defaults to 1e-3.
        num_train (int): Generated training images. Defaults to 300.
        num_val (int): Generated validation images. Defaults to 60.
        data_seed (int): Seed of the generated data sets. Defaults to 0.
        input_sizes (dict, optional): (w, h) per pair.
        num_workers (int): Training loader workers. Defaults to 0.
        num_stacks (int): Hourglass stacks of the SADI pair. Defaults to 2.
        work_dir (str, optional): Data and work dirs (temporary by default).
        log (callable): Progress messages.
        log_interval (int): MMEngine training log interval (0: quiet).
        cfg_options (dict, optional): Overrides of every model's config,
            applied last (see :func:`learn_config`).

    Returns:
        dict: ``runs`` (one per pair, model and seed: metrics, times) and
        ``pairs`` (per pair: mean metric per model, per-seed differences).
    """
    tmp = None
    if work_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix='mmpose_ext_learn_')
        work_dir = tmp.name
    try:
        load_before = loadavg()
        t_start = time.perf_counter()
        runs: List[Dict] = []
        summary = {}
        for pair in pairs:
            spec = PAIRS[pair]
            size = (input_sizes or {}).get(pair, spec['input_size'])
            first = load_config(spec['models'][0][1])
            fmt_ = dataset_format(first)
            root = generate_data(fmt_, osp.join(work_dir, f'data_{fmt_}'),
                                 num_train=num_train, num_val=num_val,
                                 seed=data_seed)
            per_model = {name: [] for name, _ in spec['models']}
            for seed in seeds:
                for name, config in spec['models']:
                    wd = osp.join(work_dir, f'{pair}_{seed}_{len(runs)}')
                    cfg, notes = learn_config(
                        config, root, wd, width=width, input_size=size,
                        iters=iters, batch_size=batch_size, lr=lr,
                        seed=seed, num_workers=num_workers,
                        num_stacks=num_stacks, log_interval=log_interval,
                        cfg_options=cfg_options)
                    log(f'[{pair}] {name}, seed {seed}: training {iters} '
                        f'iterations at width {width}, input '
                        f'{size[1]}x{size[0]} ...')
                    res = train_and_evaluate(cfg)
                    if spec['metric'] not in res['metrics']:
                        raise KeyError(
                            f'{spec["metric"]} not among the metrics of '
                            f'{config}: {sorted(res["metrics"])}')
                    value = res['metrics'][spec['metric']] * spec['percent']
                    log(f'[{pair}] {name}, seed {seed}: {spec["metric"]} = '
                        f'{fmt(value, ".2f")} % ({res["seconds"]:.0f} s)')
                    per_model[name].append(value)
                    runs.append(dict(pair=pair, model=name, config=config,
                                     seed=seed, rescaled=notes, **res))
            names = [n for n, _ in spec['models']]
            base, full = names[0], names[-1]
            # per model: its value minus the baseline's, seed by seed
            vs_base = {
                n: [v - b for b, v in zip(per_model[base], per_model[n])]
                for n in names[1:]
            }
            diffs = vs_base[full]
            summary[pair] = dict(
                metric=spec['metric'],
                models=names,
                values=per_model,
                mean={n: sum(v) / len(v) for n, v in per_model.items()},
                vs_baseline=vs_base,
                diff_per_seed=diffs,
                diff_mean=sum(diffs) / len(diffs),
                input_size=tuple(size),
                claim=spec['claim'])
        return dict(
            kind='learn',
            seeds=list(seeds),
            width=width,
            iters=iters,
            batch_size=batch_size,
            lr=lr,
            num_train=num_train,
            num_val=num_val,
            data_seed=data_seed,
            cfg_options=dict(cfg_options or {}),
            total_s=time.perf_counter() - t_start,
            loadavg=dict(before=load_before, after=loadavg()),
            runs=runs,
            pairs=summary)
    finally:
        if tmp is not None:
            tmp.cleanup()


def format_learn(res: Dict) -> str:
    seeds = res['seeds']
    headers = ['pair', 'model', 'input', 'metric'] + \
        [f'seed {s}' for s in seeds] + ['mean', 'vs baseline (per seed)']
    rows = []
    for pair, s in res['pairs'].items():
        for i, name in enumerate(s['models']):
            vals = s['values'][name]
            diff = ''
            if i > 0:
                d = s['vs_baseline'][name]
                per = ', '.join(f'{x:+.1f}' for x in d)
                diff = f'{sum(d) / len(d):+.1f} ({per})'
            rows.append([
                pair, name, f'{s["input_size"][1]}x{s["input_size"][0]}',
                s['metric']
            ] + [fmt(v, '.1f') for v in vals] +
                        [fmt(s['mean'][name], '.1f'), diff])
    notes = [
        f'width {res["width"]}, {res["iters"]} iterations, batch '
        f'{res["batch_size"]}, Adam lr {res["lr"]}, {res["num_train"]} '
        f'train / {res["num_val"]} val generated images (data seed '
        f'{res["data_seed"]}); metrics in %, differences in points',
        f'total {res["total_s"] / 60:.1f} min; load average '
        f'{res["loadavg"]["before"]} -> {res["loadavg"]["after"]}'
    ]
    notes += [f'{pair}: {s["claim"]}' for pair, s in res['pairs'].items()]
    return md_table(headers, rows) + '\n\n' + '\n'.join(f'- {n}'
                                                          for n in notes)
