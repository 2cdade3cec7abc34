"""Packaging for mmpose_ext, an MMPose 1.x extension plugin.

The heavy OpenMMLab stack (torch, mmcv with compiled ops, mmpose without
chumpy, mmdet) cannot be resolved safely by pip alone on CPU machines, so it
is installed by ``tools/install.sh`` with the pins in
``requirements/constraints.txt``; ``install_requires`` lists only what pip can
resolve without breaking that stack.

A built wheel (``pip wheel --no-deps .``, ``python -m build --wheel``) carries
the configs and tools inside the package, as OpenMMLab's own wheels do
(``mmpose/.mim/configs``, ``mmpose/.mim/tools``)::

    mmpose_ext/.mim/configs/      copy of configs/
    mmpose_ext/.mim/tools/        copy of tools/ (less the checkout scripts)
    mmpose_ext/.mim/model-index.yml

so that ``mim train mmpose_ext CONFIG`` and ``_base_ =
['mmpose_ext::...']`` find them. An editable install (``pip install -e .``,
``tools/install.sh``) copies nothing: the checkout's ``configs/`` is read in
place (``mmpose_ext.utils.config_files.config_file``).
"""
import os
import os.path as osp
import shutil
from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

ROOT = osp.dirname(osp.abspath(__file__))
PACKAGE = 'mmpose_ext'
#: folders of the checkout copied to ``mmpose_ext/.mim/`` in built packages
MIM_FOLDERS = ('configs', 'tools')
#: tools that set up or check a checkout (install, lint, tests, quick start):
#: meaningless, even harmful, inside an installed package
CHECKOUT_ONLY = ('install.sh', 'lint.sh', 'run_tests.sh', 'quickstart.sh')
#: MIM's model index; no trained checkpoints are published, so it imports no
#: metafile (MMEngine then resolves ``package::`` paths in ``.mim/configs``)
MODEL_INDEX = ('# mmpose_ext publishes no trained checkpoints: no metafiles.\n'
               'Import: []\n')


def get_version():
    ns = {}
    with open(osp.join(ROOT, PACKAGE, 'version.py')) as f:
        exec(f.read(), ns)
    return ns['__version__']


def readme():
    with open(osp.join(ROOT, 'README.md'), encoding='utf-8') as f:
        return f.read()


class BuildPyWithMim(build_py):
    """``build_py`` that also puts the MIM extension into the build.

    MMPose's ``add_mim_extension()`` copies ``configs/`` and ``tools/`` into
    ``mmpose/.mim/`` of the source tree (symlinks them in develop mode). Here
    the copies go into the build folder only, so that the source tree never
    holds a second, possibly stale, set of configs, and an editable build
    adds nothing (the checkout's folders are used in place).
    """

    def run(self):
        super().run()
        if not getattr(self, 'editable_mode', False):
            self.add_mim_extension()

    def add_mim_extension(self):
        mim = osp.join(self.build_lib, PACKAGE, '.mim')
        if osp.isdir(mim):  # a previous build: drop files removed since
            shutil.rmtree(mim)
        os.makedirs(mim)
        ignore = shutil.ignore_patterns('__pycache__', '*.pyc', '*.pyo',
                                        *CHECKOUT_ONLY)
        for name in MIM_FOLDERS:
            src = osp.join(ROOT, name)
            if not osp.isdir(src):
                # never build a package without its configs: mmpose_ext
                # reads them on import (dataset metainfo)
                raise FileNotFoundError(
                    f'{src} is missing: build mmpose_ext from a checkout or '
                    'from its sdist')
            shutil.copytree(src, osp.join(mim, name), ignore=ignore)
        with open(osp.join(mim, 'model-index.yml'), 'w') as f:
            f.write(MODEL_INDEX)


setup(
    name='mmpose-ext',
    version=get_version(),
    description=('MMPose 1.x plugin: SG-HRNet (segmentation guided attention) '
                 'and SADI-Net (RFM hourglass + SFM + RealNVP DLM head)'),
    long_description=readme(),
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('tests', 'tests.*', 'configs', 'tools')),
    include_package_data=True,
    cmdclass={'build_py': BuildPyWithMim},
    python_requires='>=3.8',
    # mmcv 2.0-2.1 is needed as `mmcv` (compiled ops) OR `mmcv-lite` (the
    # plugin supplies the ops it needs, mmpose_ext/compat/mmcv_ops.py); pip
    # cannot say "either", and listing `mmcv` would build it from source
    install_requires=[
        'mmengine>=0.10.0,<1.0.0',
        'mmpose>=1.3.0,<1.4.0',
        'numpy<2',
        'scipy',
        'opencv-python',
        'xtcocotools',
    ],
    extras_require={
        'det': ['mmdet>=3.0.0,<3.4.0'],
        'tests': ['pytest', 'hypothesis'],
        'onnx': ['onnx', 'onnxruntime'],
        # what mmpose_ext_runtime imports (a runtime-only machine installs
        # mmpose-ext with --no-deps, then these)
        'runtime': ['numpy', 'opencv-python', 'onnxruntime'],
        'openvino': ['openvino', 'nncf'],
        'dev': ['pytest', 'hypothesis', 'ruff', 'isort', 'yapf', 'build'],
    },
    # an SPDX expression: setuptools >= 77 deprecates license classifiers
    license='Apache-2.0',
    classifiers=[
        'Programming Language :: Python :: 3',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
    ],
    zip_safe=False,
)
