# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""CheckedPretrained: an error names the unreadable checkpoint; the opt-in
gives HRNet's own initialisation, never PyTorch's default."""
import logging
from unittest import mock

import pytest
import torch
from mmengine.model import BaseModule
from mmpose.models import build_backbone
from torch import nn

from mmpose_ext.devkit.testing import tiny_hrnet_extra
from mmpose_ext.models.utils import PretrainedUnavailableError
from mmpose_ext.models.utils.checked_pretrained import WEIGHTS_FROM_RESUME

# Port 9 on localhost refuses connections: the offline case, quickly.
OFFLINE_URL = 'http://127.0.0.1:9/hrnet_w32-36af842e.pth'


def _backbone(checkpoint, type_='SGHRNet', **init):
    return build_backbone(
        dict(
            type=type_,
            extra=tiny_hrnet_extra(8),
            init_cfg=dict(
                type='CheckedPretrained', checkpoint=checkpoint, **init)))


def test_unreachable_url_stops_with_the_fix_in_the_message(tmp_path):
    model = _backbone(OFFLINE_URL)
    with mock.patch('torch.hub.get_dir', return_value=str(tmp_path)):
        with pytest.raises(PretrainedUnavailableError) as err:
            model.init_weights()
    msg = str(err.value)
    assert OFFLINE_URL in msg
    # where it was looked for, and both ways on
    assert str(tmp_path / 'checkpoints' / 'hrnet_w32-36af842e.pth') in msg
    assert 'model.backbone.init_cfg.checkpoint=' in msg
    assert 'model.backbone.init_cfg.allow_random_init=True' in msg


def test_missing_local_file_names_its_absolute_path(tmp_path):
    model = _backbone(str(tmp_path / 'missing.pth'))
    with pytest.raises(
            PretrainedUnavailableError, match=str(tmp_path / 'missing.pth')):
        model.init_weights()


def _conv_stds(model, skip=('sgms', )):
    return {
        n: float(m.weight.detach().std())
        for n, m in model.named_modules()
        if isinstance(m, nn.Conv2d) and not n.startswith(skip)
    }


def test_opt_in_gives_hrnets_own_init_not_pytorchs():
    torch.manual_seed(0)
    model = _backbone(OFFLINE_URL, allow_random_init=True)
    default = _conv_stds(model)  # PyTorch's default at construction
    with mock.patch(
            'mmpose_ext.models.utils.checked_pretrained.print_log') as log:
        model.init_weights()
    warnings = [
        c for c in log.call_args_list
        if c.kwargs.get('level') == logging.WARNING
    ]
    assert len(warnings) == 1 and OFFLINE_URL in warnings[0].args[0]
    # HRNet's init_cfg: Normal(std=0.001) on every convolution ...
    stds = _conv_stds(model)
    assert max(stds.values()) < 0.0015 < min(default.values())
    # ... and norm layers at weight 1, bias 0
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)
    # the SGMs keep their own initialisers (applied after the fallback, as
    # for any plain init_cfg): Kaiming 3x3 conv, Normal(0.001) 1x1 conv
    for sgm in model.sgms.values():
        assert float(sgm.conv1.conv.weight.std()) > 0.01
        assert float(sgm.conv2.weight.std()) < 0.0015
        assert torch.all(sgm.conv2.bias == 0)


def test_opt_in_matches_a_plain_hrnet_init():
    """The fallback is exactly the initialisation HRNet gets from its own
    default init_cfg (same seed, same draws)."""
    torch.manual_seed(0)
    plain = build_backbone(dict(type='HRNet', extra=tiny_hrnet_extra(8)))
    plain.init_weights()
    torch.manual_seed(0)
    checked = _backbone(OFFLINE_URL, type_='HRNet', allow_random_init=True)
    checked.init_weights()
    for (k, a), b in zip(plain.state_dict().items(),
                         checked.state_dict().values()):
        assert torch.equal(a, b), k


def test_resumed_run_does_not_read_the_file(tmp_path):
    model = _backbone(str(tmp_path / 'missing.pth'))
    setattr(model, WEIGHTS_FROM_RESUME, True)  # what RecipeCheckHook does
    model.init_weights()  # no error: the weights come from the checkpoint


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
        init_cfg=dict(type='CheckedPretrained', checkpoint=path))
    # The child's Constant init must run before the load, not overwrite it.
    model.init_weights()
    for k, v in src.state_dict().items():
        assert torch.equal(v, model.state_dict()[k]), k


def test_corrupt_checkpoint_is_an_error_even_with_the_opt_in(tmp_path):
    path = tmp_path / 'corrupt.pth'
    path.write_bytes(b'not a checkpoint')
    model = _backbone(str(path), allow_random_init=True)
    with pytest.raises(Exception) as err:
        model.init_weights()
    assert not isinstance(err.value, PretrainedUnavailableError)
    assert 'corrupt.pth' in str(err.value)


@pytest.mark.parametrize(
    'bad',
    [dict(checkpoint=''),
     dict(checkpoint='x.pth', allow_random_init='yes')])
def test_invalid_arguments(bad):
    from mmpose_ext.models.utils import CheckedPretrainedInit
    with pytest.raises(ValueError):
        CheckedPretrainedInit(**bad)
