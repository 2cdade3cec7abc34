# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""scale_grad: identity forward, scaled backward."""
import pytest
import torch

from mmpose_ext.models.utils.grad_scale import scale_grad


@pytest.mark.parametrize('scale', [0.0, 1e-7, 0.5, 1.0, 3.0])
def test_forward_is_identity_and_backward_is_scaled(scale):
    x = torch.randn(3, 4, requires_grad=True)
    w = torch.randn(3, 4)
    y = scale_grad(x, scale)
    torch.testing.assert_close(y, x)
    if scale == 0:
        assert not y.requires_grad
        return
    (y * w).sum().backward()
    torch.testing.assert_close(x.grad, scale * w)


def test_negative_scale_raises():
    with pytest.raises(ValueError, match='>= 0'):
        scale_grad(torch.ones(2, requires_grad=True), -0.5)
