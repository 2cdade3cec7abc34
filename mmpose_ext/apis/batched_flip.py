# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Flip test in ONE network call: the crops and their mirrors as one batch.

MMPose's ``TopdownPoseEstimator.predict`` (and the plugin's
``MultiScaleTopdownPoseEstimator``, per scale) runs the network twice with
flip test: on the crops, then on ``inputs.flip(-1)``. Each call pays the
per-call overhead (Python, an ONNX Runtime / OpenVINO request), and a batch
of 2B keeps the CPU's vector units busier than two of B. Here the two are
concatenated along the batch axis, the features split back into the
``[feats, feats_flip]`` pair the head's ``predict`` takes, and the rest is
the estimator's own code: same heatmaps up to float rounding (convolutions
and eval-mode BatchNorm act per sample).
"""
import types
from typing import Any

import torch
from mmpose.models.pose_estimators import TopdownPoseEstimator
from torch import Tensor, nn

__all__ = ['enable_batched_flip', 'split_batch']


def split_batch(feats: Any, n: int):
    """Split every tensor of a (nested tuple / list / dict of) feature(s)
    at batch index ``n``: returns ``(first, second)`` with the container
    types kept (tuple subclasses and namedtuples too, e.g. the exported
    backends' heatmaps, the hourglass outputs); None stays None."""
    if isinstance(feats, Tensor):
        return feats[:n], feats[n:]
    if feats is None:
        return None, None
    if isinstance(feats, dict):
        parts = {k: split_batch(v, n) for k, v in feats.items()}
        first = {k: v[0] for k, v in parts.items()}
        second = {k: v[1] for k, v in parts.items()}
        return first, second
    if isinstance(feats, (list, tuple)):
        parts = [split_batch(v, n) for v in feats]
        first, second = [p[0] for p in parts], [p[1] for p in parts]
        if hasattr(feats, '_fields'):  # a namedtuple (e.g. HourglassOutput)
            return type(feats)(*first), type(feats)(*second)
        return type(feats)(first), type(feats)(second)
    raise TypeError(f'cannot split features of type {type(feats).__name__} '
                    'into the crops and their flipped copies')


def _topdown_predict(self, inputs: Tensor, data_samples):
    """``TopdownPoseEstimator.predict`` with the flip pair in one batch."""
    if not self.test_cfg.get('flip_test', False):
        return type(self).predict(self, inputs, data_samples)
    assert self.with_head, 'The model must have head to perform prediction.'
    feats = split_batch(
        self.extract_feat(torch.cat([inputs, inputs.flip(-1)])), len(inputs))
    preds = self.head.predict(
        list(feats), data_samples, test_cfg=self.test_cfg)
    if isinstance(preds, tuple):
        batch_pred_instances, batch_pred_fields = preds
    else:
        batch_pred_instances, batch_pred_fields = preds, None
    return self.add_pred_to_datasample(batch_pred_instances, batch_pred_fields,
                                       data_samples)


def _multiscale_extract(self, inputs: Tensor):
    """``MultiScaleTopdownPoseEstimator._extract`` in one batch."""
    if not self.test_cfg.get('flip_test', False):
        return self._test_feat(inputs)
    return list(
        split_batch(
            self._test_feat(torch.cat([inputs, inputs.flip(-1)])),
            len(inputs)))


def enable_batched_flip(model: nn.Module) -> nn.Module:
    """Run the flip test's two network passes as one batch, in place.

    Args:
        model (nn.Module): A ``TopdownPoseEstimator`` (MMPose's, the
            plugin's ``MultiScaleTopdownPoseEstimator``, or a subclass that
            keeps their ``predict``).

    Returns:
        nn.Module: ``model`` (``model.batched_flip`` is True; unchanged for
        estimators this does not know, which keep their own flip test).
    """
    # imported here: the pose estimator module imports the apis' helpers
    from ..models.pose_estimators import \
        MultiScaleTopdownPoseEstimator  # noqa: PLC0415
    if isinstance(model, MultiScaleTopdownPoseEstimator):
        model._extract = types.MethodType(_multiscale_extract, model)
    elif isinstance(model, TopdownPoseEstimator) and \
            type(model).predict is TopdownPoseEstimator.predict:
        model.predict = types.MethodType(_topdown_predict, model)
    else:
        model.batched_flip = False
        return model
    model.batched_flip = True
    return model
