# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Shared helpers of the benchmarks: configs (offline, shrunk, resized,
pointed at generated data), models, timing statistics and Markdown tables."""
import copy
import glob
import os
import os.path as osp
import platform
import statistics
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import mmpose
import numpy as np
import torch
from mmengine.config import Config, ConfigDict, DictAction
from mmengine.registry import init_default_scope
from mmpose.registry import MODELS

import mmpose_ext  # noqa: F401  (registers the plugin's modules)
from mmpose_ext.apis.crops import dataset_crops
from mmpose_ext.models.utils import default_init_cfg
from mmpose_ext.utils.config_files import config_file
from ..synthetic import generate_dataset
from ..testing import (coco_data_overrides, tiny_hrnet_overrides,
                       tiny_sadi_overrides)

# dataset type of a config -> generated data format
DATASET_FORMATS = {
    'CocoDataset': 'coco',
    'MpiiDataset': 'mpii',
    'LspDataset': 'lsp',
    'CrowdPoseDataset': 'crowdpose',
}
HRNET_BACKBONES = ('HRNet', 'SGHRNet')
SADI_BACKBONES = ('RFMHourglassNet', )


# --------------------------------------------------------------- machine
def machine_info() -> Dict:
    """CPU model, logical CPUs, load average and library versions."""
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    info = dict(
        cpu=cpu,
        logical_cpus=os.cpu_count(),
        torch=torch.__version__,
        torch_threads=torch.get_num_threads(),
        python=platform.python_version(),
        date=time.strftime('%Y-%m-%d %H:%M:%S'),
        clock=clock_name(),
    )
    try:
        info['loadavg'] = tuple(round(v, 2) for v in os.getloadavg())
    except OSError:
        info['loadavg'] = None
    try:
        import psutil  # noqa: PLC0415  (optional: the `dev` extra)
        info['memory_gb'] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    try:
        import onnxruntime  # noqa: PLC0415  (optional: the `onnx` extra)
        info['onnxruntime'] = onnxruntime.__version__
    except ImportError:
        pass
    return info


def loadavg() -> Optional[float]:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


# --------------------------------------------------------------- configs
def load_config(config, cfg_options: Optional[Dict] = None) -> Config:
    """A config from a path or a copy of a ``Config``; ``cfg_options``
    merged in. A ``configs/...`` path not found from the working directory
    is one of the plugin's own (:func:`config_file`)."""
    if isinstance(config, Config):
        cfg = copy.deepcopy(config)
    else:
        path = config
        if not osp.isfile(path) and path.startswith('configs/'):
            path = config_file(path[len('configs/'):])
        cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def resolve_config(config: str) -> str:
    """``mmpose::rel/path.py`` -> the installed MMPose config file."""
    if config.startswith('mmpose::'):
        return osp.join(
            osp.dirname(mmpose.__file__), '.mim', 'configs',
            config[len('mmpose::'):])
    return config


def parse_kv(items: Sequence[str]) -> Dict:
    """``['a.b=1', 'c=(1,2)']`` -> ``{'a.b': 1, 'c': (1, 2)}`` (values
    parsed as ``--cfg-options`` parses them)."""
    out = {}
    for item in items:
        if '=' not in item:
            raise ValueError(f'expected KEY=VALUE, got {item!r}')
        key, val = item.split('=', 1)
        out[key] = DictAction._parse_iterable(val)
    return out


def build_configs(paths: Sequence[str],
                  names: Optional[Sequence[str]] = None,
                  per_config: Optional[Dict[int, Dict]] = None,
                  cfg_options: Optional[Dict] = None,
                  width: Optional[int] = None,
                  input_hw: Optional[Sequence[int]] = None,
                  log: Callable = print) -> List[Tuple[str, Config]]:
    """The configs a benchmark compares, as ``(name, cfg)``.

    Args:
        paths (Sequence[str]): Config files (``mmpose::`` accepted).
        names (Sequence[str], optional): One display name per config;
            default: the file names.
        per_config (dict, optional): ``{index: overrides}`` of single
            configs, merged after ``cfg_options``.
        cfg_options (dict, optional): Overrides of every config.
        width (int, optional): Shrink to this branch width (:func:`shrink`).
        input_hw (Sequence[int], optional): Change the input size (H, W).
        log (callable): Where a config that cannot be shrunk is reported.
    """
    per_config = per_config or {}
    if names and len(names) != len(paths):
        raise ValueError('one name per config is needed')
    for idx in per_config:
        if not 0 <= idx < len(paths):
            raise ValueError(f'no config {idx}: there are {len(paths)}')
    out = []
    for i, path in enumerate(paths):
        cfg = load_config(resolve_config(path), cfg_options)
        if width:
            try:
                shrink(cfg, width)
            except ValueError as e:  # e.g. MMPose's HourglassNet: override
                log(f'warning: {path}: {e}; not shrunk')
        if per_config.get(i):
            cfg.merge_from_dict(per_config[i])
        if input_hw:
            set_input_size(cfg, (input_hw[1], input_hw[0]))
        out.append(
            (names[i] if names else osp.splitext(osp.basename(path))[0], cfg))
    return out


def _walk(obj, fn: Callable) -> None:
    """Call ``fn`` on every dict inside ``obj`` (dicts and lists)."""
    if isinstance(obj, dict):
        fn(obj)
        for v in obj.values():
            _walk(v, fn)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _walk(v, fn)


def make_offline(cfg: Config) -> Config:
    """Replace every ``init_cfg`` of the model that loads weights
    (``Pretrained``, ``CheckedPretrained``) by the module class's own random
    initialisation (HRNet's for HRNet backbones, see
    :func:`~mmpose_ext.models.utils.default_init_cfg`): nothing is read or
    downloaded, and the module starts as it would without pretraining."""

    def loads(init) -> bool:
        inits = init if isinstance(init, (list, tuple)) else [init]
        return any(
            isinstance(i, dict) and 'Pretrained' in str(i.get('type'))
            for i in inits)

    def fn(d):
        if loads(d.get('init_cfg')):
            cls = MODELS.get(d['type']) if 'type' in d else None
            d['init_cfg'] = default_init_cfg(cls) if cls else None

    _walk(cfg.model, fn)
    return cfg


def input_size_of(cfg: Config) -> Tuple[int, int]:
    """(w, h) of the head's codec."""
    return tuple(cfg.model.head.decoder.input_size)


def set_input_size(cfg: Config, input_size: Sequence[int]) -> Config:
    """Change the model input size everywhere in a top-down config.

    Every codec (a dict with ``input_size`` and ``heatmap_size``: the head's
    decoder, ``GenerateTarget`` encoders, ``codec``) gets the new
    ``input_size`` (w, h) and a heatmap size with the same stride; every
    ``TopdownAffine`` gets the new input size.
    """
    w, h = (int(v) for v in input_size)

    def fn(d):
        if 'input_size' in d and 'heatmap_size' in d:
            iw, ih = d['input_size']
            hw, hh = d['heatmap_size']
            sx, sy = iw / hw, ih / hh
            d['input_size'] = (w, h)
            d['heatmap_size'] = (int(round(w / sx)), int(round(h / sy)))
        elif d.get('type') == 'TopdownAffine':
            d['input_size'] = (w, h)

    _walk(cfg._cfg_dict, fn)
    return cfg


def shrink(cfg: Config, width: int, num_stacks: int = 2) -> Config:
    """Tiny version of an HRNet-family or SADI-Net config (``width`` = the
    width of the highest-resolution branch)."""
    bb = cfg.model.backbone.type
    if bb in HRNET_BACKBONES:
        cfg.merge_from_dict(tiny_hrnet_overrides(width))
    elif bb in SADI_BACKBONES:
        opts = tiny_sadi_overrides(width, num_stacks)
        if cfg.model.get('neck') is None:
            opts = {k: v for k, v in opts.items() if '.neck.' not in k}
            opts.pop('model.head.in_channels')
        cfg.merge_from_dict(opts)
    else:
        raise ValueError(f'shrink: no tiny version of backbone {bb!r} '
                         f'(known: {HRNET_BACKBONES + SADI_BACKBONES})')
    return cfg


def dataset_format(cfg: Config) -> str:
    """Generated-data format of the config's training set."""
    ds = cfg.train_dataloader.dataset
    t = ds.type
    # dataset wrappers: the plugin's SkipBadSamples(dataset_type=...) keeps
    # the wrapped data set's arguments flat; MMEngine's wrappers nest them
    while t not in DATASET_FORMATS:
        if 'dataset_type' in ds and ds.dataset_type != t:
            t = ds.dataset_type
        elif isinstance(ds.get('dataset'), dict):
            ds = ds.dataset
            t = ds.type
        else:
            break
    if t not in DATASET_FORMATS:
        raise ValueError(
            f'training dataset {t!r}: benchmarks generate data for '
            f'{sorted(DATASET_FORMATS)} only (e.g. use the LspDataset entry '
            'of a combined LSP config as train_dataloader.dataset)')
    return DATASET_FORMATS[t]


def data_overrides(cfg: Config, root: str, bbox_file: bool = False) -> Dict:
    """``--cfg-options`` that point the config's loaders (and evaluators) at
    a generated data set of its format under ``root``."""
    fmt = dataset_format(cfg)
    if fmt == 'coco':
        return coco_data_overrides(root, bbox_file=bbox_file)
    root = osp.abspath(root)
    out = {'train_dataloader.dataset.data_root': root}
    for split in ('val', 'test'):
        out[f'{split}_dataloader.dataset.data_root'] = root
        if fmt == 'mpii':
            out[f'{split}_dataloader.dataset.headbox_file'] = osp.join(
                root, 'annotations', 'mpii_gt_val.mat')
    return out


def generate_data(
    fmt: str,
    root: str,
    num_train: int,
    num_val: int,
    seed: int = 0,
    image_size: Sequence[int] = (320, 240)) -> str:
    """Generate (once: reused when ``root`` holds a marker of the same
    arguments) a synthetic data set."""
    marker = osp.join(root, '.benchmark_data')
    key = repr((fmt, num_train, num_val, seed, tuple(image_size)))
    if osp.isfile(marker) and open(marker).read() == key:
        return root
    generate_dataset(
        fmt,
        root,
        num_train=num_train,
        num_val=num_val,
        seed=seed,
        image_size=tuple(image_size))
    with open(marker, 'w') as f:
        f.write(key)
    return root


def demo_image_and_box(cfg: Config, work_dir: str):
    """One generated 640x480 image of the config's data set format and a
    person box on it: the end-to-end benchmarks' input.

    Returns:
        tuple: the BGR image (H, W, 3) and its box (1, 4) x1y1x2y2.
    """
    root = generate_data(
        dataset_format(cfg),
        osp.join(work_dir, 'img'),
        1,
        1,
        seed=0,
        image_size=(640, 480))
    img_path = sorted(
        glob.glob(osp.join(root, '**', '*.jpg'), recursive=True))[0]
    return cv2.imread(img_path), np.array([[160, 60, 480, 460]], np.float32)


def build_model(cfg: Config, seed: int = 0) -> torch.nn.Module:
    """The model of an (offline) config, initialised, on CPU."""
    init_default_scope(cfg.get('default_scope', 'mmpose'))
    torch.manual_seed(seed)
    model = MODELS.build(make_offline(copy.deepcopy(cfg)).model)
    model.init_weights()
    return model


@torch.no_grad()
def calibrate_bn(model: torch.nn.Module,
                 inputs: torch.Tensor,
                 steps: int = 2) -> None:
    """Give an untrained model the batch-norm statistics of its own
    activations (as training would), in place.

    With initial weights (std 0.001 in MMPose's HRNet / hourglass inits)
    and initial BN statistics (mean 0, var 1), eval-mode activations shrink
    layer after layer into subnormal floats, and CPU arithmetic on
    subnormals is one to two orders of magnitude slower: an eval-mode
    forward of such a model measures the subnormals, not the model. Running
    statistics estimated on ``inputs`` (cumulative average over ``steps``
    train-mode forwards) keep every BN output at unit scale, as in a trained
    model.
    """
    bns = [
        m for m in model.modules()
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
    ]
    if not bns:
        return
    was_training = model.training
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    for _ in range(steps):
        model(inputs, None, mode='tensor')
    for m, mom in zip(bns, momenta):
        m.momentum = mom
    model.train(was_training)


# --------------------------------------------------------------- stats
def summarize(values: Sequence[float]) -> Dict:
    """min, median, mean, max and n of a list of timings."""
    v = list(values)
    if not v:
        return dict(min=None, median=None, mean=None, max=None, n=0)
    return dict(
        min=min(v),
        median=statistics.median(v),
        mean=statistics.fmean(v),
        max=max(v),
        n=len(v))


def paired_ratios(times: Sequence[float], ref: Sequence[float]) -> Dict:
    """Ratios of interleaved timings: ``min``= min(times) / min(ref),
    ``median`` = median over rounds of times[i] / ref[i] (each round ran
    both back to back, so load changes between rounds cancel)."""
    if not times or not ref:
        return dict(min=None, median=None)
    per_round = [t / r for t, r in zip(times, ref)]
    return dict(min=min(times) / min(ref), median=statistics.median(per_round))


CLOCKS = {'wall': time.perf_counter, 'cpu': time.process_time}
_clock = {'name': 'wall'}


def set_clock(name: str) -> None:
    """Clock of :class:`Timer`: ``'wall'`` (default) or ``'cpu'`` (CPU time
    of this process: with ONE thread on a shared machine it leaves out the
    time the process waited for a core; with more threads it adds up their
    times, spin-waiting included, so use it with ``--threads 1``)."""
    if name not in CLOCKS:
        raise ValueError(f'clock must be one of {sorted(CLOCKS)}, got '
                         f'{name!r}')
    _clock['name'] = name


def clock_name() -> str:
    return _clock['name']


class Timer:
    """``with Timer() as t: ...`` then ``t.seconds`` (see :func:`set_clock`).
    """

    def __enter__(self):
        self._clock = CLOCKS[_clock['name']]
        self._t = self._clock()
        return self

    def __exit__(self, *exc):
        self.seconds = self._clock() - self._t
        return False


# --------------------------------------------------------------- tables
def fmt(v, spec: str = '.2f', none: str = '-') -> str:
    if v is None:
        return none
    if isinstance(v, str):
        return v
    return format(v, spec)


def md_table(headers: Sequence[str], rows: List[Sequence]) -> str:
    """A GitHub Markdown table of strings."""
    lines = [
        '| ' + ' | '.join(headers) + ' |',
        '|' + '|'.join('---' for _ in headers) + '|'
    ]
    for row in rows:
        lines.append('| ' + ' | '.join(str(c) for c in row) + ' |')
    return '\n'.join(lines)


def machine_line(info: Dict) -> str:
    load = info.get('loadavg')
    return (f'Machine: {info["cpu"]}, {info["logical_cpus"]} logical CPUs, '
            f'torch {info["torch"]} ({info["torch_threads"]} threads), '
            f'{info.get("clock", clock_name())} clock, load average {load} '
            'at start, '
            f'{info["date"]}')


def to_plain(obj):
    """Config/tuple-free copy for JSON."""
    if isinstance(obj, (dict, ConfigDict)):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, float) and obj != obj:
        return None
    return obj


def generated_crops(model, work_dir: str, num: int) -> np.ndarray:
    """``num`` crops of a generated COCO-format data set (crops only need
    person boxes: they serve a config of any keypoint set)."""
    root = generate_data(
        'coco',
        osp.join(work_dir, 'calib'),
        num,
        1,
        seed=1,
        image_size=(320, 240))
    return dataset_crops(
        model,
        osp.join(root, 'annotations', 'person_keypoints_train2017.json'),
        osp.join(root, 'train2017'),
        'CocoDataset',
        max_crops=num)
