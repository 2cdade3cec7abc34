# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""``_base_ = ['mmpose_ext::...']`` in another project's config
(:mod:`mmpose_ext.compat.config_paths`), here from the checkout; the built
wheel is tested in ``test_wheel.py``."""
import os.path as osp

import pytest
from mmengine.config import Config

from mmpose_ext.compat.config_paths import patch_mmengine_config_paths
from mmpose_ext.utils.config_files import config_file


def _user_config(tmp_path, *bases):
    path = tmp_path / 'user_cfg.py'
    path.write_text(f'_base_ = {list(bases)!r}\n'
                    "custom_imports = dict(imports=['mmpose_ext'])\n")
    return str(path)


def test_top_level_config_resolves_with_mmpose_scope(tmp_path):
    cfg = Config.fromfile(
        _user_config(tmp_path, 'mmpose_ext::sg_hrnet_w32_coco.py'))
    assert cfg.model.backbone.type == 'SGHRNet'
    assert cfg.model._scope_ == 'mmpose'  # the registries the plugin uses
    assert config_file('sg_hrnet_w32_coco.py') in cfg.text.splitlines()
    # {{fileDirname}} of the inherited base file
    assert cfg.train_dataloader.dataset.metainfo.from_file == config_file(
        '_base_/datasets/coco.py')


def test_config_in_a_folder_and_other_packages_unchanged(tmp_path):
    cfg = Config.fromfile(
        _user_config(tmp_path,
                     'mmpose_ext::quickstart/sg_hrnet_w16_synthetic_coco.py',
                     'mmpose::_base_/datasets/mpii.py'))
    assert cfg.model.backbone.extra.stage4.num_channels == (16, 32, 64, 128)
    assert cfg.dataset_info.dataset_name == 'mpii'  # MMEngine's own path


def test_unknown_config_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='no_such.py'):
        Config.fromfile(_user_config(tmp_path, 'mmpose_ext::no_such.py'))


def test_patch_is_idempotent():
    before = Config._get_cfg_path
    patch_mmengine_config_paths()
    assert Config._get_cfg_path is before
    assert before._mmpose_ext_patched
    # relative and absolute paths still go to MMEngine's function
    path, scope = Config._get_cfg_path('./x.py', '/a/b/cfg.py')
    assert (path, scope) == (osp.join('/a/b', './x.py'), None)
