# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""A built wheel is an OpenMMLab plugin that carries its configs.

The sdist is built from a copy of the checkout and the wheel from the sdist
(what ``python -m build`` does; offline: no build isolation). The wheel is
installed into a new virtual environment that sees the OpenMMLab stack of
the running one (a ``.pth`` line naming its site-packages) but neither the
checkout nor its editable install, and from a folder outside the checkout

- a user config that inherits ``mmpose_ext::sg_hrnet_w32_coco.py`` (with
  ``custom_imports``) is parsed by ``Config.fromfile`` from the installed
  ``mmpose_ext/.mim/configs`` and its SG-HRNet is built;
- ``mim train mmpose_ext USER_CONFIG`` trains it (width 8, two iterations)
  with the installed ``mmpose_ext/.mim/tools/train.py`` and evaluates it.

An editable install of the same source copies nothing into the package and
reads the checkout's ``configs/``.
"""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import sysconfig
import zipfile

import pytest

from mmpose_ext.devkit.testing import (coco_data_overrides,
                                       cpu_runtime_overrides,
                                       tiny_hrnet_overrides, to_cfg_options)

pytestmark = pytest.mark.slow

#: not part of a source tree: environments, caches, outputs
NOT_SOURCE = ('.git', '.venv', 'build', 'dist', '*.egg-info', '__pycache__',
              '.hypothesis', '.pytest_cache', '.ruff_cache', 'work_dirs',
              'data', 'outputs', '.mim')

USER_CONFIG = """\
_base_ = ['mmpose_ext::sg_hrnet_w32_coco.py']
custom_imports = dict(imports=['mmpose_ext'], allow_failed_imports=False)
"""

# Run by the environment's python: where everything was found, as JSON.
PROBE = """\
import json, sys
import mmpose_ext
from mmengine.config import Config
from mmengine.registry import MODELS
from mim.utils import get_installed_path, recursively_find
from mmpose_ext.utils.config_files import config_file

cfg = Config.fromfile(sys.argv[1])
cfg.merge_from_dict(json.loads(sys.argv[2]))
# MMEngine's root registry, no default scope: the inherited model dict's
# _scope_ must lead to MMPose's registry, where the plugin registers
model = MODELS.build(cfg.model)
root = get_installed_path('mmpose_ext')
print(json.dumps(dict(
    module=mmpose_ext.__file__,
    sys_path=sys.path,
    files=[line for line in cfg.text.splitlines()
           if line.startswith('/') and line.endswith('.py')],
    backbone=cfg.model.backbone.type,
    scope=cfg.model.get('_scope_'),
    metainfo=cfg.train_dataloader.dataset.metainfo.from_file,
    config_file=config_file('sg_hrnet_w32_coco.py'),
    built=type(model.backbone).__name__,
    mim_root=root,
    mim_found=recursively_find(root, 'sg_hrnet_w32_coco.py',
                               followlinks=True))))
"""


def _run(cmd, cwd, timeout=300):
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore')
    env.pop('PYTHONPATH', None)  # the checkout must not leak in
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (
        f'{" ".join(map(str, cmd))} failed:\n'
        f'{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}')
    return proc.stdout + proc.stderr


def _stack_env(path):
    """A new venv whose site-packages also lists the running environment's
    (a ``.pth`` line: its own ``.pth`` files, e.g. the checkout's editable
    finder, are not run). Returns (python, site-packages)."""
    os.makedirs(path, exist_ok=True)
    _run([sys.executable, '-m', 'venv', '--without-pip', path], cwd=path)
    python = osp.join(path, 'bin', 'python')
    site = osp.join(path, 'lib', f'python{sysconfig.get_python_version()}',
                    'site-packages')
    assert osp.isdir(site), os.listdir(path)
    stack = dict.fromkeys(sysconfig.get_paths()[k]
                          for k in ('purelib', 'platlib'))
    with open(osp.join(site, 'zz_openmmlab_stack.pth'), 'w') as f:
        f.write('\n'.join(stack) + '\n')
    return python, site


def _pip_install(python, *args, cwd):
    # --ignore-installed: never touch the running environment's install
    _run([
        sys.executable, '-m', 'pip', '--python', python, 'install', '-q',
        '--no-deps', '--no-index', '--no-build-isolation',
        '--ignore-installed', *args
    ],
         cwd=cwd)


@pytest.fixture(scope='module')
def source(repo_root, tmp_path_factory):
    """A copy of the checkout's source tree (builds write into it)."""
    src = str(tmp_path_factory.mktemp('pkg') / 'src')
    shutil.copytree(repo_root, src, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    return src


@pytest.fixture(scope='module')
def wheel(source, tmp_path_factory):
    dist = str(tmp_path_factory.mktemp('dist'))
    _run([
        sys.executable, '-c', 'import sys; from setuptools import '
        'build_meta as b; b.build_sdist(sys.argv[1])', dist
    ],
         cwd=source)
    sdists = [f for f in os.listdir(dist) if f.endswith('.tar.gz')]
    assert len(sdists) == 1, sdists
    _run([
        sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps', '--no-index',
        '--no-build-isolation', '-w', dist,
        osp.join(dist, sdists[0])
    ],
         cwd=dist)
    wheels = [f for f in os.listdir(dist) if f.endswith('.whl')]
    assert len(wheels) == 1, wheels
    return osp.join(dist, wheels[0])


@pytest.fixture(scope='module')
def installed(wheel, tmp_path_factory):
    python, site = _stack_env(str(tmp_path_factory.mktemp('venv')))
    _pip_install(python, wheel, cwd=osp.dirname(wheel))
    return python, site


@pytest.fixture(scope='module')
def user_dir(tmp_path_factory):
    """Another project: a folder outside the checkout with its config."""
    path = tmp_path_factory.mktemp('other_project')
    (path / 'my_sg_hrnet.py').write_text(USER_CONFIG)
    return str(path)


def test_wheel_carries_every_config_and_the_tools(wheel, source):
    names = set(zipfile.ZipFile(wheel).namelist())
    mim = 'mmpose_ext/.mim/'
    configs = {
        osp.relpath(osp.join(d, f), source)
        for d, _, files in os.walk(osp.join(source, 'configs'))
        for f in files
    }
    assert len(configs) > 10
    assert {n[len(mim):] for n in names if n.startswith(mim + 'configs/')} \
        == configs
    for tool in ('train.py', 'test.py', 'dist_train.sh'):
        assert mim + 'tools/' + tool in names
    for tool in ('install.sh', 'lint.sh', 'run_tests.sh'):  # checkout only
        assert mim + 'tools/' + tool not in names
    assert mim + 'model-index.yml' in names
    assert not any(n.startswith(('tests/', 'configs/')) for n in names)


def test_user_config_inherits_installed_config(installed, user_dir, repo_root):
    python, site = installed
    tiny = tiny_hrnet_overrides(width=8)
    out = _run([python, '-c', PROBE, 'my_sg_hrnet.py',
                json.dumps(tiny)],
               cwd=user_dir)
    got = json.loads(out.strip().splitlines()[-1])
    configs = osp.join(site, 'mmpose_ext', '.mim', 'configs')
    # the wheel's package, not the checkout's
    assert got['module'] == osp.join(site, 'mmpose_ext', '__init__.py')
    assert repo_root not in got['sys_path']
    assert not any(
        f.startswith(osp.join(repo_root, 'configs')) for f in got['files'])
    # mmpose_ext:: -> .mim/configs, and its relative _base_ files there too
    assert osp.join(configs, 'sg_hrnet_w32_coco.py') in got['files']
    assert osp.join(configs, '_base_', 'topdown_coco.py') in got['files']
    # {{fileDirname}} in the installed _base_ file
    assert got['metainfo'] == osp.join(configs, '_base_', 'datasets',
                                       'coco.py')
    assert got['config_file'] == osp.join(configs, 'sg_hrnet_w32_coco.py')
    assert got['backbone'] == 'SGHRNet' and got['built'] == 'SGHRNet'
    assert got['scope'] == 'mmpose'  # the registries the plugin uses
    # what `mim train mmpose_ext sg_hrnet_w32_coco.py` finds by name
    assert got['mim_root'] == osp.join(site, 'mmpose_ext')
    assert got['mim_found'] == [osp.join(configs, 'sg_hrnet_w32_coco.py')]


def test_mim_trains_user_config_with_installed_tools(installed, user_dir,
                                                     synthetic_coco, tmp_path):
    python, site = installed
    opts = to_cfg_options({
        **tiny_hrnet_overrides(width=8, cli=True),
        **coco_data_overrides(synthetic_coco),
        **cpu_runtime_overrides(batch_size=2, max_epochs=1, max_iters=2),
    })
    work_dir = str(tmp_path / 'work')
    out = _run([
        python, '-m', 'mim', 'train', 'mmpose_ext',
        osp.join(user_dir, 'my_sg_hrnet.py'), '--work-dir', work_dir,
        '--cfg-options', *opts
    ],
               cwd=user_dir)
    train_py = osp.join(site, 'mmpose_ext', '.mim', 'tools', 'train.py')
    assert f'Training command is {python} {train_py} ' in out
    assert 'Epoch(train) [1][2/2]' in out
    # CocoMetric, with the dataset metainfo read from the installed file
    assert 'Epoch(val) [1]' in out and 'coco/AP: ' in out
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth')), out[-3000:]


def test_editable_install_reads_the_checkout_configs(source, user_dir,
                                                     tmp_path):
    python, site = _stack_env(str(tmp_path / 'venv'))
    _pip_install(python, '-e', source, cwd=str(tmp_path))
    code = ('import json, mmpose_ext; from mmengine.config import Config; '
            'cfg = Config.fromfile("my_sg_hrnet.py"); '
            'print(json.dumps([mmpose_ext.__file__, cfg.model.backbone.type,'
            ' cfg.train_dataloader.dataset.metainfo.from_file]))')
    out = _run([python, '-c', code], cwd=user_dir)
    module, backbone, metainfo = json.loads(out.strip().splitlines()[-1])
    assert module == osp.join(source, 'mmpose_ext', '__init__.py')
    assert backbone == 'SGHRNet'
    assert metainfo == osp.join(source, 'configs', '_base_', 'datasets',
                                'coco.py')
    assert not osp.exists(osp.join(source, 'mmpose_ext', '.mim'))
