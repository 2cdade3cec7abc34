"""Packaging for mmpose_ext, an MMPose 1.x extension plugin.

The heavy OpenMMLab stack (torch, mmcv with compiled ops, mmpose without
chumpy, mmdet) cannot be resolved safely by pip alone on CPU machines, so it
is installed by ``tools/install.sh`` with the pins in
``requirements/constraints.txt``; ``install_requires`` lists only what pip can
resolve without breaking that stack.
"""
import os.path as osp
from setuptools import find_packages, setup


def get_version():
    ns = {}
    with open(osp.join(osp.dirname(__file__), 'mmpose_ext',
                       'version.py')) as f:
        exec(f.read(), ns)
    return ns['__version__']


def readme():
    with open(
            osp.join(osp.dirname(__file__), 'README.md'),
            encoding='utf-8') as f:
        return f.read()


setup(
    name='mmpose-ext',
    version=get_version(),
    description=('MMPose 1.x plugin: SG-HRNet (segmentation guided attention) '
                 'and SADI-Net (RFM hourglass + SFM + RealNVP DLM head)'),
    long_description=readme(),
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('tests', 'tests.*', 'configs', 'tools')),
    include_package_data=True,
    python_requires='>=3.8',
    install_requires=[
        'mmengine>=0.10.0,<1.0.0',
        'mmcv>=2.0.0,<2.2.0',
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
    },
    license='Apache License 2.0',
    classifiers=[
        'Programming Language :: Python :: 3',
        'License :: OSI Approved :: Apache Software License',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
    ],
    zip_safe=False,
)
