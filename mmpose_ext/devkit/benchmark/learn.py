# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Does it learn better? Baselines vs. the papers' models, trained alike on
generated data with cluttered backgrounds, evaluated with the configs' own
metrics, over several seeds.

Groups (:data:`GROUPS`; the FIRST model of each is its baseline):

* ``hrnet``: HRNet-W32 with the SG-HRNet recipe
  (``configs/baselines/hrnet_w32_sg-recipe_coco.py``), SG-HRNet without DWA
  and SG-HRNet (``configs/sg_hrnet_w32_coco.py``), which differ from the
  baseline only in the SGMs + segmentation loss (and DWA); COCO AP
  (CocoMetric, ground-truth boxes, flip test as configured);
* ``hrnet-ablations``: SG-HRNet with one open setting changed (lambda x0.1,
  x10, the SGM map's initial value, the SGMs without their segmentation
  loss);
* ``sadi``: the plain-hourglass and RFM ablations and SADI-Net
  (``configs/sadi_net_mpii.py``), the latter also evaluated from its
  regressed means (at the training scale with flip, the config's test; and
  merged over the six-scale pyramid), from the confidence-weighted average
  of its two heatmaps, and from H_rfm at one scale; PCKh@0.5
  (MpiiPCKAccuracy, flip + six-scale test);
* ``sadi-loss``: SADI-Net's DLM loss weights.

All models of a group get the same generated data, the same seeds, the same
number of iterations, batch size, optimizer (Adam, the papers' lr 1e-3) and
schedule (linear warm-up over the first 10%, x0.1 at 80% and 95% of the
iterations, like MMPose's 170/200 of 210 epochs), the same small width
(``tiny_hrnet_overrides`` / :func:`tiny_sadi_overrides`), input size and
initialisation (each backbone's own random init: no ImageNet weights exist
at these widths). Everything else comes from each config: its pipeline,
augmentation, codec, head, loss and test-time settings. Training and
evaluation use MMEngine's ``Runner`` (the real loops, hooks and
evaluators).

Every model is reported with its mean, standard deviation (n - 1) and range
over the seeds, and against the baseline seed by seed; a difference is
called "no difference" unless every seed's difference has the same sign and
the mean difference exceeds both models' standard deviations.

Size-dependent SG-HRNet settings are rescaled with the heatmap: the disk
radius (5 heatmap pixels at 64x48) by the heatmap width ratio, and the
segmentation loss scale lambda (``task_scales[1]``, ~ 1/(H W)^2, see
``SGHeatmapHead``) by the squared heatmap-area ratio.
"""
import os.path as osp
import statistics
import tempfile
import time
from typing import Callable, Dict, List, Optional, Sequence

from mmengine.hooks import Hook
from mmengine.logging import MMLogger
from mmengine.model import is_model_wrapper
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

import mmpose_ext  # noqa: F401  (registers the plugin's modules)
from .common import (data_overrides, dataset_format, fmt, generate_data,
                     load_config, loadavg, make_offline, md_table,
                     set_input_size, shrink)

# A group trains every model on the same generated data with the same
# seeds; the FIRST model is the baseline the others are compared with.
# Model entries: ``name``, ``config``, optional ``cfg_options`` (applied
# after the config, before the command line's) and ``evals``: extra
# evaluations of the SAME trained model with other ``model.test_cfg``
# settings, reported as rows "name [eval]".
SG_LAMBDA = 'model.head.multi_task_loss.task_scales'
# the baselines that two groups share
HRNET_BASELINE = dict(
    name='HRNet (SG recipe)',
    config='configs/baselines/hrnet_w32_sg-recipe_coco.py')
RFM_ABLATION = dict(
    name='RFM (ablation)', config='configs/ablations/sadi_net_mpii_rfm.py')
# SADI-Net's test pyramid with the keypoint merge over all six scales
SADI_SIX_SCALES = dict(
    scales=(0.75, 0.875, 1.0, 1.125, 1.25, 1.5),
    mode='resize',
    size_divisor=32,
    keypoint_scales=None)
GROUPS = {
    'hrnet':
    dict(
        models=(
            HRNET_BASELINE,
            dict(
                name='SG-HRNet, no DWA',
                config='configs/ablations/sg_hrnet_w32_coco_no-dwa.py'),
            dict(name='SG-HRNet', config='configs/sg_hrnet_w32_coco.py'),
        ),
        input_size=(96, 128),
        metric='coco/AP',
        percent=100.0,  # CocoMetric reports fractions
        claim='SG-HRNet paper: COCO val AP 76.3 vs 74.4 for HRNet-W32 '
        '(+1.9); MPII PCKh@0.5 90.6 vs 90.3'),
    # where a gap between SG-HRNet and its baseline comes from: the paper's
    # model with one setting changed (compare with the 'hrnet' group's runs
    # of the same seeds: `learn --merge`)
    'hrnet-ablations':
    dict(
        models=(
            HRNET_BASELINE,
            dict(
                name='SG-HRNet, lambda x0.1',
                config='configs/sg_hrnet_w32_coco.py',
                lambda_factor=0.1),
            dict(
                name='SG-HRNet, lambda x10',
                config='configs/sg_hrnet_w32_coco.py',
                lambda_factor=10.0),
            dict(
                name='SG-HRNet, SGM map starts at 0.9',
                config='configs/sg_hrnet_w32_coco.py',
                cfg_options={'model.backbone.sgm_init_prob': 0.9}),
            # the SGMs' gating without their supervision: is the cost the
            # attention itself or the segmentation loss?
            dict(
                name='SG-HRNet, SGMs unsupervised (no seg loss, no DWA)',
                config='configs/sg_hrnet_w32_coco.py',
                cfg_options={
                    'model.head.loss_seg.loss_weight': 0.0,
                    'model.head.multi_task_loss.mode': 'fixed'
                }),
        ),
        input_size=(96, 128),
        metric='coco/AP',
        percent=100.0,
        claim='ablations of SG-HRNet settings the paper leaves open'),
    'sadi':
    dict(
        models=(
            dict(
                name='Hourglass (ablation)',
                config='configs/ablations/sadi_net_mpii_hourglass.py'),
            RFM_ABLATION,
            dict(
                name='SADI-Net',
                config='configs/sadi_net_mpii.py',
                evals={
                    # the config's test: flip, scale 1 only for the means
                    'mu': {
                        'predict_from': 'regression'
                    },
                    # the means merged over the six-scale pyramid too (the
                    # test before keypoint_scales: the other scales spoil
                    # them)
                    'mu, six scales': {
                        'predict_from': 'regression',
                        'multiscale_test': SADI_SIX_SCALES
                    },
                    'average': {
                        'predict_from': 'average'
                    },
                    # what the pyramid does to H_rfm at this budget
                    'H_rfm, one scale': {
                        'multiscale_test':
                        dict(SADI_SIX_SCALES, scales=(1.0, ))
                    },
                }),
        ),
        input_size=(128, 128),
        metric='PCK',
        percent=1.0,  # MpiiPCKAccuracy reports percentages
        # also the mean keypoint error in image pixels (how far mu is)
        extra_metrics=(dict(type='EPE'), ),
        claim='SADI-Net paper (MPII PCKh@0.5, ablations): Hourglass 88.9, '
        'RFM 89.6, Hourglass+SFM+DLM 89.7; full SADI-Net 92.1 on the test '
        'set'),
    # the DLM's loss weights (the defaults: rle_weight 1, lambda 100, the
    # neck's backbone_grad_scale 1e-7; the 'sadi' group's SADI-Net):
    # without L_dlm, L_dlm 100x, the DLM's pull on the hourglass 10x,
    # without the likelihood
    'sadi-loss':
    dict(
        models=(
            RFM_ABLATION,
            dict(
                name='SADI-Net, lambda 0',
                config='configs/sadi_net_mpii.py',
                cfg_options={'model.head.lambda_dlm': 0.0}),
            dict(
                name='SADI-Net, lambda 1e4',
                config='configs/sadi_net_mpii.py',
                cfg_options={'model.head.lambda_dlm': 1e4}),
            dict(
                name='SADI-Net, backbone_grad_scale 1e-6',
                config='configs/sadi_net_mpii.py',
                cfg_options={'model.neck.backbone_grad_scale': 1e-6}),
            dict(
                name='SADI-Net, no likelihood',
                config='configs/ablations/sadi_net_mpii_loss-joint-no-rle.py'),
        ),
        input_size=(128, 128),
        metric='PCK',
        percent=1.0,
        claim='SADI-Net paper: lambda lost in the available text'),
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
    cfg.train_cfg = dict(by_epoch=False, max_iters=iters, val_interval=iters)
    cfg.train_dataloader.sampler = dict(type='InfiniteSampler', shuffle=True)
    cfg.param_scheduler = [
        dict(
            type='LinearLR',
            begin=0,
            end=warmup,
            start_factor=0.001,
            by_epoch=False),
        dict(
            type='MultiStepLR',
            begin=0,
            end=iters,
            by_epoch=False,
            milestones=[int(0.8 * iters), int(0.95 * iters)],
            gamma=0.1)
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
    cfg.log_processor = dict(
        type='LogProcessor', window_size=20, by_epoch=False)
    cfg.custom_hooks = [
        h for h in cfg.get('custom_hooks', [])
        if h.get('type') != 'SyncBuffersHook'
    ]
    cfg.log_level = 'INFO' if log_interval else 'WARNING'
    cfg.randomness = dict(seed=seed)
    cfg.work_dir = work_dir
    cfg.env_cfg = dict(
        cudnn_benchmark=False,
        mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
        dist_cfg=dict(backend='gloo'))
    cfg.visualizer = dict(
        type='PoseLocalVisualizer',
        vis_backends=[],
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


def train_and_evaluate(cfg, evals: Optional[Dict[str, Dict]] = None) -> Dict:
    """Train with MMEngine's Runner; the loop validates after the last
    iteration. Each entry of ``evals`` then validates the same trained model
    again with ``model.test_cfg`` updated by its dict.

    Returns:
        dict: ``metrics`` (the evaluator's), ``eval_metrics`` (per entry of
        ``evals``), ``seconds`` (training + validation), ``final_loss``
        (last logged total loss, if any).
    """
    init_default_scope('mmpose')
    runner = Runner.from_cfg(cfg)
    capture = type('CaptureMetricsHook', (_CaptureMetrics, Hook), {})()
    runner.register_hook(capture, priority='LOWEST')
    t0 = time.perf_counter()
    runner.train()
    seconds = time.perf_counter() - t0
    if capture.metrics is None:
        raise RuntimeError('the training loop did not validate')
    metrics = {k: float(v) for k, v in capture.metrics.items()}
    eval_metrics = {}
    model = runner.model.module if is_model_wrapper(
        runner.model) else runner.model
    base_test_cfg = dict(model.test_cfg)
    for name, test_cfg in (evals or {}).items():
        model.test_cfg = dict(base_test_cfg, **test_cfg)
        capture.metrics = None
        runner.val_loop.run()
        eval_metrics[name] = {k: float(v) for k, v in capture.metrics.items()}
    model.test_cfg = base_test_cfg
    loss = None
    hist = runner.message_hub.log_scalars.get('train/loss')
    if hist is not None:
        loss = float(hist.current())
    # free the runner's logger handlers (one per run)
    MMLogger._instance_dict.pop(runner.logger.instance_name, None)
    return dict(
        metrics=metrics,
        eval_metrics=eval_metrics,
        seconds=seconds,
        final_loss=loss)


def _stats(values: Sequence[float]) -> Dict:
    v = list(values)
    return dict(
        n=len(v),
        mean=statistics.fmean(v),
        std=statistics.stdev(v) if len(v) > 1 else None,
        min=min(v),
        max=max(v))


def _verdict(diffs: Sequence[float], std_a: Optional[float],
             std_b: Optional[float]) -> str:
    """'better' / 'worse' only if every seed's difference has the same sign
    and the mean difference exceeds both models' spreads."""
    if len(diffs) < 2 or std_a is None or std_b is None:
        return 'too few seeds'
    mean = statistics.fmean(diffs)
    same_sign = all(d > 0 for d in diffs) or all(d < 0 for d in diffs)
    if same_sign and abs(mean) > max(std_a, std_b):
        return 'better' if mean > 0 else 'worse'
    return 'no difference'


def summarize_runs(runs: List[Dict]) -> Dict:
    """Per group: every row's values by seed, statistics and its paired
    comparison with the group's baseline (the first model)."""
    summary = {}
    for group in dict.fromkeys(r['group'] for r in runs):
        spec = GROUPS[group]
        rows: Dict[str, Dict[int, float]] = {}
        epe: Dict[str, List[float]] = {}  # mean keypoint error, image px
        for r in runs:
            if r['group'] != group:
                continue
            rows.setdefault(r['model'], {})[r['seed']] = r['value']
            if 'EPE' in r['metrics']:
                epe.setdefault(r['model'], []).append(r['metrics']['EPE'])
            for name, value in r.get('eval_values', {}).items():
                row = f'{r["model"]} [{name}]'
                rows.setdefault(row, {})[r['seed']] = value
                ms = r.get('eval_metrics', {}).get(name, {})
                if 'EPE' in ms:
                    epe.setdefault(row, []).append(ms['EPE'])
        base = spec['models'][0]['name']
        out = {}
        for name, by_seed in rows.items():
            seeds = sorted(by_seed)
            entry = dict(
                seeds=seeds,
                values=[by_seed[s] for s in seeds],
                **_stats(by_seed.values()))
            if name in epe:
                entry['epe_px'] = _stats(epe[name])
            if name != base and base in rows:
                common = [s for s in seeds if s in rows[base]]
                diffs = [by_seed[s] - rows[base][s] for s in common]
                if diffs:
                    base_std = _stats(rows[base][s] for s in common)['std']
                    own_std = _stats(by_seed[s] for s in common)['std']
                    entry['vs_baseline'] = dict(
                        seeds=common,
                        diffs=diffs,
                        mean=statistics.fmean(diffs),
                        std=statistics.stdev(diffs)
                        if len(diffs) > 1 else None,
                        verdict=_verdict(diffs, own_std, base_std))
            out[name] = entry
        summary[group] = dict(
            metric=spec['metric'],
            baseline=base,
            rows=out,
            claim=spec['claim'])
    return summary


def run_learn(groups: Sequence[str] = ('hrnet', 'sadi'),
              seeds: Sequence[int] = (0, ),
              models: Optional[Sequence[str]] = None,
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
    """Train and evaluate every model of every group, every seed.

    Args:
        groups (Sequence[str]): Keys of :data:`GROUPS`.
        seeds (Sequence[int]): Training seeds (model init, sampling,
            augmentation); the data set is the same for all.
        models (Sequence[str], optional): Only the models of these names
            (e.g. to split a long run over processes; ``--merge`` joins the
            JSON files afterwards). Defaults to all.
        width (int): Width of the highest-resolution branch. Defaults to 16.
        iters (int): Training iterations. Defaults to 500.
        batch_size (int): Defaults to 16.
        lr (float): Adam learning rate. Defaults to 1e-3.
        num_train (int): Generated training images. Defaults to 300.
        num_val (int): Generated validation images. Defaults to 60.
        data_seed (int): Seed of the generated data sets. Defaults to 0.
        input_sizes (dict, optional): (w, h) per group.
        num_workers (int): Training loader workers. Defaults to 0.
        num_stacks (int): Hourglass stacks of the SADI groups. Defaults to 2.
        work_dir (str, optional): Data and work dirs (temporary by default).
        log (callable): Progress messages.
        log_interval (int): MMEngine training log interval (0: quiet).
        cfg_options (dict, optional): Overrides of every model's config,
            applied last (see :func:`learn_config`).

    Returns:
        dict: the settings, ``runs`` (one per group, model and seed:
        metrics, times) and ``groups`` (:func:`summarize_runs`).
    """
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        raise KeyError(f'unknown groups {unknown}; known: {sorted(GROUPS)}')
    tmp = None
    if work_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix='mmpose_ext_learn_')
        work_dir = tmp.name
    try:
        load_before = loadavg()
        t_start = time.perf_counter()
        runs: List[Dict] = []
        for group in groups:
            spec = GROUPS[group]
            size = (input_sizes or {}).get(group, spec['input_size'])
            first = load_config(spec['models'][0]['config'])
            fmt_ = dataset_format(first)
            root = generate_data(
                fmt_,
                osp.join(work_dir, f'data_{fmt_}'),
                num_train=num_train,
                num_val=num_val,
                seed=data_seed)
            for seed in seeds:
                for m in spec['models']:
                    if models is not None and m['name'] not in models:
                        continue
                    name = m['name']
                    wd = osp.join(work_dir, f'{group}_{seed}_{len(runs)}')
                    opts = dict(m.get('cfg_options') or {})
                    opts.update(cfg_options or {})
                    cfg, notes = learn_config(
                        m['config'],
                        root,
                        wd,
                        width=width,
                        input_size=size,
                        iters=iters,
                        batch_size=batch_size,
                        lr=lr,
                        seed=seed,
                        num_workers=num_workers,
                        num_stacks=num_stacks,
                        log_interval=log_interval,
                        cfg_options=opts)
                    extra = list(spec.get('extra_metrics', ()))
                    if extra:
                        cfg.val_evaluator = [cfg.val_evaluator, *extra]
                        cfg.test_evaluator = cfg.val_evaluator
                    if m.get('lambda_factor') is not None:
                        mtl = cfg.model.head.multi_task_loss
                        scales = list(mtl.task_scales)
                        scales[1] *= m['lambda_factor']
                        mtl.task_scales = tuple(scales)
                        notes['task_scales'] = tuple(scales)
                    log(f'[{group}] {name}, seed {seed}: training {iters} '
                        f'iterations at width {width}, input '
                        f'{size[1]}x{size[0]} ...')
                    res = train_and_evaluate(cfg, m.get('evals'))
                    metric = spec['metric']
                    for ms in [res['metrics'], *res['eval_metrics'].values()]:
                        if metric not in ms:
                            raise KeyError(
                                f'{metric} not among the metrics of '
                                f'{m["config"]}: {sorted(ms)}')
                    value = res['metrics'][metric] * spec['percent']
                    eval_values = {
                        k: v[metric] * spec['percent']
                        for k, v in res['eval_metrics'].items()
                    }
                    extra = ''.join(f', [{k}] {v:.2f}'
                                    for k, v in eval_values.items())
                    for name_, ms in [
                        ('', res['metrics']),
                            *((f' [{k}]', v)
                              for k, v in res['eval_metrics'].items())
                    ]:
                        if 'EPE' in ms:
                            extra += f', EPE{name_} {ms["EPE"]:.1f} px'
                    log(f'[{group}] {name}, seed {seed}: {metric} = '
                        f'{fmt(value, ".2f")} %{extra} '
                        f'({res["seconds"]:.0f} s)')
                    runs.append(
                        dict(
                            group=group,
                            model=name,
                            config=m['config'],
                            seed=seed,
                            value=value,
                            eval_values=eval_values,
                            rescaled=notes,
                            cfg_options=opts,
                            input_size=tuple(size),
                            **res))
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
            num_stacks=num_stacks,
            cfg_options=dict(cfg_options or {}),
            total_s=time.perf_counter() - t_start,
            loadavg=dict(before=load_before, after=loadavg()),
            runs=runs,
            groups=summarize_runs(runs))
    finally:
        if tmp is not None:
            tmp.cleanup()


_SETTINGS = ('width', 'iters', 'batch_size', 'lr', 'num_train', 'num_val',
             'data_seed', 'num_stacks', 'cfg_options')


def merge_learn(results: Sequence[Dict]) -> Dict:
    """Join the runs of several :func:`run_learn` results (e.g. seeds or
    models run in separate processes). Their settings must be equal; a run
    (group, model, seed) present twice is an error."""
    if not results:
        raise ValueError('nothing to merge')
    first = results[0]
    for res in results[1:]:
        diff = [k for k in _SETTINGS if res.get(k) != first.get(k)]
        if diff:
            raise ValueError(
                'cannot merge learn results with different settings: ' +
                ', '.join(f'{k} {first.get(k)!r} vs {res.get(k)!r}'
                          for k in diff))
    runs, seen = [], set()
    for res in results:
        for r in res['runs']:
            key = (r['group'], r['model'], r['seed'])
            if key in seen:
                raise ValueError(f'run {key} appears twice')
            seen.add(key)
            runs.append(r)
    out = {k: first.get(k) for k in ('kind', *_SETTINGS)}
    out.update(
        seeds=sorted({r['seed']
                      for r in runs}),
        total_s=sum(r.get('total_s', 0) for r in results),
        loadavg=first.get('loadavg'),
        runs=runs,
        groups=summarize_runs(runs),
        merged_from=len(results))
    return out


def format_learn(res: Dict) -> str:
    seeds = res['seeds']
    with_epe = any('epe_px' in e for s in res['groups'].values()
                   for e in s['rows'].values())
    headers = ['group', 'model', 'input', 'metric'] + \
        [f'seed {s}' for s in seeds] + [
            'mean', 'std', 'vs baseline: mean (per seed)', 'verdict'] + \
        (['error px (mean)'] if with_epe else [])
    sizes = {r['group']: r.get('input_size') for r in res['runs']}
    rows = []
    for group, s in res['groups'].items():
        size = sizes.get(group)
        for name, e in s['rows'].items():
            by_seed = dict(zip(e['seeds'], e['values']))
            vs = e.get('vs_baseline')
            diff = verdict = ''
            if vs is not None:
                per = ', '.join(f'{x:+.1f}' for x in vs['diffs'])
                diff = f'{vs["mean"]:+.1f} ({per})'
                verdict = vs['verdict']
            elif name == s['baseline']:
                verdict = 'baseline'
            rows.append(
                [
                    group, name, f'{size[1]}x{size[0]}' if size else '-',
                    s['metric']
                ] + [fmt(by_seed.get(x), '.1f') for x in seeds] +
                [fmt(e['mean'], '.1f'),
                 fmt(e['std'], '.1f'), diff, verdict] +
                ([fmt(e['epe_px']['mean'] if 'epe_px' in
                      e else None, '.1f')] if with_epe else []))
    notes = [
        f'width {res["width"]}, {res["iters"]} iterations, batch '
        f'{res["batch_size"]}, Adam lr {res["lr"]}, {res["num_train"]} '
        f'train / {res["num_val"]} val generated images (data seed '
        f'{res["data_seed"]}); metrics in %, differences in points; std '
        'over seeds (n - 1); "no difference" unless every seed agrees in '
        'sign and the mean difference exceeds both spreads; error px: '
        'mean distance of the predicted keypoints from the truth in image '
        'pixels (MMPose\'s EPE), where measured',
        f'total {res["total_s"] / 60:.1f} min' +
        (f'; load average {res["loadavg"]["before"]} -> '
         f'{res["loadavg"]["after"]}' if res.get('loadavg') else '')
    ]
    notes += [f'{g}: {s["claim"]}' for g, s in res['groups'].items()]
    return md_table(headers, rows) + '\n\n' + '\n'.join(f'- {n}'
                                                        for n in notes)
