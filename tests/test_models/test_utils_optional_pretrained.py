# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""OptionalPretrained: random init offline, errors for everything else."""
import logging
from unittest import mock

import pytest
import torch
from mmengine.model import BaseModule
from torch import nn
from mmpose.models import build_backbone

from mmpose_ext.testing import tiny_hrnet_extra


def _hrnet(checkpoint):
    return build_backbone(
        dict(type='HRNet', extra=tiny_hrnet_extra(4),
             init_cfg=dict(type='OptionalPretrained', checkpoint=checkpoint)))


def test_unreachable_url_keeps_random_init_with_warning():
    # Port 9 on localhost refuses connections: the offline case, quickly.
    model = _hrnet('http://127.0.0.1:9/hrnet_w32.pth')
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with mock.patch(
            'mmpose_ext.models.utils.optional_pretrained.print_log') as log:
        model.init_weights()
    (msg, ), kwargs = log.call_args
    assert kwargs['level'] == logging.WARNING
    assert '127.0.0.1:9/hrnet_w32.pth' in msg and 'random' in msg
    # Nothing was loaded: the weights are still those built at construction.
    for k, v in before.items():
        assert torch.equal(v, model.state_dict()[k]), k


class _NetWithInitChild(BaseModule):
    """A module whose direct child has its own initialiser."""

    def __init__(self, init_cfg=None):
        super().__init__(init_cfg)
        self.child = BaseModule(
            init_cfg=dict(type='Constant', val=0.5, layer='Conv2d'))
        self.child.conv = nn.Conv2d(3, 4, 3)


def test_local_checkpoint_loads_after_child_init(tmp_path):
    src = _NetWithInitChild()
    with torch.no_grad():
        for p in src.parameters():
            p.uniform_(-1, 1)
    path = str(tmp_path / 'w.pth')
    torch.save({'state_dict': src.state_dict()}, path)
    model = _NetWithInitChild(
        init_cfg=dict(type='OptionalPretrained', checkpoint=path))
    # The child's Constant init must run before the load, not overwrite it.
    model.init_weights()
    for k, v in src.state_dict().items():
        assert torch.equal(v, model.state_dict()[k]), k


def test_missing_local_file_is_an_error(tmp_path):
    model = _hrnet(str(tmp_path / 'missing.pth'))
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        model.init_weights()
