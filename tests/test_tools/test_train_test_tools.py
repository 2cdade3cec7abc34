# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""tools/train.py, tools/test.py and mim with the plugin, on generated data.

A tiny-width HRNet baseline trains for two iterations through MMEngine's
Runner, is evaluated by CocoMetric, and its checkpoint goes through resume,
``tools/test.py``, ``mim test`` and ``mmpose.apis.init_model`` -- the paths
that break under torch >= 2.6 without the plugin's safe loader.
"""
import glob
import os.path as osp
import subprocess
import sys

import pytest
from mmengine.config import Config

from mmpose_ext.devkit.testing import (coco_data_overrides,
                                       cpu_runtime_overrides, to_cfg_options)

pytestmark = pytest.mark.slow

BASELINE = 'configs/hrnet_w32_coco_baseline.py'
TINY = 'tests/data/configs/hrnet_w4_coco_64x64.py'  # inherits BASELINE


def _small_cfg(repo_root, data_root, work_dir):
    cfg = Config.fromfile(osp.join(repo_root, TINY))
    cfg.merge_from_dict({
        **coco_data_overrides(data_root),
        **cpu_runtime_overrides(batch_size=2, max_epochs=1, max_iters=2),
    })
    cfg.work_dir = str(work_dir)
    return cfg


def _run(cmd, cwd):
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, (
        f'{" ".join(cmd)} failed:\n'
        f'{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}')
    return proc.stdout + proc.stderr


@pytest.fixture(scope='module')
def trained(repo_root, synthetic_coco, tmp_path_factory):
    """Two training iterations + one CocoMetric validation via the Runner."""
    from mmengine.runner import Runner
    work_dir = tmp_path_factory.mktemp('baseline_run')
    cfg = _small_cfg(repo_root, synthetic_coco, work_dir)
    cfg_path = str(work_dir / 'small.py')
    cfg.dump(cfg_path)
    runner = Runner.from_cfg(cfg)
    runner.train()
    ckpt = str(work_dir / 'epoch_1.pth')
    assert osp.isfile(ckpt)
    return cfg_path, ckpt, work_dir, runner


def test_runner_trains_two_iterations_and_evaluates(trained):
    _, ckpt, _, runner = trained
    assert runner.iter == 2
    scalars = runner.message_hub.log_scalars
    assert 'train/loss_kpt' in scalars and 'train/acc_pose' in scalars
    assert 'val/coco/AP' in scalars  # CocoMetric ran on the detection boxes
    ap = scalars['val/coco/AP'].current()
    assert 0.0 <= ap <= 1.0


def test_resume_restores_iteration_and_optimizer(trained):
    from mmengine.runner import Runner
    cfg_path, ckpt, work_dir, runner = trained
    cfg = Config.fromfile(cfg_path)
    cfg.work_dir = str(work_dir / 'resumed')
    cfg.train_cfg.max_epochs = 2
    cfg.resume = True
    cfg.load_from = ckpt
    resumed = Runner.from_cfg(cfg)
    resumed.load_or_resume()
    assert resumed.iter == 2 and resumed.epoch == 1
    old = runner.optim_wrapper.optimizer.state_dict()['state']
    new = resumed.optim_wrapper.optimizer.state_dict()['state']
    assert old.keys() == new.keys()
    k = next(iter(old))
    assert (old[k]['exp_avg'] == new[k]['exp_avg']).all()


def test_tools_test_evaluates_checkpoint(trained, repo_root, tmp_path):
    cfg_path, ckpt, _, _ = trained
    out = _run([
        sys.executable, 'tools/test.py', cfg_path, ckpt, '--work-dir',
        str(tmp_path)
    ],
               cwd=repo_root)
    assert 'coco/AP' in out


def test_mim_test_evaluates_checkpoint(trained, repo_root, tmp_path):
    cfg_path, ckpt, _, _ = trained
    mim = osp.join(osp.dirname(sys.executable), 'mim')
    out = _run([
        mim, 'test', 'mmpose', cfg_path, '--checkpoint', ckpt, '--work-dir',
        str(tmp_path)
    ],
               cwd=repo_root)
    assert 'coco/AP' in out


def test_init_model_loads_checkpoint(trained, synthetic_coco):
    import numpy as np
    from mmpose.apis import inference_topdown, init_model
    cfg_path, ckpt, _, _ = trained
    model = init_model(cfg_path, ckpt, device='cpu')
    img = sorted(glob.glob(osp.join(synthetic_coco, 'val2017', '*.jpg')))[0]
    results = inference_topdown(model, img, np.array([[10, 10, 100, 200]]))
    assert results[0].pred_instances.keypoints.shape == (1, 17, 2)


def test_tools_train_cli_and_mim_train(repo_root, synthetic_coco, tmp_path):
    opts = to_cfg_options({
        **coco_data_overrides(synthetic_coco),
        **cpu_runtime_overrides(batch_size=2, max_epochs=1, max_iters=1),
        'train_cfg.val_interval':
        2,  # skip validation: training path only
    })
    out = _run([
        sys.executable, 'tools/train.py', TINY, '--work-dir',
        str(tmp_path / 'cli'), '--cfg-options', *opts
    ],
               cwd=repo_root)
    assert osp.isfile(tmp_path / 'cli' / 'epoch_1.pth'), out
    mim = osp.join(osp.dirname(sys.executable), 'mim')
    out = _run([
        mim, 'train', 'mmpose', TINY, '--work-dir',
        str(tmp_path / 'mim'), '--cfg-options', *opts
    ],
               cwd=repo_root)
    assert osp.isfile(tmp_path / 'mim' / 'epoch_1.pth'), out


def test_missing_data_names_the_file(repo_root, tmp_path):
    opts = to_cfg_options({
        **coco_data_overrides(str(tmp_path / 'no_such_dir')),
        **cpu_runtime_overrides()
    })
    proc = subprocess.run([
        sys.executable, 'tools/train.py', TINY, '--work-dir',
        str(tmp_path / 'w'), '--cfg-options', *opts
    ],
                          cwd=repo_root,
                          capture_output=True,
                          text=True)
    assert proc.returncode != 0
    assert 'person_keypoints_train2017.json' in proc.stderr + proc.stdout
    assert 'does not exist' in proc.stderr + proc.stdout


def test_baseline_config_is_mmpose_hrnet_w32_recipe(repo_root):
    cfg = Config.fromfile(osp.join(repo_root, BASELINE))
    assert cfg.custom_imports.imports == ['mmpose_ext']
    assert cfg.model.backbone.type == 'HRNet'
    assert cfg.model.backbone.extra.stage4.num_channels == (32, 64, 128, 256)
    assert cfg.model.backbone.init_cfg.type == 'CheckedPretrained'
    assert cfg.model.backbone.init_cfg.checkpoint.endswith(
        'hrnet_w32-36af842e.pth')
    assert cfg.codec.input_size == (192, 256)
    assert cfg.train_dataloader.dataset.data_root == 'data/coco/'
    assert cfg.val_dataloader.dataset.bbox_file.startswith('data/coco/')
    assert cfg.val_evaluator.type == 'CocoMetric'
