# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""How strongly each loss term pulls on the shared backbone, at init.

The loss weights of the papers' models are justified by gradient-norm
ratios (SADI-Net's ``model.head.rle_weight`` and ``lambda_dlm``, SG-HRNet's
``model.head.multi_task_loss.task_scales``); this measures them again.

The config's model is built offline (no pretrained weights; each module's
own random initialisation, seeded), optionally shrunk
(:func:`~.common.shrink`) and resized (:func:`~.common.set_input_size`, with
SG-HRNet's disk radius and segmentation scale rescaled to the heatmap as the
learning benchmark does). Its training batches come from the config's OWN
training pipeline (augmentation and codec targets included) run on a
generated data set of the config's format, then its data preprocessor.

For every batch the model, in training mode, in its INITIAL state (every
parameter and buffer restored before each batch: BN running statistics,
SG-HRNet's DWA history, so DWA weights are their initial 1), runs
``model(inputs, data_samples, mode='loss')``. Every returned entry that is a
tensor requiring grad is a term (``loss_kpt``, ``loss_rle``, ``loss_dlm``;
``loss_kpt``, ``loss_seg``), exactly as the head returns it, i.e. with its
weight applied (``rle_weight``, ``lambda_dlm``; DWA weight x task scale).
Per term, ``torch.autograd.grad(term, params, retain_graph=True,
allow_unused=True)`` gives its gradient, whose L2 norm is taken over the
parameters of ``model.backbone``, ``model.neck`` (if any), ``model.head``
and the whole model. ``total`` is the sum of the ``loss*`` terms (what
MMEngine's ``parse_losses`` sums), its gradient the sum of theirs. A group
no gradient reaches (every parameter unused) has norm 0 and is flagged.

The ratio of a term is its backbone norm over the reference term's
(default: the first term, ``loss_kpt``) on the SAME batch; reported are the
median, min and max of these per-batch ratios (and of each norm).
"""
import copy
import math
import os.path as osp
import statistics
import tempfile
import time
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmpose.registry import DATASETS

from .common import (build_model, data_overrides, dataset_format, fmt,
                     generate_data, input_size_of, load_config, loadavg,
                     md_table, set_input_size, shrink)
from .learn import _scale_sg_settings

#: parameter groups measured besides the whole model, in table order
GROUPS = ('backbone', 'neck', 'head')


def balance_config(config,
                   width: Optional[int] = None,
                   input_size: Optional[Sequence[int]] = None,
                   num_stacks: int = 2,
                   rescale: bool = True,
                   data_root: Optional[str] = None,
                   cfg_options: Optional[Dict] = None):
    """The config the measurement runs.

    Args:
        config (str | Config): A top-down config (path or ``Config``).
        width (int, optional): Shrink to this branch width
            (:func:`~.common.shrink`); default: as is.
        input_size (Sequence[int], optional): Input (W, H); default: the
            config's.
        num_stacks (int): Hourglass stacks when shrinking a SADI-Net config.
            Defaults to 2.
        rescale (bool): With ``input_size``, rescale SG-HRNet's disk radius
            and segmentation scale to the new heatmap size, as the learning
            benchmark does. Defaults to True.
        data_root (str, optional): Point the loaders at the generated data
            set there.
        cfg_options (dict, optional): Overrides merged LAST (after shrinking,
            resizing and the data overrides).

    Returns:
        tuple: ``(cfg, rescaled)``; ``rescaled`` names the settings changed
        with the heatmap size.
    """
    cfg = load_config(config)
    if width:
        shrink(cfg, width, num_stacks=num_stacks)
    rescaled = {}
    if input_size is not None:
        w, h = (int(v) for v in input_size)
        if rescale:
            stride = cfg.model.head.decoder.input_size[0] / \
                cfg.model.head.decoder.heatmap_size[0]
            rescaled = _scale_sg_settings(
                cfg, (int(round(w / stride)), int(round(h / stride))))
        set_input_size(cfg, (w, h))
    if data_root is not None:
        cfg.merge_from_dict(data_overrides(cfg, data_root))
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg, rescaled


def make_batches(cfg: Config,
                 model: torch.nn.Module,
                 num_batches: int,
                 batch_size: int,
                 seed: int = 0) -> List[Dict]:
    """Preprocessed training batches from the config's training pipeline.

    Batch ``b`` holds samples ``b * batch_size ...`` of the training set
    (cycled), augmented with numpy seeded by ``seed`` (the global numpy
    state is restored afterwards).

    Args:
        cfg (Config): The config, pointed at the generated data.
        model (nn.Module): The model (its data preprocessor is used).
        num_batches (int): Number of batches.
        batch_size (int): Samples per batch.
        seed (int): Seed of the random augmentations.

    Returns:
        list[dict]: ``inputs`` and ``data_samples`` (with targets) each.
    """
    init_default_scope(cfg.get('default_scope', 'mmpose'))
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        batches = []
        for b in range(num_batches):
            items = [
                dataset[(b * batch_size + i) % len(dataset)]
                for i in range(batch_size)
            ]
            with torch.no_grad():
                batches.append(
                    model.data_preprocessor(
                        pseudo_collate(items), training=True))
    finally:
        np.random.set_state(state)
    return batches


def param_groups(model: torch.nn.Module) -> Dict[str, List[int]]:
    """Indices into ``[p for p in model.parameters() if p.requires_grad]``
    of the parameters of ``model.backbone``, ``model.neck`` and
    ``model.head`` (those the model has) and of the whole ``model``."""
    params = [p for p in model.parameters() if p.requires_grad]
    index = {id(p): i for i, p in enumerate(params)}
    out = {}
    for name in GROUPS:
        module = getattr(model, name, None)
        if isinstance(module, torch.nn.Module):
            out[name] = [
                index[id(p)] for p in module.parameters() if id(p) in index
            ]
    out['model'] = list(range(len(params)))
    return out


def group_norms(grads: Sequence[Optional[torch.Tensor]],
                groups: Dict[str, List[int]]) -> Dict[str, Dict]:
    """L2 norm of ``grads`` (one per parameter, ``None`` where unused) over
    each group of parameter indices.

    Returns:
        dict: per group, ``norm`` (float; 0 where nothing reached) and
        ``reached`` (whether any parameter of the group got a gradient).
    """
    sq = [
        None if g is None else float(g.detach().double().pow(2).sum())
        for g in grads
    ]
    out = {}
    for name, idx in groups.items():
        vals = [sq[i] for i in idx if sq[i] is not None]
        out[name] = dict(norm=math.sqrt(sum(vals)), reached=bool(vals))
    return out


def loss_terms(losses: Dict) -> Dict[str, torch.Tensor]:
    """The entries of a loss dict that are tensors requiring grad (a list
    of such tensors, which MMEngine accepts, is summed), in order."""
    out = {}
    for key, value in losses.items():
        if isinstance(value, (list, tuple)) and value and all(
                isinstance(v, torch.Tensor) for v in value):
            value = sum(v.mean() for v in value)
        if isinstance(value, torch.Tensor) and value.requires_grad:
            out[key] = value.mean() if value.dim() else value
    return out


def weight_notes(model: torch.nn.Module) -> List[str]:
    """How the head weighs its terms (what the measured terms include)."""
    head = getattr(model, 'head', None)
    notes = []
    if head is None:
        return notes
    if hasattr(head, 'rle_weight'):
        notes.append(f'loss_rle = rle_weight x RLE-NLL, rle_weight '
                     f'{head.rle_weight:g}')
    if hasattr(head, 'lambda_dlm'):
        notes.append(f'loss_dlm = lambda_dlm x L_dlm, lambda_dlm '
                     f'{head.lambda_dlm:g}')
    scale = getattr(getattr(model, 'neck', None), 'backbone_grad_scale', 1)
    if scale != 1:
        notes.append(f'the neck scales the gradient it passes to the '
                     f'backbone by {scale:g} (backbone_grad_scale): the '
                     f'backbone column is weight x {scale:g} x the term, the '
                     f'neck and head columns weight x the term')
    mtl = getattr(head, 'multi_task_loss', None)
    if mtl is not None and hasattr(mtl, 'task_names'):
        scales = getattr(mtl, 'task_scales', None) or \
            (1.0, ) * len(mtl.task_names)
        parts = ', '.join(f'loss_{n} = w_{n} x {s:g} x L_{n}'
                          for n, s in zip(mtl.task_names, scales))
        notes.append(f'{type(mtl).__name__} (mode '
                     f'{getattr(mtl, "mode", "?")!r}): {parts}; w = DWA '
                     'weight (as applied, see dwa_w_*)')
    return notes


def _stats(values: Sequence[Optional[float]]) -> Dict:
    v = [x for x in values if x is not None]
    if not v:
        return dict(median=None, min=None, max=None, n=0)
    return dict(median=statistics.median(v), min=min(v), max=max(v), n=len(v))


def run_balance(config,
                batches: int = 3,
                batch_size: int = 16,
                width: Optional[int] = None,
                input_size: Optional[Sequence[int]] = None,
                num_stacks: int = 2,
                seed: int = 0,
                reference: Optional[str] = None,
                rescale: bool = True,
                cfg_options: Optional[Dict] = None,
                data_seed: int = 0,
                work_dir: Optional[str] = None,
                log: Callable = print) -> Dict:
    """Gradient norm of every loss term on the backbone, at initialisation.

    Args:
        config (str | Config): A top-down config (``configs/...`` of the
            plugin accepted, see :func:`~.common.load_config`).
        batches (int): Batches measured (N). Defaults to 3.
        batch_size (int): Samples per batch. Defaults to 16.
        width (int, optional): Shrink to this branch width; default: the
            config as is.
        input_size (Sequence[int], optional): Input (W, H); default: the
            config's.
        num_stacks (int): Hourglass stacks of a shrunk SADI-Net. Defaults
            to 2.
        seed (int): Seed of the model initialisation and of the
            augmentation. Defaults to 0.
        reference (str, optional): Term the ratios refer to; default: the
            first term (``loss_kpt``).
        rescale (bool): See :func:`balance_config`. Defaults to True.
        cfg_options (dict, optional): Overrides, merged last.
        data_seed (int): Seed of the generated data set. Defaults to 0.
        work_dir (str, optional): Where the data set is generated (a
            temporary folder by default).
        log (callable): Progress messages.

    Returns:
        dict: the settings, ``terms`` (per term: ``loss``, ``grad`` per
        group -- ``backbone``, ``neck``, ``head``, ``model`` -- and
        ``ratio``, each as median/min/max over batches, ``reached`` per
        group, ``per_batch`` lists), ``reference``, ``other`` (entries that
        are no terms, e.g. ``dwa_w_*``, ``acc_pose``: per-batch values),
        ``notes`` (how the head weighs its terms), ``rescaled``,
        ``params`` (per group), ``seconds``, ``loadavg``.
    """
    if batches < 1 or batch_size < 1:
        raise ValueError('batches and batch_size must be >= 1')
    tmp = None
    if work_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix='mmpose_ext_balance_')
        work_dir = tmp.name
    try:
        load_before = loadavg()
        t0 = time.perf_counter()
        fmt_ = dataset_format(load_config(config))
        root = generate_data(
            fmt_,
            osp.join(work_dir, f'data_{fmt_}'),
            num_train=max(4, batches * batch_size),
            num_val=1,
            seed=data_seed)
        cfg, rescaled = balance_config(
            config,
            width=width,
            input_size=input_size,
            num_stacks=num_stacks,
            rescale=rescale,
            data_root=root,
            cfg_options=cfg_options)
        w, h = input_size_of(cfg)
        log(f'building the model ({h}x{w} input'
            f'{f", width {width}" if width else ""}) ...')
        model = build_model(cfg, seed=seed)
        model.train()
        params = [p for p in model.parameters() if p.requires_grad]
        groups = param_groups(model)
        initial = copy.deepcopy(model.state_dict())
        data = make_batches(cfg, model, batches, batch_size, seed=seed)

        per_batch: List[Dict[str, Dict]] = []
        other: Dict[str, List] = {}
        for b, batch in enumerate(data):
            model.load_state_dict(initial)  # the initial state every batch
            losses = model(batch['inputs'], batch['data_samples'], mode='loss')
            terms = loss_terms(losses)
            if not terms:
                raise RuntimeError(f'{cfg.model.type}.loss returned no term '
                                   f'that requires grad: {sorted(losses)}')
            for key, value in losses.items():
                if key not in terms and isinstance(value, torch.Tensor) \
                        and value.numel() == 1:
                    other.setdefault(key, []).append(float(value))
            res: Dict[str, Dict] = {}
            total = [None] * len(params)
            keys = list(terms)
            for i, (key, term) in enumerate(terms.items()):
                grads = torch.autograd.grad(
                    term,
                    params,
                    retain_graph=i < len(keys) - 1,
                    allow_unused=True)
                res[key] = dict(
                    loss=float(term.detach()), **group_norms(grads, groups))
                if 'loss' in key:
                    total = [
                        t if g is None else
                        (g.detach().clone() if t is None else t.add_(g))
                        for t, g in zip(total, grads)
                    ]
                del grads
            in_total = [k for k in keys if 'loss' in k]
            res['total'] = dict(
                loss=sum(res[k]['loss'] for k in in_total),
                **group_norms(total, groups))
            del total, losses, terms
            per_batch.append(res)
            log(f'batch {b + 1}/{batches}: ' +
                ', '.join(f'{k} {v["loss"]:.4g} (backbone |g| '
                          f'{v["backbone"]["norm"]:.3g})'
                          for k, v in res.items()))

        names = list(dict.fromkeys(k for r in per_batch for k in r))
        names = [n for n in names if n != 'total'] + ['total']
        ref = reference or names[0]
        if ref not in names:
            raise KeyError(f'reference term {ref!r} not among the terms '
                           f'{names}')
        measured = [g for g in (*GROUPS, 'model') if g in groups]
        summary = {}
        for name in names:
            rows = [r.get(name) for r in per_batch]
            ratios = []
            for r in per_batch:
                if name not in r or ref not in r:
                    ratios.append(None)
                    continue
                den = r[ref]['backbone']['norm']
                ratios.append(r[name]['backbone']['norm'] /
                              den if den > 0 else None)
            summary[name] = dict(
                loss=_stats([x and x['loss'] for x in rows]),
                grad={
                    g: _stats([x and x[g]['norm'] for x in rows])
                    for g in measured
                },
                reached={
                    g: any(x and x[g]['reached'] for x in rows)
                    for g in measured
                },
                ratio=_stats(ratios),
                per_batch=dict(
                    loss=[x and x['loss'] for x in rows],
                    ratio=ratios,
                    **{
                        g: [x and x[g]['norm'] for x in rows]
                        for g in measured
                    }),
                n=sum(x is not None for x in rows),
                in_total=name == 'total' or 'loss' in name)
        return dict(
            kind='grad-balance',
            config=config if isinstance(config, str) else '<Config>',
            model=cfg.model.type,
            backbone=cfg.model.backbone.type,
            head=cfg.model.head.type,
            batches=batches,
            batch_size=batch_size,
            width=width,
            input_size=(w, h),
            num_stacks=num_stacks if width else None,
            seed=seed,
            data_seed=data_seed,
            cfg_options=dict(cfg_options or {}),
            rescaled=rescaled,
            reference=ref,
            groups=measured,
            params={
                g: sum(params[i].numel() for i in groups[g])
                for g in measured
            },
            terms=summary,
            other=other,
            notes=weight_notes(model),
            threads=torch.get_num_threads(),
            seconds=time.perf_counter() - t0,
            loadavg=dict(before=load_before, after=loadavg()))
    finally:
        if tmp is not None:
            tmp.cleanup()


def _short(v):
    if isinstance(v, (list, tuple)):
        return '(' + ', '.join(_short(x) for x in v) + ')'
    return f'{v:.4g}' if isinstance(v, float) else str(v)


def format_balance(res: Dict) -> str:
    """Markdown table of :func:`run_balance`'s result: per term its loss
    and gradient norms (median over batches; min - max in brackets where
    more than one batch) and the ratio of its backbone norm to the
    reference term's."""
    ref = res['reference']
    many = res['batches'] > 1

    def cell(s, spec='.3g'):
        if s['median'] is None:
            return '-'
        out = fmt(s['median'], spec)
        if many and s['n'] > 1:
            out += f' ({fmt(s["min"], spec)} - {fmt(s["max"], spec)})'
        return out

    groups = res['groups']
    headers = ['term', 'loss', 'backbone grad norm', f'ratio to {ref}']
    headers += [f'{g} grad norm' for g in groups if g != 'backbone']
    rows = []
    for name, t in res['terms'].items():

        def norm(g):
            if not t['reached'][g]:
                return '0 (not reached)'
            return cell(t['grad'][g])

        rows.append([
            f'**{name}**' if name == 'total' else name,
            cell(t['loss'], '.4g'),
            norm('backbone'),
            cell(t['ratio'])
        ] + [norm(g) for g in groups if g != 'backbone'])
    w, h = res['input_size']
    settings = [
        f'{res["config"]} ({res["model"]}: {res["backbone"]} + '
        f'{res["head"]}), input {h}x{w}' +
        (f', width {res["width"]}' if res['width'] else ', full width') +
        f', batch {res["batch_size"]}, {res["batches"]} batch(es), seed '
        f'{res["seed"]}, data seed {res["data_seed"]}' +
        (f'; cfg-options {res["cfg_options"]}' if res['cfg_options'] else '')
    ]
    if res.get('rescaled'):
        settings.append(
            'rescaled with the heatmap size (as the learn benchmark): ' +
            ', '.join(f'{k} {_short(v)}' for k, v in res['rescaled'].items()))
    settings.append(
        'untrained model (seeded init, no pretrained weights), train mode, '
        'initial state restored before every batch; a term = an entry of '
        'model.loss() that requires grad, with its weight applied as the '
        "head applies it; grad norm = L2 norm of d term / d params over the "
        'group (parameters: ' + ', '.join(f'{g} {res["params"][g] / 1e6:.3g}M'
                                          for g in groups) +
        '); ratio = backbone norm / '
        f'{ref}\'s on the same batch; median (min - max) over batches; '
        'total = sum of the loss* terms')
    settings += res.get('notes', [])
    dwa = {k: v for k, v in res.get('other', {}).items() if 'dwa' in k}
    if dwa:
        settings.append('DWA weights applied: ' +
                        ', '.join(f'{k} {sorted(set(round(x, 6) for x in v))}'
                                  for k, v in dwa.items()))
    settings.append(f'{res["seconds"]:.0f} s, {res["threads"]} threads; '
                    f'load average {res["loadavg"]["before"]} -> '
                    f'{res["loadavg"]["after"]}')
    return md_table(headers, rows) + '\n\n' + '\n'.join(f'- {n}'
                                                        for n in settings)
