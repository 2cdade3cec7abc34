# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""What the plugin's estimators, visualisation and export ask of a head.

MMPose's ``BaseHead`` gives ``forward``, ``predict``, ``loss`` and
``decode``. :class:`~mmpose_ext.models.MultiScaleTopdownPoseEstimator`
(image pyramid), :mod:`mmpose_ext.apis.heatmap_vis` (figures) and
:mod:`mmpose_ext.apis.onnx_backend` (export) need a little more, and ask
for it through this one contract instead of probing attributes:

* :meth:`TopdownHeadInterface.prediction_source`: does ``predict`` decode
  heatmaps (``'heatmap'``: scales can be merged as heatmaps) or
  coordinates (``'coordinate'``: scales are merged as keypoints)?
* :meth:`~TopdownHeadInterface.predict_heatmaps`: the flip-merged heatmaps
  that ``predict`` decodes;
* :meth:`~TopdownHeadInterface.coordinate_decoder`: the codec that decodes
  keypoints (``'coordinate'``), to map them between pyramid frames;
* :meth:`~TopdownHeadInterface.forward_is_prediction`: is ``predict`` the
  flip merge of ``forward`` alone (what an exported ``forward`` graph can
  reproduce)?
* :meth:`~TopdownHeadInterface.uses_neck_output`: may the estimator skip the
  neck at test time?
* :meth:`~TopdownHeadInterface.extra_maps`: model-specific maps for figures.

The plugin's heads (``SGHeatmapHead``, ``DLMHead``) implement it;
:func:`as_topdown_head` gives MMPose's own heads the same face
(``HeatmapHead``, ``CPMHead`` and their subclasses as heatmap heads, any
other head as a coordinate head that decodes with its ``decoder``).
"""
from typing import Callable, Dict, Optional, Sequence

from mmpose.models.heads import CPMHead, HeatmapHead
from mmpose.models.utils.tta import flip_coordinates, flip_heatmaps
from mmpose.utils.typing import ConfigType, OptSampleList
from torch import Tensor, nn

__all__ = ['TopdownHeadInterface', 'as_topdown_head', 'flip_merge']

SOURCES = ('heatmap', 'coordinate')


def flip_merge(view: Callable,
               feats,
               batch_data_samples: OptSampleList,
               test_cfg: ConfigType,
               coords: bool = False,
               flip_indices: Optional[Sequence[int]] = None) -> Tensor:
    """``view(feats)``, or under ``test_cfg['flip_test']`` the average of the
    views of ``feats = [orig, flipped]``, the flipped one mirrored back with
    MMPose's own rules: ``flip_heatmaps`` (``flip_mode``, ``shift_heatmap``;
    as ``HeatmapHead``) or, with ``coords``, ``flip_coordinates``
    (``shift_coords``; as ``RLEHead``).

    Args:
        view (callable): features -> (B, K, H, W) heatmaps or (B, K, D)
            normalised coordinates.
        feats: One set of head inputs, or ``[feats, feats_flipped]``.
        batch_data_samples (list): Data samples (``flip_indices`` and
            ``input_size`` in their metainfo).
        test_cfg (dict): The test config.
        coords (bool): Coordinates instead of heatmaps.
        flip_indices (Sequence[int], optional): Which channel each channel
            becomes when mirrored; None: the keypoints' (metainfo).

    Returns:
        Tensor: The merged view.
    """
    if not test_cfg.get('flip_test', False):
        return view(feats)
    assert isinstance(feats, list) and len(feats) == 2
    meta = batch_data_samples[0].metainfo
    if flip_indices is None:
        flip_indices = meta['flip_indices']
    _feats, _feats_flip = feats
    if coords:
        flipped = flip_coordinates(
            view(_feats_flip).clone(),  # flip_coordinates writes in place
            flip_indices=flip_indices,
            shift_coords=test_cfg.get('shift_coords', True),
            input_size=meta['input_size'])
    else:
        flipped = flip_heatmaps(
            view(_feats_flip),
            flip_mode=test_cfg.get('flip_mode', 'heatmap'),
            flip_indices=flip_indices,
            shift_heatmap=test_cfg.get('shift_heatmap', False))
    return (view(_feats) + flipped) * 0.5


class TopdownHeadInterface:
    """Mixin: the contract of the module docstring, with the defaults of a
    heatmap head whose ``forward`` returns its heatmaps."""

    def prediction_source(self, test_cfg: ConfigType = {}) -> str:
        """``'heatmap'`` or ``'coordinate'``: what ``predict`` decodes."""
        return 'heatmap'

    def predict_heatmaps(self,
                         feats,
                         batch_data_samples: OptSampleList,
                         test_cfg: ConfigType = {}) -> Tensor:
        """The heatmaps ``predict`` decodes, flip-merged, (B, K, H, W)."""
        return flip_merge(self._final_heatmaps, feats, batch_data_samples,
                          test_cfg)

    def coordinate_decoder(self, test_cfg: ConfigType = {}):
        """The codec that decodes the keypoints of ``predict``."""
        return self.decoder

    def forward_is_prediction(self, test_cfg: ConfigType = {}) -> bool:
        """Whether ``predict`` is the flip merge of ``forward`` alone."""
        return True

    def uses_neck_output(self, test_cfg: ConfigType = {}) -> bool:
        """Whether prediction reads what the neck adds (the estimator may
        skip the neck otherwise)."""
        return True

    def extra_maps(self,
                   feats,
                   test_cfg: ConfigType = {}) -> Dict[str, Tensor]:
        """Model-specific maps of one forward (no flip), each (B, ...), for
        figures. None by default."""
        return {}

    def _final_heatmaps(self, feats) -> Tensor:
        out = self.forward(feats)
        return out[-1] if isinstance(out, (list, tuple)) else out


class _MMPoseHeadAdapter(TopdownHeadInterface):
    """The contract for one of MMPose's own heads (not a module: holds it)."""

    def __init__(self, head: nn.Module, source: str):
        self.head = head
        self.source = source

    @property
    def decoder(self):
        return getattr(self.head, 'decoder', None)

    def forward(self, feats):
        return self.head.forward(feats)

    def prediction_source(self, test_cfg: ConfigType = {}) -> str:
        return self.source

    def forward_is_prediction(self, test_cfg: ConfigType = {}) -> bool:
        return self.source == 'heatmap'

    def uses_neck_output(self, test_cfg: ConfigType = {}) -> bool:
        return True


def as_topdown_head(head: nn.Module) -> TopdownHeadInterface:
    """``head`` itself if it implements :class:`TopdownHeadInterface`, else
    an adapter: MMPose's ``HeatmapHead`` / ``CPMHead`` (and subclasses) are
    heatmap heads, anything else a coordinate head."""
    if isinstance(head, TopdownHeadInterface):
        return head
    source = 'heatmap' if isinstance(head, (HeatmapHead, CPMHead)) \
        else 'coordinate'
    return _MMPoseHeadAdapter(head, source)
