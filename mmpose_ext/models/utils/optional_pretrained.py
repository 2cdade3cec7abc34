# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""A ``Pretrained`` initialiser that tolerates being offline."""
import logging
from urllib.error import HTTPError, URLError

from mmengine.logging import print_log
from mmengine.model.weight_init import PretrainedInit
from mmpose.registry import WEIGHT_INITIALIZERS


@WEIGHT_INITIALIZERS.register_module(name='OptionalPretrained')
class OptionalPretrainedInit(PretrainedInit):
    """Load a pretrained checkpoint if it can be reached, else keep random init.

    MMPose's HRNet configs initialise the backbone from ImageNet weights on
    ``download.openmmlab.com``. On an offline machine that download fails and
    training cannot start. This initialiser behaves exactly like MMEngine's
    ``Pretrained`` when the checkpoint is a local file, is already in the
    torch hub cache, or can be downloaded; only when the download fails for
    lack of a network (a ``URLError`` that is not an HTTP error) does it keep
    the module's random initialisation and log a WARNING that says so and how
    to provide the file. Every other failure (a missing local file, an HTTP
    404, a corrupt or unsafe checkpoint) is raised as usual.

    Use it in configs as ``init_cfg=dict(type='OptionalPretrained',
    checkpoint='https://...')``; arguments are those of ``Pretrained``.

    Note:
        ``BaseModule.init_weights`` applies an init type named ``Pretrained``
        after the children's own ``init_weights``, and any other type before
        them, so children could overwrite loaded weights. This initialiser
        therefore initialises the children first itself (``BaseModule`` then
        skips them as already initialised) and loads the checkpoint last, the
        order ``Pretrained`` gets. Set ``zero_init_residual=False`` (HRNet's
        default) with it, as HRNet only suppresses that for ``Pretrained``.
    """

    def __call__(self, module):
        for child in module.children():
            if hasattr(child, 'init_weights') and not getattr(
                    child, 'is_init', False):
                child.init_weights()
        try:
            super().__call__(module)
        except HTTPError:
            raise
        except URLError as e:
            print_log(
                f'OptionalPretrained: could not download "{self.checkpoint}" '
                f'({e.reason}); {type(module).__name__} keeps its random '
                'initialisation. Put the file in the torch hub cache '
                '(~/.cache/torch/hub/checkpoints) or set init_cfg.checkpoint '
                'to a local path to start from pretrained weights.',
                logger='current',
                level=logging.WARNING)

    def _get_init_info(self):
        return f'{self.__class__.__name__}: load from {self.checkpoint}'
