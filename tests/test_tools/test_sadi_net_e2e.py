# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""SADI-Net end to end: two training iterations of each config family
(MPII, LSP (+LSPET+MPII combined), COCO) on generated data through
``tools/train.py``, then ``tools/test.py`` on the checkpoint with the
family's metric (PCKh@0.5, torso PCK@0.2, COCO AP) and the six-scale + flip
test. The configs are shrunk with ``--cfg-options`` only (tiny widths,
64x64 input, one stack).

The tools run in this process (``runpy``, as ``tools/*.py`` themselves run
MMPose's scripts) to keep the file fast on two cores.
"""
import glob
import os.path as osp
import runpy
import sys

import pytest

from mmpose_ext.devkit.testing import (coco_data_overrides,
                                       cpu_runtime_overrides, to_cfg_options)

pytestmark = pytest.mark.slow


def _tiny(input_size, heatmap_size, train_affine, train_target):
    """Tiny SADI-Net + 64-pixel codecs, as flat --cfg-options keys."""
    return {
        'model.backbone.num_stacks':
        1,
        'model.backbone.stage_channels': (8, 16, 32, 64),
        'model.backbone.stem_channels':
        8,
        'model.neck.in_channels': (8, 16, 32, 64),
        'model.neck.fuse_channels':
        16,
        'model.neck.head_channels': (16, 32, 64, 128),
        'model.neck.out_channels':
        64,
        'model.head.in_channels':
        64,
        'model.head.decoder.input_size':
        input_size,
        'model.head.decoder.heatmap_size':
        heatmap_size,
        f'train_dataloader.dataset.pipeline.{train_affine}.input_size':
        input_size,
        f'train_dataloader.dataset.pipeline.{train_target}.encoder.'
        'input_size':
        input_size,
        f'train_dataloader.dataset.pipeline.{train_target}.encoder.'
        'heatmap_size':
        heatmap_size,
        'val_dataloader.dataset.pipeline.2.input_size':
        input_size,
        'test_dataloader.dataset.pipeline.2.input_size':
        input_size,
    }


def _mpii_data(root):
    out = {'train_dataloader.dataset.data_root': root}
    for split in ('val', 'test'):
        out[f'{split}_dataloader.dataset.data_root'] = root
        out[f'{split}_dataloader.dataset.headbox_file'] = osp.join(
            root, 'annotations', 'mpii_gt_val.mat')
    return out


def _lsp_data(lsp, lspet, mpii):
    out = {
        'train_dataloader.dataset.datasets.0.data_root': lsp,
        'train_dataloader.dataset.datasets.0.num_test': 6,
        'train_dataloader.dataset.datasets.0.indices': 2,
        'train_dataloader.dataset.datasets.1.data_root': lspet,
        'train_dataloader.dataset.datasets.1.indices': 1,
        'train_dataloader.dataset.datasets.2.data_root': mpii,
        'train_dataloader.dataset.datasets.2.indices': 1,
    }
    for split in ('val', 'test'):
        out[f'{split}_dataloader.dataset.data_root'] = lsp
        out[f'{split}_dataloader.dataset.num_test'] = 6
    return out


def _run_tool(repo_root, monkeypatch, script, *args):
    monkeypatch.chdir(repo_root)
    monkeypatch.setattr(sys, 'argv', [script, *args])
    runpy.run_path(osp.join(repo_root, script), run_name='__main__')


def _log_text(work_dir):
    logs = sorted(glob.glob(osp.join(work_dir, '*', '*.log')))
    assert logs, f'no log in {work_dir}'
    return open(logs[-1]).read()


@pytest.fixture(scope='module')
def synthetic_lspet(tmp_path_factory):
    from mmpose_ext.devkit.synthetic import generate_dataset
    out = str(tmp_path_factory.mktemp('e2e_lspet'))
    generate_dataset('lspet', out, num_train=4, num_val=2, seed=1)
    return out


@pytest.mark.parametrize('family', ['mpii', 'lsp', 'coco'])
def test_train_two_iterations_then_test(family, repo_root, monkeypatch,
                                        tmp_path, request):
    # no validation inside training: tools/test.py evaluates the checkpoint
    runtime = cpu_runtime_overrides(batch_size=2, max_epochs=1, val_interval=2)
    if family == 'mpii':
        config = 'configs/sadi_net_mpii.py'
        data = _mpii_data(request.getfixturevalue('synthetic_mpii'))
        runtime['train_dataloader.dataset.indices'] = 4
        tiny = _tiny((64, 64), (16, 16), 4, 5)
        expect = ('PCK@0.1', 'Head')  # MpiiPCKAccuracy (PCKh)
    elif family == 'lsp':
        config = 'configs/sadi_net_lsp.py'
        data = _lsp_data(
            request.getfixturevalue('synthetic_lsp'),
            request.getfixturevalue('synthetic_lspet'),
            request.getfixturevalue('synthetic_mpii'))
        tiny = _tiny((64, 64), (16, 16), 4, 5)
        expect = ('PCK_left_wrist', 'skipped_instances')  # TorsoPCKAccuracy
    else:
        config = 'configs/sadi_net_coco.py'
        data = coco_data_overrides(request.getfixturevalue('synthetic_coco'))
        runtime['train_dataloader.dataset.indices'] = 4
        tiny = _tiny((48, 64), (12, 16), 5, 6)
        expect = ('coco/AP', 'coco/AR')
    opts = to_cfg_options({**runtime, **data, **tiny})

    work = str(tmp_path / 'train')
    _run_tool(repo_root, monkeypatch, 'tools/train.py', config, '--work-dir',
              work, '--cfg-options', *opts)
    ckpt = osp.join(work, 'epoch_1.pth')
    assert osp.isfile(ckpt)
    log = _log_text(work)
    assert 'Iter(train) [2/2]' in log or 'Epoch(train) [1][2/2]' in log
    assert 'loss_dlm' in log and 'loss_kpt' in log

    test_dir = str(tmp_path / 'test')
    _run_tool(repo_root, monkeypatch, 'tools/test.py', config, ckpt,
              '--work-dir', test_dir, '--cfg-options', *opts)
    log = _log_text(test_dir)
    assert 'Epoch(test)' in log
    for key in expect:
        assert key in log, key
