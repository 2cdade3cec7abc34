# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Heatmap head of SG-HRNet: keypoint heatmaps plus segmentation losses."""
from typing import Dict, Optional, Sequence, Union

import torch
from mmengine.structures import PixelData
from mmpose.models.heads import HeatmapHead
from mmpose.registry import MODELS
from mmpose.utils.typing import (ConfigType, OptConfigType, OptSampleList,
                                 Predictions)
from torch import Tensor

from ..backbones.sg_hrnet import SGHRNetOutput
from ..utils.precision import full_precision, to_float32
from .interface import TopdownHeadInterface, flip_merge

OptIntSeq = Optional[Sequence[int]]


@MODELS.register_module()
class SGHeatmapHead(TopdownHeadInterface, HeatmapHead):
    r"""SG-HRNet head: MMPose's :class:`HeatmapHead` on the keypoint feature
    plus the segmentation loss of every segmentation guided module (SGM).

    Input ``feats`` is what :class:`SGHRNet` returns, an
    :class:`SGHRNetOutput`: the keypoint branch reads ``feats[-1]`` exactly
    like ``HeatmapHead``, and the SGM logits come by name,
    ``feats.seg_logits`` (N of (B, 1, H, W) at the heatmap size).

    Loss (SG-HRNet eqs. 5-7):

    .. math::

        L = w_k(t) L_{key} + w_s(t) \lambda L_{seg}, \quad
        L_{seg} = \frac{1}{N B} \sum_{s=1}^{N} \sum_{b}
                  \big\| \mathrm{BCE}(M_{s,b}, \hat M_b) \big\|_1

    - ``L_key``: ``loss`` (``KeypointMSELoss`` with keypoint weights, i.e.
      MMPose's mean-reduced MSE), exactly as ``HeatmapHead``.
    - ``L_seg``: ``loss_seg`` (element-wise binary cross-entropy on the
      logits, numerically stable) against the disk mask
      ``gt_fields.seg_masks`` (:class:`DiskSegHeatmap`), SUMMED over the
      pixels of each map (eq. 6, the L1 norm) and averaged over the N maps
      and the batch. A sample without visible keypoints has an all-zero mask
      and simply pulls its maps towards 0.
    - ``w_k, w_s, lambda``: ``multi_task_loss``, by default
      :class:`DWAMultiTaskLoss` with tasks ``('kpt', 'seg')``; ``lambda`` is
      its ``task_scales`` entry for ``'seg'``.

    How lambda is chosen: the paper's 0.002 balances ITS reductions; ours
    differ (MMPose's MSE is a mean over B*K*H*W, the BCE is a sum over
    pixels), so lambda is set so that ``lambda * L_seg`` starts at the
    magnitude of ``L_key``. At initialisation the keypoint heatmaps are ~0,
    so ``L_key ~ v * sum(G^2) / (H W)`` with ``sum(G^2) ~ pi sigma^2 = 12.6``
    per drawn Gaussian and ``v`` the fraction of weighted keypoints, and the
    SGM logits are ~0 (see :class:`SegmentationGuidedModule`), so
    ``L_seg = ln(2) H W``. Hence ``lambda ~ v pi sigma^2 / (ln2 (H W)^2)``.
    Measured at init on generated data through the real training pipelines
    (3 batches of 16): COCO 256x192 (64x48 heatmaps) ``L_key = 3.48e-3``,
    ``L_seg = 2128``, ``v = 0.87``, so ``lambda = 1.6e-6``; MPII 256x256
    (64x64) ``L_key = 3.09e-3``, ``L_seg = 2832``, ``v = 0.98``, so
    ``lambda = 1.1e-6``, as the formula predicts. Lambda scales with
    ``1 / (H W)^2``: change it with the heatmap size. DWA's ratios are scale
    free, so lambda only sets the relative weight of the two terms.

    Logged (and summed into the total by MMEngine when named ``loss*``):

    - ``loss_kpt``: ``w_k * L_key``
    - ``loss_seg``: ``w_s * lambda * L_seg``
    - ``dwa_w_kpt``, ``dwa_w_seg``: the DWA weights applied (one entry per
      task name, ``dwa_w_<name>``)
    - ``acc_pose``: heatmap PCK, as ``HeatmapHead``

    Prediction is ``HeatmapHead``'s (flip test and decoding included) and
    ignores the segmentation maps unless ``test_cfg['output_seg_maps']`` is
    true; then every returned ``PixelData`` also holds ``seg_maps``, the
    SGM probabilities in shape (N, H, W) (flip-averaged under flip test,
    with the heatmaps' ``shift_heatmap``), for visualisation.

    Args:
        in_channels (int | Sequence[int]): Channels of the keypoint feature.
        out_channels (int): Number of keypoints K.
        deconv_out_channels (Sequence[int], optional): As ``HeatmapHead``.
            Defaults to ``None``: the SGM maps are at the heatmap size, so no
            upsampling.
        deconv_kernel_sizes (Sequence[int], optional): As ``HeatmapHead``.
            Defaults to ``None``.
        conv_out_channels (Sequence[int], optional): As ``HeatmapHead``.
        conv_kernel_sizes (Sequence[int], optional): As ``HeatmapHead``.
        final_layer (dict): As ``HeatmapHead``. Defaults to a 1x1 conv.
        loss (dict): The keypoint heatmap loss. Defaults to
            ``dict(type='KeypointMSELoss', use_target_weight=True)``.
        loss_seg (dict): The segmentation loss; it must return element-wise
            losses (B, N, H, W) for logits and targets of that shape.
            Defaults to ``dict(type='BCELoss', reduction='none')`` (MMPose's
            BCE on logits).
        multi_task_loss (dict): Combines the two task losses; built from
            ``MODELS`` and called as ``m(dict(kpt=..., seg=...))``, returning
            ``(weighted_losses, weights)``. Defaults to
            ``dict(type='DWAMultiTaskLoss', task_names=('kpt', 'seg'),
            task_scales=(1.0, 1.6e-6), mode='iter', temperature=1.0)``
            (lambda for 64x48 heatmaps, see above).
        decoder (dict, optional): The codec config (for prediction).
        init_cfg (dict, optional): Initialization config.
    """

    def __init__(self,
                 in_channels: Union[int, Sequence[int]],
                 out_channels: int,
                 deconv_out_channels: OptIntSeq = None,
                 deconv_kernel_sizes: OptIntSeq = None,
                 conv_out_channels: OptIntSeq = None,
                 conv_kernel_sizes: OptIntSeq = None,
                 final_layer: dict = dict(kernel_size=1),
                 loss: ConfigType = dict(
                     type='KeypointMSELoss', use_target_weight=True),
                 loss_seg: ConfigType = dict(type='BCELoss', reduction='none'),
                 multi_task_loss: ConfigType = dict(
                     type='DWAMultiTaskLoss',
                     task_names=('kpt', 'seg'),
                     task_scales=(1.0, 1.6e-6),
                     mode='iter',
                     temperature=1.0),
                 decoder: OptConfigType = None,
                 init_cfg: OptConfigType = None):
        super().__init__(
            in_channels=in_channels,
            out_channels=out_channels,
            deconv_out_channels=deconv_out_channels,
            deconv_kernel_sizes=deconv_kernel_sizes,
            conv_out_channels=conv_out_channels,
            conv_kernel_sizes=conv_kernel_sizes,
            final_layer=final_layer,
            loss=loss,
            decoder=decoder,
            init_cfg=init_cfg)
        self.seg_loss_module = MODELS.build(loss_seg)
        self.multi_task_loss = MODELS.build(multi_task_loss)

    # ------------------------------------------------------------ helpers
    @staticmethod
    def _seg_logits(feats: SGHRNetOutput) -> Tensor:
        """The SGM logits of ``feats``, concatenated: (B, N, H, W)."""
        logits = getattr(feats, 'seg_logits', None) if isinstance(
            feats, SGHRNetOutput) else None
        if not logits:
            raise ValueError(
                'SGHeatmapHead expects the SGHRNetOutput of SGHRNet (its '
                '.seg_logits hold the segmentation guided modules\' logits), '
                f'got {type(feats).__name__}; use it with an SGHRNet backbone '
                'that has at least one SGM')
        return torch.cat(logits, dim=1)

    def forward(self, feats: SGHRNetOutput) -> Tensor:
        """Keypoint heatmaps from ``feats[-1]``.

        Args:
            feats (SGHRNetOutput): The backbone's output; its last feature
                is the keypoint feature (B, C, H, W).

        Returns:
            Tensor: heatmaps (B, K, H', W') (H' = H without deconvs).
        """
        x = feats[-1]
        if isinstance(self.in_channels,
                      int) and x.shape[1] != self.in_channels:
            raise ValueError(f'{self.__class__.__name__} has in_channels='
                             f'{self.in_channels} but the keypoint feature '
                             f'has {x.shape[1]} channels')
        # float32 heatmaps under autocast: the MSE and the decoding
        return to_float32(super().forward(feats))[0]

    def seg_maps(self, feats: SGHRNetOutput) -> Tensor:
        """The SGM segmentation probabilities, (B, N, H, W)."""
        return self._seg_logits(feats).sigmoid()

    def extra_maps(self,
                   feats: SGHRNetOutput,
                   test_cfg: ConfigType = {}) -> Dict[str, Tensor]:
        """``seg_maps``: the SGM probabilities (B, N, H, W)."""
        return dict(seg_maps=self.seg_maps(feats))

    def forward_is_prediction(self, test_cfg: ConfigType = {}) -> bool:
        """The exported keypoint heatmaps are the prediction unless the seg
        maps are asked for too."""
        return not test_cfg.get('output_seg_maps', False)

    # ------------------------------------------------------------ predict
    def predict(self,
                feats: Union[SGHRNetOutput, Sequence[SGHRNetOutput]],
                batch_data_samples: OptSampleList,
                test_cfg: ConfigType = {}) -> Predictions:
        """Predict keypoints as :meth:`HeatmapHead.predict`.

        With ``test_cfg['output_seg_maps']`` the returned ``PixelData`` also
        carry ``seg_maps`` (N, H, W), the SGM probabilities.

        Args:
            feats (SGHRNetOutput | list): The backbone output (two of them
                under flip test).
            batch_data_samples (List[:obj:`PoseDataSample`]): The batch
                data samples.
            test_cfg (dict): The runtime config for testing process.

        Returns:
            ``InstanceList`` or ``(InstanceList, PixelDataList)`` as
            ``HeatmapHead.predict``.
        """
        preds = super().predict(feats, batch_data_samples, test_cfg)
        if not test_cfg.get('output_seg_maps', False):
            return preds

        # flip-merged as the heatmaps (same resolution); each map is its
        # own mirror image: no channel swap
        one = feats[0] if test_cfg.get('flip_test', False) else feats
        seg = flip_merge(
            self.seg_maps,
            feats,
            batch_data_samples,
            dict(test_cfg, flip_mode='heatmap'),
            flip_indices=list(range(len(one.seg_logits))))

        if isinstance(preds, tuple):
            preds, pred_fields = preds
        else:
            pred_fields = [PixelData() for _ in range(len(preds))]
        for field, s in zip(pred_fields, seg.detach()):
            field.seg_maps = s
        return preds, pred_fields

    # ------------------------------------------------------------ loss
    def loss(self,
             feats: SGHRNetOutput,
             batch_data_samples: OptSampleList,
             train_cfg: ConfigType = {}) -> dict:
        """Keypoint and segmentation losses, combined by DWA.

        Args:
            feats (SGHRNetOutput): The backbone output (keypoint feature
                last, the SGM logits as ``.seg_logits``).
            batch_data_samples (List[:obj:`PoseDataSample`]): With
                ``gt_fields.heatmaps`` (K, H, W), ``gt_fields.seg_masks``
                (1, H, W) and ``gt_instance_labels.keypoint_weights`` (1, K).
            train_cfg (dict): The runtime config for training process.

        Returns:
            dict: ``loss_kpt``, ``loss_seg``, ``dwa_w_<task>`` and
            (with ``compute_acc``) ``acc_pose``.
        """
        seg_logits = self._seg_logits(feats)  # (B, N, H, W)
        gt_seg = torch.stack([
            d.gt_fields.seg_masks for d in batch_data_samples
        ])  # (B, 1, H, W)
        if gt_seg.shape[-2:] != seg_logits.shape[-2:] or gt_seg.shape[1] != 1:
            raise ValueError(
                f'segmentation maps {tuple(seg_logits.shape)} and target '
                f'seg_masks {tuple(gt_seg.shape)} must share (H, W) and the '
                'target must have one channel: set the codec heatmap_size '
                'to the SGM resolution (1/4 of the input)')

        # HeatmapHead.loss: L_key (mean-reduced MSE) and acc_pose
        losses = super().loss(feats, batch_data_samples, train_cfg)
        # BCE on logits, summed over every pixel: float32 under autocast
        seg_logits = to_float32(seg_logits)[0]
        with full_precision(seg_logits):
            bce = self.seg_loss_module(
                seg_logits,
                gt_seg.to(seg_logits.dtype).expand_as(seg_logits))
        if bce.shape != seg_logits.shape:
            raise ValueError('loss_seg must return element-wise losses; got '
                             f'shape {tuple(bce.shape)} for inputs of shape '
                             f'{tuple(seg_logits.shape)}')
        # eq. 6: L1 norm (sum) over pixels; mean over the N maps and batch
        loss_seg = bce.sum(dim=(2, 3)).mean()

        with full_precision(seg_logits):
            weighted, weights = self.multi_task_loss(
                dict(kpt=losses['loss_kpt'], seg=loss_seg))
        losses['loss_kpt'] = weighted['kpt']
        losses['loss_seg'] = weighted['seg']
        names = getattr(self.multi_task_loss, 'task_names', ('kpt', 'seg'))
        for name, w in zip(names, weights):
            losses[f'dwa_w_{name}'] = w.to(seg_logits.device)
        return losses
