# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Tiny, deterministic SG-HRNet configs for the reliability tests.

``configs/sg_hrnet_w32_coco.py`` (the real config, with its DWA loss and the
plugin's reliability pieces) shrunk for CPU: width-4 SGHRNet, 64x64 inputs,
16x16 heatmaps, no pretrained weights, no random augmentation (the tests
compare runs bit for bit), no validation.
"""
import os
import os.path as osp
import subprocess

from mmengine.config import Config

from mmpose_ext.devkit.testing import (coco_data_overrides,
                                       cpu_runtime_overrides,
                                       tiny_hrnet_overrides)

SG_CONFIG = 'configs/sg_hrnet_w32_coco.py'
INPUT_SIZE, HEATMAP_SIZE = (64, 64), (16, 16)


def tiny_sg_hrnet_cfg(repo_root,
                      data_root,
                      work_dir,
                      max_epochs=1,
                      batch_size=2,
                      ckpt_interval=2,
                      custom_hooks=(),
                      robust_data=False):
    """A dumpable :class:`Config` for a tiny deterministic SG-HRNet run.

    Iteration checkpoints every ``ckpt_interval`` iterations through
    ``AtomicCheckpointHook``, the mid-epoch resumable loop, and (with
    ``robust_data``) the ``SkipBadSamples`` wrapper + ``BadSampleHook``.
    """
    cfg = Config.fromfile(osp.join(repo_root, SG_CONFIG))
    cfg.merge_from_dict({
        **coco_data_overrides(data_root),
        **cpu_runtime_overrides(batch_size=batch_size, max_epochs=max_epochs),
        **tiny_hrnet_overrides(width=4),
        'model.head.decoder.input_size':
        INPUT_SIZE,
        'model.head.decoder.heatmap_size':
        HEATMAP_SIZE,
    })
    codec = cfg.model.head.decoder
    cfg.train_dataloader.dataset.pipeline = [
        dict(type='LoadImage'),
        dict(type='GetBBoxCenterScale'),
        dict(type='TopdownAffine', input_size=codec.input_size),
        dict(type='GenerateTarget', encoder=codec),
        dict(type='PackPoseInputs'),
    ]
    for split in ('val_dataloader', 'test_dataloader'):
        for t in cfg[split].dataset.pipeline:
            if t.type == 'TopdownAffine':
                t.input_size = codec.input_size
    if robust_data:
        cfg.train_dataloader.dataset.type = 'SkipBadSamples'
        cfg.train_dataloader.dataset.dataset_type = 'CocoDataset'
    cfg.train_cfg = dict(
        type='ResumableEpochBasedTrainLoop',
        max_epochs=max_epochs,
        val_begin=max_epochs + 1)  # no validation
    cfg.default_hooks.checkpoint = dict(
        type='AtomicCheckpointHook',
        interval=ckpt_interval,
        by_epoch=False,
        save_best=None)
    cfg.default_hooks.logger.interval = 1
    # keep the config's own hooks (SyncBuffersHook, BadSampleHook,
    # NonFiniteLossHook) as a real run would; a hook given here replaces the
    # config's hook of the same type instead of running twice
    extra = list(custom_hooks) + ([dict(
        type='BadSampleHook')] if robust_data else [])
    extra_types = {h['type'] for h in extra}
    cfg.custom_hooks = [
        h for h in cfg.get('custom_hooks', []) if h['type'] not in extra_types
    ] + extra
    cfg.randomness = dict(seed=0, deterministic=True)
    cfg.custom_imports = dict(
        imports=['mmpose_ext', 'mmpose_ext.devkit.testing.faults'],
        allow_failed_imports=False)
    cfg.work_dir = str(work_dir)
    return cfg


def dump_cfg(cfg, path):
    cfg.dump(str(path))
    return str(path)


def subprocess_env(repo_root, threads=1):
    env = dict(os.environ)
    env['PYTHONPATH'] = repo_root + os.pathsep + env.get('PYTHONPATH', '')
    env['OMP_NUM_THREADS'] = str(threads)
    env['PYTHONWARNINGS'] = 'ignore'
    return env


def run_cmd(cmd, cwd, env, timeout=300):
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f'{" ".join(cmd)} failed:\n{out[-5000:]}'
    return out
