# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""``Pretrained`` initialisation that never falls back silently."""
import copy
import inspect
import logging
import os.path as osp
from typing import List, Optional, Union
from urllib.error import URLError

import torch
from mmengine.logging import print_log
from mmengine.model.weight_init import PretrainedInit, initialize
from mmengine.runner.checkpoint import (_load_checkpoint,
                                        _load_checkpoint_to_model,
                                        _load_checkpoint_with_prefix,
                                        load_state_dict)
from mmpose.registry import WEIGHT_INITIALIZERS
from torch import nn

#: Attribute a module gets when its weights will come from a checkpoint the
#: runner resumes from (set by :class:`~mmpose_ext.engine.hooks.
#: RecipeCheckHook`); the pretrained file is then neither needed nor read.
WEIGHTS_FROM_RESUME = '_mmpose_ext_weights_from_resume'

# what "cannot be read" means: no network, a missing local file, an HTTP
# error (URLError covers HTTPError and wrapped socket errors)
_UNREADABLE = (URLError, FileNotFoundError, ConnectionError, TimeoutError)


class PretrainedUnavailableError(RuntimeError):
    """The configured pretrained checkpoint cannot be read."""


def default_init_cfg(
        module: Union[nn.Module, type]) -> Optional[Union[dict, List[dict]]]:
    """The ``init_cfg`` default of a module's class (the initialisation it
    gets when built without one), e.g. HRNet's ``[Normal(std=0.001) on
    Conv2d, Constant(1) on norm layers]``; None if no class in its MRO
    declares one.

    Args:
        module (nn.Module | type): A module or a module class.
    """
    cls0 = module if isinstance(module, type) else type(module)
    for cls in cls0.__mro__:
        init = cls.__dict__.get('__init__')
        if init is None:
            continue
        param = inspect.signature(init).parameters.get('init_cfg')
        if param is not None and param.default is not inspect.Parameter.empty:
            return copy.deepcopy(param.default)
    return None


def _where_looked(checkpoint: str) -> str:
    if checkpoint.startswith(('http://', 'https://')):
        cache = osp.join(torch.hub.get_dir(), 'checkpoints',
                         osp.basename(checkpoint.split('?')[0]))
        return (f'the torch hub cache ({cache}), then a download from '
                f'{checkpoint}')
    return osp.abspath(osp.expanduser(checkpoint))


@WEIGHT_INITIALIZERS.register_module(name='CheckedPretrained')
class CheckedPretrainedInit(PretrainedInit):
    """MMEngine's ``Pretrained`` that stops with a clear error when the
    checkpoint cannot be read, unless random initialisation is opted in.

    MMPose's HRNet configs initialise the backbone from ImageNet weights on
    ``download.openmmlab.com``. On an offline machine (most GPU clusters)
    or with a wrong local path, plain ``Pretrained`` fails with a bare
    ``URLError``. Silently training from scratch instead would change the
    result (the SG-HRNet paper's own table puts ImageNet pretraining at
    ~2.4 AP), so this initialiser raises
    :class:`PretrainedUnavailableError` naming the file, where it was looked
    for and the two ways on: provide the file, or opt in to random
    initialisation with ``allow_random_init=True``, e.g.::

        --cfg-options model.backbone.init_cfg.allow_random_init=True

    With the opt-in, the module gets its own class's default initialisation
    (``random_init_cfg``; for HRNet: Normal(std=0.001) convolutions, norm
    weights 1 and biases 0, as HRNet's code), not PyTorch's default, and a
    WARNING says so. A checkpoint that exists but cannot be used (corrupt,
    unsafe, a pickle that would run code) is always an error.

    When the runner resumes training from a checkpoint, the weights come
    from there; :class:`~mmpose_ext.engine.hooks.RecipeCheckHook` marks the
    module and the pretrained file is not read at all.

    Order: ``BaseModule.init_weights`` applies an init type named
    ``Pretrained`` after the children's own ``init_weights`` and every
    other type before them. This one loads like ``Pretrained``: it
    initialises the children first itself (``BaseModule`` then skips them
    as already initialised) and loads the checkpoint over them. The random
    fallback is applied in the other order, before the children's own
    initialisers (the order a plain ``init_cfg`` gets), so e.g. the SGMs of
    SG-HRNet keep their own init in both cases.

    Args:
        checkpoint (str): Local path or URL of the checkpoint.
        prefix (str, optional): As ``Pretrained``: load only the sub-module
            with this prefix. Defaults to None.
        map_location (str): As ``Pretrained``. Defaults to ``'cpu'``.
        allow_random_init (bool): Initialise randomly (``random_init_cfg``)
            with a warning when the checkpoint cannot be read, instead of
            raising. Defaults to False.
        random_init_cfg (dict | list[dict], optional): The initialisation
            used then; None means the default ``init_cfg`` of the module's
            class (:func:`default_init_cfg`). Defaults to None.
    """

    def __init__(self,
                 checkpoint: str,
                 prefix: Optional[str] = None,
                 map_location: str = 'cpu',
                 allow_random_init: bool = False,
                 random_init_cfg: Optional[Union[dict, List[dict]]] = None):
        if not isinstance(checkpoint, str) or not checkpoint:
            raise ValueError('CheckedPretrained needs a checkpoint path or '
                             f'URL, got {checkpoint!r}')
        if not isinstance(allow_random_init, bool):
            raise ValueError('allow_random_init must be True or False, got '
                             f'{allow_random_init!r}')
        super().__init__(checkpoint, prefix=prefix, map_location=map_location)
        self.allow_random_init = allow_random_init
        self.random_init_cfg = random_init_cfg

    def __call__(self, module: nn.Module) -> None:
        if getattr(module, WEIGHTS_FROM_RESUME, False):
            print_log(
                f'{type(module).__name__}: weights come from the resumed '
                f'checkpoint; the pretrained file {self.checkpoint} is not '
                'read',
                logger='current')
            self._random_init(module)
            return
        try:
            if self.prefix is None:
                weights = _load_checkpoint(
                    self.checkpoint,
                    map_location=self.map_location,
                    logger='current')
            else:
                weights = _load_checkpoint_with_prefix(
                    self.prefix,
                    self.checkpoint,
                    map_location=self.map_location)
        except _UNREADABLE as e:
            self._unavailable(module, e)
            return
        # as Pretrained: the children's own initialisers first, then the
        # checkpoint over them
        for child in module.children():
            if hasattr(child, 'init_weights') and not getattr(
                    child, 'is_init', False):
                child.init_weights()
        print_log(f'load model from: {self.checkpoint}', logger='current')
        if self.prefix is None:
            _load_checkpoint_to_model(
                module, weights, strict=False, logger='current')
        else:
            load_state_dict(module, weights, strict=False, logger='current')

    def _unavailable(self, module: nn.Module, error: Exception) -> None:
        name = type(module).__name__
        reason = getattr(error, 'reason', None) or error
        if not self.allow_random_init:
            raise PretrainedUnavailableError(
                f'{name}: cannot read the pretrained checkpoint '
                f'"{self.checkpoint}" ({type(error).__name__}: {reason}); '
                f'looked in {_where_looked(self.checkpoint)}. The configured '
                'recipe starts from these weights and training from scratch '
                'changes the result. Either put the file there (download it '
                'where there is a network), or point to a local copy with '
                '--cfg-options model.backbone.init_cfg.checkpoint=/path/to/'
                f'{osp.basename(self.checkpoint)}, or opt in to random '
                'initialisation with --cfg-options '
                'model.backbone.init_cfg.allow_random_init=True.') from error
        print_log(
            f'{name}: cannot read the pretrained checkpoint '
            f'"{self.checkpoint}" ({type(error).__name__}: {reason}); '
            'allow_random_init=True, so it starts from its own random '
            f'initialisation ({self._fallback_cfg(module)}). Results will '
            'differ from a pretrained run.',
            logger='current',
            level=logging.WARNING)
        self._random_init(module)

    def _fallback_cfg(self, module: nn.Module):
        cfg = self.random_init_cfg
        return default_init_cfg(module) if cfg is None else copy.deepcopy(cfg)

    def _random_init(self, module: nn.Module) -> None:
        cfg = self._fallback_cfg(module)
        if cfg:
            initialize(module, cfg)

    def _get_init_info(self) -> str:
        return f'{self.__class__.__name__}: load from {self.checkpoint}'
