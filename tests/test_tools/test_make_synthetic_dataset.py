# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Tests of ``tools/make_synthetic_dataset.py`` (the CLI of the generator)."""
import importlib.util
import os
import os.path as osp
import subprocess
import sys

import cv2
import pytest
from scipy.io import loadmat

from mmpose_ext.devkit.synthetic import generate_dataset

SCRIPT = osp.join('tools', 'make_synthetic_dataset.py')


@pytest.fixture(scope='module')
def cli(repo_root):
    """The script loaded as a module, to call ``main(argv)`` in-process."""
    spec = importlib.util.spec_from_file_location('make_synthetic_dataset',
                                                  osp.join(repo_root, SCRIPT))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tree_bytes(root):
    files = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = osp.join(dirpath, name)
            with open(path, 'rb') as f:
                files[osp.relpath(path, root)] = f.read()
    return files


@pytest.mark.slow
def test_script_writes_the_same_files_as_the_api(repo_root, tmp_path):
    out = str(tmp_path / 'cli')
    cmd = [
        sys.executable, SCRIPT, 'coco', out, '--num-train', '2', '--num-val',
        '1', '--seed', '3', '--image-size', '160', '128', '--max-people', '3'
    ]
    proc = subprocess.run(
        cmd, cwd=repo_root, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    printed = dict(line.split(': ', 1) for line in proc.stdout.splitlines())
    expected = generate_dataset(
        'coco',
        str(tmp_path / 'api'),
        num_train=2,
        num_val=1,
        seed=3,
        image_size=(160, 128),
        max_people=3)
    assert set(printed) == set(expected)
    assert all(osp.exists(p) for p in printed.values())
    assert _tree_bytes(out) == _tree_bytes(tmp_path / 'api')
    image = cv2.imread(osp.join(out, 'val2017', '000000000003.jpg'))
    assert image.shape == (128, 160, 3)


@pytest.mark.slow
def test_script_bad_argument_exits_2_with_one_line(repo_root, tmp_path):
    cmd = [
        sys.executable, SCRIPT, 'mpii',
        str(tmp_path / 'x'), '--num-train', '0'
    ]
    proc = subprocess.run(
        cmd, cwd=repo_root, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stdout == ''
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and 'num_train' in lines[0], proc.stderr
    assert lines[0].startswith('make_synthetic_dataset.py: error: ')


@pytest.mark.parametrize('argv, word', [
    (['yoga', '{out}'], 'fmt'),
    (['coco', '{out}', '--num-val', '-2'], 'num_val'),
    (['coco', '{out}', '--seed', '-1'], 'seed'),
    (['coco', '{out}', '--image-size', '0', '100'], 'image_size'),
    (['coco', '{out}', '--image-size', '100'], '--image-size'),
    (['coco', '{out}', '--max-people', '0'], 'max_people'),
    (['coco', '{out}', '--num-train', 'many'], '--num-train'),
    (['lsp', '{out}/blocker/sub'], 'out_dir'),
])
def test_bad_arguments_exit_2_with_one_line(cli, tmp_path, capsys, argv, word):
    (tmp_path / 'blocker').write_text('a file, not a directory')
    argv = [a.format(out=tmp_path) for a in argv]
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and word in err, err
    assert 'Traceback' not in err


@pytest.mark.parametrize('fmt, expected', [
    ('mpii', [
        'annotations/mpii_train.json', 'annotations/mpii_val.json',
        'annotations/mpii_gt_val.mat', 'images/000000001.jpg',
        'images/000000003.jpg'
    ]),
    ('lsp', ['joints.mat', 'images/im0001.jpg', 'images/im0003.jpg']),
    ('lspet', ['joints.mat', 'images/im00001.jpg', 'images/im00003.jpg']),
])
def test_main_writes_each_layout(cli, tmp_path, capsys, fmt, expected):
    out = tmp_path / fmt
    assert cli.main([
        fmt,
        str(out), '--num-train', '2', '--num-val', '1', '--image-size', '128',
        '96'
    ]) == 0
    for rel in expected:
        assert (out / rel).is_file(), rel
    assert f'data_root: {out}' in capsys.readouterr().out
    if fmt != 'mpii':
        shape = loadmat(str(out / 'joints.mat'))['joints'].shape
        assert shape == ((3, 14, 3) if fmt == 'lsp' else (14, 3, 3))
