# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Where the time of SADI-Net's DLM head goes, per renderer.

The head of a config is built and fed random features of the right shapes
(``batch`` crops, its keypoints, the codec's heatmap size, mu spread over the
crop, sigma around its initial value). Each part is timed forward +
backward, interleaved round-robin over the renderers on the same inputs:

* ``L_rfm``: the heatmap MSE of every stack;
* ``regress``: the fc layer to (mu, sigma) and back;
* ``RLE``: the likelihood (flow on B*K points);
* ``L_dlm``: rendering H_dlm and its windowed MSE;
* ``head``: ``head.loss`` + backward as training runs it.

The model-level comparison (SADI-Net against MMPose's HourglassNet) is
``tools/benchmark.py speed`` (see its docstring for the configs).
"""
import copy
from typing import Dict, List, Sequence

import numpy as np
import torch
from mmengine.structures import InstanceData, PixelData
from mmpose.codecs import IntegralRegressionLabel
from mmpose.registry import MODELS
from mmpose.structures import PoseDataSample

from mmpose_ext.models.necks.sfm import SFMOutput
from .common import Timer, fmt, load_config, md_table, summarize

#: renderers compared, as ``renderer`` dicts of the head
RENDERERS = {
    'lattice': dict(type='FlowLatticeRenderer'),
    'lattice, no window': dict(type='FlowLatticeRenderer', window=False),
    'base density': dict(type='BaseDensityRenderer'),
    'exact flow': dict(type='FlowExactRenderer'),
}
PARTS = ('L_rfm', 'regress', 'RLE', 'L_dlm', 'head')


def _samples(batch: int,
             codec: dict,
             k: int,
             seed: int = 0) -> List[PoseDataSample]:
    rng = np.random.default_rng(seed)
    enc = IntegralRegressionLabel(
        input_size=codec['input_size'],
        heatmap_size=codec['heatmap_size'],
        sigma=codec.get('sigma', 2),
        normalize=False)
    w, h = codec['input_size']
    samples = []
    for _ in range(batch):
        kpts = rng.uniform(0.1, 0.9, (1, k, 2)) * np.array([w, h])
        out = enc.encode(kpts.astype(np.float32), np.ones((1, k), np.float32))
        ds = PoseDataSample(metainfo=dict(input_size=(w, h)))
        ds.gt_fields = PixelData(heatmaps=torch.from_numpy(out['heatmaps']))
        ds.gt_instance_labels = InstanceData(
            keypoint_labels=torch.from_numpy(out['keypoint_labels']),
            keypoint_weights=torch.from_numpy(out['keypoint_weights']))
        samples.append(ds)
    return samples


def run_dlm(config,
            batch_size: int = 32,
            repeats: int = 10,
            warmup: int = 2,
            num_stacks: int = 2,
            renderers: Sequence[str] = tuple(RENDERERS),
            seed: int = 0) -> Dict:
    """Time the parts of the DLM head of ``config`` for every renderer.

    Args:
        config (str | Config): A SADI-Net config (its ``model.head``).
        batch_size (int): Crops per call. Defaults to 32.
        repeats (int): Timed rounds. Defaults to 10.
        warmup (int): Untimed rounds first. Defaults to 2.
        num_stacks (int): Stacks of H_rfm fed to the head. Defaults to 2.
        renderers (Sequence[str]): Keys of :data:`RENDERERS`.
        seed (int): Seed of the inputs. Defaults to 0.

    Returns:
        dict: per renderer, per part, timing statistics (seconds), and the
        settings.
    """
    cfg = load_config(config)
    head_cfg = copy.deepcopy(cfg.model.head)
    codec = dict(head_cfg.decoder)
    k = head_cfg.num_keypoints
    wh, hh = codec['heatmap_size']
    torch.manual_seed(seed)
    heads = {}
    for name in renderers:
        head = MODELS.build(dict(head_cfg, renderer=RENDERERS[name]))
        head.init_weights()
        with torch.no_grad():  # mu spread over the crop
            head.fc.weight.normal_(std=1e-3)
            head.fc.bias.view(k, 4)[:, :2].uniform_(0.1, 0.9)
        heads[name] = head.train()
    samples = _samples(batch_size, codec, k, seed)
    gt = torch.stack([d.gt_fields.heatmaps for d in samples])
    weights = torch.cat(
        [d.gt_instance_labels.keypoint_weights for d in samples])
    labels = torch.cat([d.gt_instance_labels.keypoint_labels for d in samples])
    g = torch.Generator().manual_seed(seed)
    heatmaps = tuple(
        torch.rand(batch_size, k, hh, wh, generator=g).requires_grad_()
        for _ in range(num_stacks))
    pooled = torch.randn(
        batch_size, head_cfg.in_channels, generator=g).requires_grad_()
    feats = SFMOutput(heatmaps, pooled)
    times = {n: {p: [] for p in PARTS} for n in renderers}

    def timed(fn):
        with Timer() as t:
            fn()
        return t.seconds

    for r in range(warmup + repeats):
        for name, head in heads.items():
            mu, raw = head._regress_raw(feats)
            mu_d = mu.detach().requires_grad_()
            raw_d = raw.detach().requires_grad_()
            sigma_d = raw_d.sigmoid()
            parts = dict(
                L_rfm=timed(lambda: sum(
                    head.loss_module(h, gt, weights)
                    for h in heatmaps).backward()),
                regress=timed(lambda: torch.autograd.backward(
                    list(head._regress_raw(feats)),
                    [torch.ones_like(mu),
                     torch.ones_like(raw)])),
                RLE=timed(lambda: head.loss_rle(
                    mu_d, raw_d, labels, weights.unsqueeze(-1)).backward()),
                L_dlm=timed(lambda: head.dlm_loss(mu_d, sigma_d.detach(), gt,
                                                  weights).backward()),
                head=timed(
                    lambda: sum(v for n, v in head.loss(feats, samples).items(
                    ) if n.startswith('loss')).backward()))
            head.zero_grad()
            if r >= warmup:
                for p, t in parts.items():
                    times[name][p].append(t)
    return dict(
        kind='dlm',
        config=str(config),
        batch_size=batch_size,
        num_keypoints=k,
        heatmap_size=(hh, wh),
        repeats=repeats,
        renderers={
            n: {
                p: summarize(v)
                for p, v in t.items()
            }
            for n, t in times.items()
        })


def format_dlm(res: Dict) -> str:
    headers = ['renderer'] + [f'{p} ms (min / med)' for p in PARTS] + \
        ['L_dlm share of the head']
    rows = []
    for name, parts in res['renderers'].items():
        share = parts['L_dlm']['median'] / parts['head']['median']
        rows.append([name] + [
            f'{fmt(1e3 * parts[p]["min"], ".1f")} / '
            f'{fmt(1e3 * parts[p]["median"], ".1f")}' for p in PARTS
        ] + [f'{100 * share:.0f}%'])
    h, w = res['heatmap_size']
    note = (f'DLM head of {res["config"]}: batch {res["batch_size"]} x '
            f'{res["num_keypoints"]} keypoints, {h}x{w} heatmaps, forward + '
            f'backward of each part, {res["repeats"]} interleaved rounds')
    return md_table(headers, rows) + '\n\n- ' + note
