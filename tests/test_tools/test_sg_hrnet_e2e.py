# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""SG-HRNet end to end: ``mim train mmpose configs/sg_hrnet_w32_coco.py``
for two iterations on generated COCO-format data, then ``tools/test.py``
evaluates the checkpoint with CocoMetric on the detection boxes.

Small shapes through ``--cfg-options`` only: width-4 HRNet, 64x64 input,
16x16 heatmaps, batch 2, no pretrained weights.
"""
import math
import os.path as osp
import subprocess
import sys

import pytest
import torch

from mmpose_ext.devkit.testing import (coco_data_overrides,
                                       cpu_runtime_overrides,
                                       tiny_hrnet_overrides, to_cfg_options)

pytestmark = pytest.mark.slow

CONFIG = 'configs/sg_hrnet_w32_coco.py'


def _small_overrides(data_root):
    size, hm = (64, 64), (16, 16)
    return {
        **coco_data_overrides(data_root),
        **cpu_runtime_overrides(batch_size=2, max_epochs=1, max_iters=2),
        # HRNet's own init through the configs' opt-in (a missing file)
        **tiny_hrnet_overrides(width=4, cli=True),
        'train_cfg.val_interval': 2,  # tools/test.py evaluates instead
        'model.head.decoder.input_size': size,
        'model.head.decoder.heatmap_size': hm,
        # train: 5 = TopdownAffine, 6 = GenerateTarget; val/test: 2
        'train_dataloader.dataset.pipeline.5.input_size': size,
        'train_dataloader.dataset.pipeline.6.encoder.input_size': size,
        'train_dataloader.dataset.pipeline.6.encoder.heatmap_size': hm,
        'val_dataloader.dataset.pipeline.2.input_size': size,
        'test_dataloader.dataset.pipeline.2.input_size': size,
    }


def _run(cmd, cwd):
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f'{" ".join(cmd)} failed:\n{out[-4000:]}'
    return out


@pytest.fixture(scope='module')
def trained(repo_root, synthetic_coco, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('sg_hrnet_mim')
    opts = to_cfg_options(_small_overrides(synthetic_coco))
    mim = osp.join(osp.dirname(sys.executable), 'mim')
    out = _run([
        mim, 'train', 'mmpose', CONFIG, '--work-dir',
        str(work_dir), '--cfg-options', *opts
    ],
               cwd=repo_root)
    ckpt = osp.join(str(work_dir), 'epoch_1.pth')
    assert osp.isfile(ckpt), out
    return ckpt, opts, out, synthetic_coco


def test_mim_train_two_iterations(trained):
    ckpt, _, log, _ = trained
    assert 'SGHRNet' in log or 'sgms' in log
    # the opt-in to random initialisation is said, loudly
    assert 'allow_random_init=True, so it starts from its own random' in log
    for key in ('loss_kpt', 'loss_seg', 'dwa_w_kpt', 'dwa_w_seg', 'acc_pose'):
        assert key in log, key
    state = torch.load(ckpt, map_location='cpu', weights_only=False)
    # the segmentation loss of each iteration (exact values, as the message
    # hub recorded them): finite, positive, and it changed
    seg = state['message_hub']['log_scalars']['train/loss_seg'].data[0]
    assert len(seg) == 2 and all(math.isfinite(v) and v > 0 for v in seg)
    assert seg[0] != seg[1]
    sd = state['state_dict']
    assert int(sd['head.multi_task_loss.num_history']) == 2
    assert torch.isfinite(sd['head.multi_task_loss.history']).all()
    assert state['meta']['iter'] == 2
    # every SGM trained: both convolutions' biases start at exactly 0
    for name in ('stage2', 'stage3', 'stage4', 'final'):
        for conv in ('conv1.conv', 'conv2'):
            bias = sd[f'backbone.sgms.{name}.{conv}.bias']
            assert torch.isfinite(bias).all() and bias.abs().sum() > 0, (name,
                                                                         conv)


def test_tools_test_evaluates_checkpoint_with_coco_metric(
        trained, repo_root, tmp_path):
    """From another working directory: every path a config holds (the
    data set meta of the training wrapper included) resolves."""
    ckpt, opts, _, _ = trained
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    out = _run([
        sys.executable,
        osp.join(repo_root, 'tools', 'test.py'),
        osp.join(repo_root, CONFIG), ckpt, '--work-dir',
        str(tmp_path / 'work'), '--cfg-options', *opts
    ],
               cwd=str(elsewhere))
    assert 'coco/AP' in out and 'coco/AR' in out


def test_resume_restores_the_dwa_history(trained, repo_root, tmp_path):
    """``--resume`` puts the DWA history back, so the next weights are the
    ones an uninterrupted run would use."""
    from mmengine.config import Config
    from mmengine.runner import Runner
    ckpt, _, _, data_root = trained
    cfg = Config.fromfile(osp.join(repo_root, CONFIG))
    cfg.merge_from_dict(_small_overrides(data_root))
    cfg.work_dir = str(tmp_path)
    cfg.resume, cfg.load_from = True, ckpt
    runner = Runner.from_cfg(cfg)
    runner.load_or_resume()
    assert runner.iter == 2
    dwa = runner.model.head.multi_task_loss
    saved = torch.load(ckpt, map_location='cpu', weights_only=False)
    for name, buf in dwa.named_buffers():
        assert torch.equal(
            buf, saved['state_dict'][f'head.multi_task_loss.{name}']), name
    torch.testing.assert_close(dwa.weights, dwa.compute_weights())
