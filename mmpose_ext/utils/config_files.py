# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Find the configs shipped with the plugin."""
import os.path as osp

_PACKAGE = osp.dirname(osp.dirname(osp.abspath(__file__)))


def config_file(relpath: str) -> str:
    """Absolute path of a config that ships with the plugin.

    Installed packages carry the configs in ``mmpose_ext/.mim/configs`` (as
    OpenMMLab packages do, so ``mim`` and ``mmpose_ext::`` config paths find
    them); a source checkout has them in ``configs/`` beside the package.

    Args:
        relpath (str): Path below ``configs/``, e.g.
            ``'_base_/datasets/lsp.py'``.

    Returns:
        str: The first existing of the two locations.

    Raises:
        FileNotFoundError: Naming both places looked in.
    """
    roots = [
        osp.join(_PACKAGE, '.mim', 'configs'),
        osp.join(osp.dirname(_PACKAGE), 'configs'),
    ]
    for root in roots:
        path = osp.join(root, relpath)
        if osp.isfile(path):
            return path
    for root in roots:
        if osp.isfile(osp.join(root, '_base_', 'topdown_coco.py')):
            raise FileNotFoundError(
                f'mmpose_ext has no config {relpath!r} (looked in {root})')
    raise FileNotFoundError(
        f'mmpose_ext config {relpath!r} not found in {roots}: the package '
        'is installed without its configs; reinstall it from a wheel built '
        'by `pip wheel --no-deps .` or `python -m build --wheel` (they '
        'carry mmpose_ext/.mim/configs), or `pip install -e .` a checkout')
