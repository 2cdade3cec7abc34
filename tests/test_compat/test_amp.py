# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""``--amp`` without a GPU: AmpOptimWrapper builds with bfloat16 CPU
autocast and no loss scaling; float16 is refused with the fix."""
import pytest
import torch
from mmengine.optim import build_optim_wrapper

import mmpose_ext  # noqa: F401  (installs the patch)
from mmpose_ext.compat.amp import _accelerator_available

pytestmark = pytest.mark.skipif(
    _accelerator_available(), reason='the patch only acts without a GPU')


def _wrapper(**kwargs):
    model = torch.nn.Linear(3, 1)
    cfg = dict(
        type='AmpOptimWrapper',
        loss_scale='dynamic',  # what MMPose's tools/train.py --amp sets
        optimizer=dict(type='SGD', lr=0.1),
        **kwargs)
    return model, build_optim_wrapper(model, cfg)


def test_amp_on_cpu_is_bf16_autocast_without_scaling():
    model, wrapper = _wrapper()
    assert wrapper.cast_dtype == torch.bfloat16
    before = model.weight.detach().clone()
    with wrapper.optim_context(model):
        out = model(torch.ones(2, 3))
    assert out.dtype == torch.bfloat16
    loss = out.float().sum()
    wrapper.update_params(loss)
    # a plain SGD step: the loss was not scaled
    assert torch.allclose(model.weight, before - 0.1 * 2, atol=1e-6)
    state = wrapper.state_dict()
    assert state['loss_scaler'] == {}
    _, again = _wrapper()
    again.load_state_dict(state)  # resume works


def test_amp_on_cpu_refuses_float16():
    with pytest.raises(ValueError, match="only bfloat16.*dtype='bfloat16'"):
        _wrapper(dtype='float16')
    assert _wrapper(dtype='bfloat16')[1].cast_dtype == torch.bfloat16
