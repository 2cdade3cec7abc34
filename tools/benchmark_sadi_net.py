# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Speed of SADI-Net against MMPose's HourglassNet and HRNet-W32.

All models are built in ONE process and timed interleaved on the same
inputs (fp32, CPU unless --device): forward (``mode='tensor'``, no flip, one
scale) and a training step (``mode='loss'`` + backward + Adam step). It
prints per-model min/median times, ratios to SADI-Net, FLOPs per image
(MMEngine's FlopAnalyzer, every operator) and achieved GFLOP/s, and the
DLM head's time split (regression, rendering H_dlm, losses) for each render
mode.

    python tools/benchmark_sadi_net.py [--batch 4] [--repeats 5] [--size 256]
        [--hourglass-channels 256 128 192 256 384] [--threads 2]

The Hourglass is MMPose's ``HourglassNet`` (1 stack, CornerNet style) +
``CPMHead``, narrowed (one block per layer, depth 4, the given channels per
scale, feat_channel = the second entry) to a FLOP count close to SADI-Net's:
its stem always ends with 256 channels at 1/4 resolution, which puts its
floor near 12 GFLOPs at 256x256. MMPose's hourglass52 is
``--hourglass-channels 256 256 384 384 384 512 --hourglass-blocks 2 2 2 2 2 4``
(28.7 GFLOPs).
"""
import argparse
import os.path as osp
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import mmpose_ext  # noqa: E402,F401

SADI_CONFIG = 'configs/sadi_net_mpii.py'


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--batch', type=int, default=4)
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--size', type=int, default=256)
    p.add_argument('--threads', type=int, default=None)
    p.add_argument('--device', default='cpu')
    p.add_argument('--no-train', action='store_true')
    p.add_argument('--head-only', action='store_true',
                   help='only the DLM head time split')
    p.add_argument('--head-batches', type=int, nargs='+', default=[2, 32])
    p.add_argument(
        '--hourglass-channels',
        type=int,
        nargs='+',
        default=(256, 128, 192, 256, 384))
    p.add_argument('--hourglass-blocks', type=int, nargs='+', default=None)
    return p.parse_args()


def build_models(size: int, hg_channels, hg_blocks=None):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpose.registry import MODELS
    init_default_scope('mmpose')
    root = osp.dirname(osp.dirname(osp.abspath(__file__)))
    cfg = Config.fromfile(osp.join(root, SADI_CONFIG))
    k = 16
    hm = size // 4
    codec = dict(type='MSRAHeatmap', input_size=(size, size),
                 heatmap_size=(hm, hm), sigma=2)
    pre = cfg.model.data_preprocessor
    sadi_cfg = cfg.model.to_dict()
    sadi_cfg['head']['decoder'] = codec
    sadi_cfg['test_cfg'] = dict(flip_test=False)
    models = {'SADI-Net': sadi_cfg}
    models['HourglassNet'] = dict(
        type='TopdownPoseEstimator',
        data_preprocessor=pre,
        backbone=dict(type='HourglassNet', num_stacks=1,
                      downsample_times=len(hg_channels) - 1,
                      stage_channels=tuple(hg_channels),
                      stage_blocks=tuple(hg_blocks or (1, ) *
                                         len(hg_channels)),
                      feat_channel=hg_channels[1]),
        head=dict(type='CPMHead', in_channels=hg_channels[1],
                  out_channels=k, num_stages=1, deconv_out_channels=None,
                  decoder=codec),
        test_cfg=dict(flip_test=False))
    w32 = dict(
        stage1=dict(num_modules=1, num_branches=1, block='BOTTLENECK',
                    num_blocks=(4, ), num_channels=(64, )),
        stage2=dict(num_modules=1, num_branches=2, block='BASIC',
                    num_blocks=(4, 4), num_channels=(32, 64)),
        stage3=dict(num_modules=4, num_branches=3, block='BASIC',
                    num_blocks=(4, 4, 4), num_channels=(32, 64, 128)),
        stage4=dict(num_modules=3, num_branches=4, block='BASIC',
                    num_blocks=(4, 4, 4, 4),
                    num_channels=(32, 64, 128, 256)))
    models['HRNet-W32'] = dict(
        type='TopdownPoseEstimator',
        data_preprocessor=pre,
        backbone=dict(type='HRNet', extra=w32),
        head=dict(type='HeatmapHead', in_channels=32, out_channels=k,
                  deconv_out_channels=None, decoder=codec),
        test_cfg=dict(flip_test=False))
    built = {}
    for name, mcfg in models.items():
        torch.manual_seed(0)
        model = MODELS.build(mcfg)
        model.init_weights()
        built[name] = model
    return built, codec


def flops_of(model, size, full=False):
    """FLOPs of one crop: ``mode='tensor'`` (what heatmap prediction runs),
    or with ``full`` the backbone + neck + DLM regression (training, and
    prediction from the DLM)."""
    from mmengine.analysis import FlopAnalyzer
    model.eval()
    x = torch.randn(1, 3, size, size)

    class _Wrap(torch.nn.Module):

        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            if not full:
                return self.m(x, None, mode='tensor')
            feats = self.m.extract_feat(x)
            mu, sigma = self.m.head.regress(feats)
            return feats[0][-1], mu, sigma

    with torch.no_grad():
        fa = FlopAnalyzer(_Wrap(model), (x, ))
        fa.unsupported_ops_warnings(False)
        fa.uncalled_modules_warnings(False)
        return fa.total()


def make_samples(batch, size, k=16, seed=0):
    from mmengine.structures import InstanceData, PixelData
    from mmpose.codecs import IntegralRegressionLabel
    from mmpose.structures import PoseDataSample
    rng = np.random.default_rng(seed)
    hm = size // 4
    codec = IntegralRegressionLabel(
        input_size=(size, size), heatmap_size=(hm, hm), sigma=2,
        normalize=False)
    samples = []
    for _ in range(batch):
        kpts = rng.uniform(size * 0.1, size * 0.9, (1, k, 2)).astype(
            np.float32)
        enc = codec.encode(kpts, np.ones((1, k), np.float32))
        ds = PoseDataSample(metainfo=dict(input_size=(size, size)))
        ds.gt_fields = PixelData(heatmaps=torch.from_numpy(enc['heatmaps']))
        ds.gt_instance_labels = InstanceData(
            keypoint_labels=torch.from_numpy(enc['keypoint_labels']),
            keypoint_weights=torch.from_numpy(enc['keypoint_weights']))
        samples.append(ds)
    return samples


def timed(fn, device):
    if device != 'cpu':
        torch.cuda.synchronize()
    t = time.perf_counter()
    fn()
    if device != 'cpu':
        torch.cuda.synchronize()
    return time.perf_counter() - t


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    models, _ = build_models(args.size, args.hourglass_channels,
                             args.hourglass_blocks)
    if args.head_only:
        for batch in args.head_batches:
            head_split(models['SADI-Net'].head, args, batch, args.size)
        return
    flops = {n: flops_of(m, args.size) for n, m in models.items()}
    sadi_full = flops_of(models['SADI-Net'], args.size, full=True)
    params = {n: sum(p.numel() for p in m.parameters())
              for n, m in models.items()}
    dev = args.device
    x = torch.randn(args.batch, 3, args.size, args.size, device=dev)
    samples = [s.to(dev) for s in make_samples(args.batch, args.size)]
    optims = {}
    for n, m in models.items():
        m.to(dev)
        optims[n] = torch.optim.Adam(m.parameters(), lr=1e-4)

    def forward(n):
        """Inference features + heatmaps, as ``predict`` computes them
        (for SADI-Net: the backbone only, the SFM is skipped when predicting
        from H_rfm), no flip, one scale, no decoding."""
        m = models[n].eval()
        with torch.no_grad():
            if hasattr(m, '_test_feat'):
                m.head.forward(m._test_feat(x))
            else:
                m(x, None, mode='tensor')

    def train_step(n):
        m = models[n].train()
        optims[n].zero_grad()
        losses = m(x, samples, mode='loss')
        sum(v for k, v in losses.items() if 'loss' in k).backward()
        optims[n].step()

    fwd = {n: [] for n in models}
    trn = {n: [] for n in models}
    for r in range(args.warmup + args.repeats):
        for n in models:  # interleaved
            tf = timed(lambda: forward(n), dev)
            tt = None if args.no_train else timed(lambda: train_step(n), dev)
            if r >= args.warmup:
                fwd[n].append(tf)
                if tt is not None:
                    trn[n].append(tt)

    print(f'device={dev} threads={torch.get_num_threads()} '
          f'batch={args.batch} input={args.size}x{args.size} '
          f'repeats={args.repeats} (interleaved, one process)')
    print('GFLOPs: inference (heatmap prediction); the training step of '
          'SADI-Net also runs the SFM + DLM (see below)')
    print(f'{"model":14s} {"params(M)":>9s} {"GFLOPs":>7s} '
          f'{"fwd ms/img min|med":>19s} {"ratio":>6s} {"GFLOP/s":>8s} '
          f'{"train ms/img min|med":>21s} {"ratio":>6s}')
    ref_f = statistics.median(fwd['SADI-Net'])
    ref_t = statistics.median(trn['SADI-Net']) if trn['SADI-Net'] else None
    for n in models:
        f_min, f_med = min(fwd[n]), statistics.median(fwd[n])
        f_ms = f'{1e3 * f_min / args.batch:.1f}|{1e3 * f_med / args.batch:.1f}'
        rate = flops[n] * args.batch / f_min / 1e9
        line = (f'{n:14s} {params[n] / 1e6:9.2f} {flops[n] / 1e9:7.2f} '
                f'{f_ms:>19s} {f_med / ref_f:6.2f} {rate:8.1f}')
        if trn[n]:
            t_min, t_med = min(trn[n]), statistics.median(trn[n])
            t_ms = (f'{1e3 * t_min / args.batch:.1f}|'
                    f'{1e3 * t_med / args.batch:.1f}')
            line += f' {t_ms:>21s} {t_med / ref_t:6.2f}'
        print(line)
    print(f'SADI-Net GFLOPs: {flops["SADI-Net"] / 1e9:.2f} for heatmap '
          f'prediction (backbone; the SFM is skipped at test time), '
          f'{sadi_full / 1e9:.2f} with SFM + DLM regression (training, '
          'DLM predictions)')
    for batch in args.head_batches:
        head_split(models['SADI-Net'].head, args, batch, args.size)


def head_split(head, args, batch, size=256, num_stacks=2):
    """Time the DLM head's parts (forward + backward each) on random
    features of the right shapes: ``batch`` x 16 keypoints, heatmaps of
    size/4, mu anywhere in the crop and sigma around its initial 0.05 (the
    value a trained model needs for sigma=2 px targets is ~0.045)."""
    head.train()
    k, hm = 16, size // 4
    samples = make_samples(batch, size, k)
    heatmaps = tuple(
        torch.rand(batch, k, hm, hm, requires_grad=True)
        for _ in range(num_stacks))
    pooled = torch.randn(batch, head.in_channels, requires_grad=True)
    feats = (heatmaps, pooled)
    with torch.no_grad():  # mu spread over the crop, sigma ~ 0.05
        head.fc.weight.normal_(std=1e-3)
        head.fc.bias.view(k, 4)[:, :2].uniform_(0.1, 0.9)
    gt = torch.stack([d.gt_fields.heatmaps for d in samples])
    kw = torch.cat([d.gt_instance_labels.keypoint_weights for d in samples])
    print(f'\nDLM head split, batch {batch} (mode=loss forward + backward, '
          f'ms min|median of {args.repeats}); H_dlm has {batch}x{k}x{hm}x'
          f'{hm} = {batch * k * hm * hm} points; DLM = render H_dlm + L_dlm')
    configs = [('lattice', True), ('lattice', False), ('gaussian', True),
               ('gaussian', False)]
    if batch <= 2:
        configs.append(('exact', False))
    for mode, window in configs:
        head.render_mode, head.render_window = mode, window
        parts = {n: [] for n in ('L_rfm', 'regress', 'DLM', 'head.loss')}
        reps = args.warmup + (1 if mode == 'exact' else args.repeats)
        for r in range(reps):
            t0 = time.perf_counter()
            sum(head.loss_module(h, gt, kw) for h in heatmaps).backward()
            t1 = time.perf_counter()
            mu, sigma = head.regress(feats)
            mu_d = mu.detach().requires_grad_()
            sigma_d = sigma.detach().requires_grad_()
            t2 = time.perf_counter()
            head.dlm_loss(mu_d, sigma_d, gt, kw).backward()
            t3 = time.perf_counter()
            torch.autograd.backward([mu, sigma], [mu_d.grad, sigma_d.grad])
            t4 = time.perf_counter()
            head.zero_grad()
            losses = head.loss(feats, samples)
            sum(v for n, v in losses.items() if 'loss' in n).backward()
            t5 = time.perf_counter()
            head.zero_grad()
            if r >= args.warmup or mode == 'exact':
                parts['L_rfm'].append(t1 - t0)
                parts['regress'].append((t2 - t1) + (t4 - t3))
                parts['DLM'].append(t3 - t2)
                parts['head.loss'].append(t5 - t4)
        mins = {n: 1e3 * min(v) for n, v in parts.items()}
        meds = {n: 1e3 * statistics.median(v) for n, v in parts.items()}
        order = ('L_rfm', 'regress', 'DLM')
        share = 100 * meds['DLM'] / sum(meds[n] for n in order)
        print(f'  {mode:8s} window={str(window):5s} ' + '  '.join(
            f'{n} {mins[n]:.1f}|{meds[n]:.1f}' for n in order) +
              f'  -> DLM {share:4.1f}% of the head;'
              f' head.loss()+backward {mins["head.loss"]:.1f}|'
              f'{meds["head.loss"]:.1f}')
    head.render_mode, head.render_window = 'lattice', True


if __name__ == '__main__':
    main()
