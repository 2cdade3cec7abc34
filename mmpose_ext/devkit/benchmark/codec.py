# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Encode / decode time per instance of codecs, interleaved.

Default: the plugin's :class:`DiskSegHeatmap` (heatmaps + disk mask) against
MMPose's :class:`MSRAHeatmap` (heatmaps only) at 256x192 -> 64x48, K=17,
sigma 2, one instance per call (what ``GenerateTarget`` does per top-down
sample). The instances are random (fixed seed) with the mix a top-down crop
sees: most keypoints inside the crop, about 10% outside it and about 20% not
labelled. Decoding runs on each codec's own encoded heatmaps plus a little
noise (both codecs decode with ``MSRAHeatmap.decode``).
"""
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
from mmpose.registry import KEYPOINT_CODECS

import mmpose_ext  # noqa: F401  (registers the plugin's codecs)
from .common import Timer, fmt, loadavg, md_table, paired_ratios, summarize

DEFAULT_CODECS = (
    ('MSRAHeatmap',
     dict(
         type='MSRAHeatmap',
         input_size=(192, 256),
         heatmap_size=(48, 64),
         sigma=2)),
    ('DiskSegHeatmap',
     dict(
         type='DiskSegHeatmap',
         input_size=(192, 256),
         heatmap_size=(48, 64),
         sigma=2,
         disk_radius=5)),
)


def random_instances(num: int,
                     input_size: Sequence[int],
                     num_keypoints: int,
                     seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """``num`` single-instance keypoint sets (num, 1, K, 2) and visibilities
    (num, 1, K): ~70% inside the crop and visible, ~10% outside the crop,
    ~20% unlabelled."""
    rng = np.random.default_rng(seed)
    w, h = input_size
    kpts = rng.uniform((0.05 * w, 0.05 * h), (0.95 * w, 0.95 * h),
                       (num, 1, num_keypoints, 2))
    outside = rng.random((num, 1, num_keypoints)) < 0.1
    kpts[outside] += rng.choice([-1.0, 1.0], (outside.sum(), 2)) * (w + h)
    vis = (rng.random((num, 1, num_keypoints)) > 0.2).astype(np.float32)
    return kpts.astype(np.float32), vis


def run_codec(codecs: Sequence[Tuple[str, Dict]] = DEFAULT_CODECS,
              num_instances: int = 200,
              repeats: int = 10,
              warmup: int = 1,
              num_keypoints: int = 17,
              seed: int = 0) -> Dict:
    """Time ``encode`` and ``decode`` per instance, interleaved.

    Args:
        codecs (list): ``(name, codec config)``; the first is the reference.
        num_instances (int): Instances per timed pass. Defaults to 200.
        repeats (int): Timed passes. Defaults to 10.
        warmup (int): Untimed passes first. Defaults to 1.
        num_keypoints (int): K. Defaults to 17.
        seed (int): Seed of the instances.

    Returns:
        dict: ``rows`` with per-codec ``encode``/``decode`` stats (seconds
        per instance) and ratios to the first codec.
    """
    built = [(name, KEYPOINT_CODECS.build(dict(cfg))) for name, cfg in codecs]
    sizes = {tuple(c.input_size) for _, c in built}
    if len(sizes) != 1:
        raise ValueError(f'codecs must share input_size, got {sizes}')
    kpts, vis = random_instances(num_instances, sizes.pop(), num_keypoints,
                                 seed)
    rng = np.random.default_rng(seed + 1)
    heatmaps = {}
    for name, codec in built:
        hm = [codec.encode(k, v)['heatmaps'] for k, v in zip(kpts, vis)]
        heatmaps[name] = [
            h + 0.01 * rng.random(h.shape, dtype=np.float32) for h in hm
        ]
    times = {name: dict(encode=[], decode=[]) for name, _ in built}
    load_before = loadavg()
    for r in range(warmup + repeats):
        # interleaved, every other pass in reverse order
        for name, codec in (built if r % 2 == 0 else built[::-1]):
            with Timer() as t:
                for k, v in zip(kpts, vis):
                    codec.encode(k, v)
            enc = t.seconds / num_instances
            with Timer() as t:
                for hm in heatmaps[name]:
                    codec.decode(hm)
            dec = t.seconds / num_instances
            if r >= warmup:
                times[name]['encode'].append(enc)
                times[name]['decode'].append(dec)
    ref = built[0][0]
    rows = []
    for name, codec in built:
        row = dict(name=name, config=dict(codecs)[name])
        for what in ('encode', 'decode'):
            row[what] = summarize(times[name][what])
            row[f'{what}_ratio'] = paired_ratios(times[name][what],
                                                 times[ref][what])
        rows.append(row)
    return dict(
        kind='codec',
        num_instances=num_instances,
        num_keypoints=num_keypoints,
        repeats=repeats,
        loadavg=dict(before=load_before, after=loadavg()),
        rows=rows)


def format_codec(res: Dict) -> str:
    headers = [
        'codec', 'encode us/inst min / med', 'encode ratio min / med',
        'decode us/inst min / med', 'decode ratio min / med'
    ]
    rows = []
    for r in res['rows']:
        line = [r['name']]
        for what in ('encode', 'decode'):
            s, q = r[what], r[f'{what}_ratio']
            line += [
                f'{fmt(1e6 * s["min"], ".1f")} / '
                f'{fmt(1e6 * s["median"], ".1f")}',
                f'{fmt(q["min"], ".2f")} / {fmt(q["median"], ".2f")}'
            ]
        rows.append(line)
    cfg = res['rows'][0]['config']
    note = (f'- K={res["num_keypoints"]}, input {tuple(cfg["input_size"])} '
            f'-> heatmap {tuple(cfg["heatmap_size"])} (w, h), one instance '
            f'per call, {res["num_instances"]} instances x '
            f'{res["repeats"]} interleaved passes; load average '
            f'{res["loadavg"]["before"]} -> {res["loadavg"]["after"]}')
    return md_table(headers, rows) + '\n\n' + note


def codec_pair(input_size: Optional[Sequence[int]] = None,
               heatmap_size: Optional[Sequence[int]] = None,
               disk_radius: float = 5,
               sigma: float = 2) -> Tuple:
    """The default pair at another size."""
    if input_size is None:
        return DEFAULT_CODECS
    out = []
    for name, cfg in DEFAULT_CODECS:
        cfg = dict(
            cfg,
            input_size=tuple(input_size),
            heatmap_size=tuple(heatmap_size),
            sigma=sigma)
        if 'disk_radius' in cfg:
            cfg['disk_radius'] = disk_radius
        out.append((name, cfg))
    return tuple(out)
