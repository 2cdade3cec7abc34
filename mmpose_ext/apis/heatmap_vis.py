# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""What a top-down model sees and predicts for one person, as a figure.

:func:`collect_maps` runs the model's own test pipeline on one person box
(the crop the network sees) and one forward pass without flip, and returns:

* every model: the crop, the predicted keypoint heatmaps (K, h, w) and the
  keypoints decoded from them (crop pixels);
* SG-HRNet (``SGHeatmapHead``): the segmentation map of every segmentation
  guided module (N, h, w), asked for with ``test_cfg['output_seg_maps']``
  (the paper's Fig. 4 shows poses; these are the masks that guide them);
* SADI-Net (``DLMHead``): H_rfm of every hourglass stack (S, K, h, w), the
  learned heatmap H_dlm (K, h, w) rendered from the regressed distribution,
  and the SFM's global-attention scale weights (4, H0, W0) (paper Fig. 7).

:func:`plot_maps` draws them in one matplotlib figure.
"""
import os
import os.path as osp
from typing import Dict, Optional, Sequence, Union

import cv2
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import init_default_scope

from ..models.heads import DLMHead, SGHeatmapHead
from ..models.heads.interface import as_topdown_head
from ..models.necks import SpatialFusionModule
from .boxes import check_bboxes
from .media import read_image

__all__ = ['collect_maps', 'plot_maps']


def _model_kind(model) -> str:
    if isinstance(model.head, SGHeatmapHead):
        return 'sg_hrnet'
    if isinstance(model.head, DLMHead):
        return 'sadi_net'
    return 'heatmap'


@torch.no_grad()
def collect_maps(model: torch.nn.Module,
                 img: Union[str, np.ndarray],
                 bbox: Optional[Sequence[float]] = None) -> Dict:
    """Crop, heatmaps and the model-specific maps of one person.

    Args:
        model (nn.Module): A top-down pose estimator from
            ``mmpose.apis.init_model`` (or :func:`init_pose_model`).
        img (str | np.ndarray): Image path or BGR (H, W, 3) array.
        bbox (Sequence[float], optional): ``x1, y1, x2, y2`` of the person in
            image pixels; None uses the whole image.

    Returns:
        dict: ``kind`` ('sg_hrnet', 'sadi_net' or 'heatmap'), ``bbox`` (4, ),
        ``crop`` (H_in, W_in, 3) RGB uint8, ``heatmaps`` (K, h, w),
        ``keypoints`` (K, 2) in crop pixels, ``keypoint_scores`` (K, ),
        ``keypoint_names`` (list of K str); for SG-HRNet ``seg_maps``
        (N, h, w) in [0, 1]; for SADI-Net ``h_rfm`` (S, K, h, w), ``h_dlm``
        (K, h, w) (absent when the head has no DLM) and ``sfm_weights``
        (num_scales, H0, W0) (absent without the SFM's global attention).
    """
    image = read_image(img) if isinstance(img, str) else img
    h, w = image.shape[:2]
    if bbox is None:
        bbox = [0, 0, w, h]
    box = check_bboxes(bbox, (h, w), source='bbox')[:1, :4]
    init_default_scope(model.cfg.get('default_scope', 'mmpose'))
    pipeline = Compose(model.cfg.test_dataloader.dataset.pipeline)
    data_info = dict(img=image, bbox=box, bbox_score=np.ones(1, np.float32))
    data_info.update(model.dataset_meta)
    data = pipeline(data_info)
    # the pipeline's crop: (3, H_in, W_in) uint8, BGR as loaded
    crop = data['inputs'].permute(1, 2, 0).cpu().numpy()[..., ::-1].copy()

    batch = model.data_preprocessor(pseudo_collate([data]), False)
    inputs, samples = batch['inputs'], batch['data_samples']
    kind = _model_kind(model)
    out = dict(kind=kind, bbox=box[0], crop=crop)

    backbone_out = model.backbone(inputs)
    feats = model.neck(backbone_out) if model.with_neck else backbone_out
    head = as_topdown_head(model.head)
    test_cfg = dict(output_heatmaps=True, flip_test=False)
    if kind == 'sadi_net':  # heatmaps of the decoded source (H_rfm default)
        test_cfg['predict_from'] = model.test_cfg.get('predict_from',
                                                      model.head.predict_from)
    for name, value in head.extra_maps(feats, test_cfg).items():
        out[name] = value[0].cpu().numpy()
    neck = model.neck if model.with_neck else None
    if isinstance(neck, SpatialFusionModule) and neck.with_global_attn:
        out['sfm_weights'] = neck.global_attention(
            backbone_out.features)[1][0].cpu().numpy()
    preds, fields = model.head.predict(feats, samples, test_cfg=test_cfg)
    out['heatmaps'] = fields[0].heatmaps.cpu().numpy()
    out['keypoints'] = np.asarray(preds[0].keypoints)[0]
    out['keypoint_scores'] = np.asarray(preds[0].keypoint_scores)[0]
    names = model.dataset_meta.get('keypoint_id2name', {})
    out['keypoint_names'] = [
        names.get(i, str(i)) for i in range(out['heatmaps'].shape[0])
    ]
    return out


def _resize(m: np.ndarray, size) -> np.ndarray:
    return cv2.resize(
        m.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)


def plot_maps(maps: Dict,
              out_file: Optional[str] = None,
              ncols: int = 6,
              title: Optional[str] = None):
    """One figure: crop with keypoints, every keypoint heatmap, and the
    model-specific maps (SG-HRNet segmentation maps per SGM stage; SADI-Net
    H_rfm beside H_dlm and the SFM scale weights).

    Args:
        maps (dict): Output of :func:`collect_maps`.
        out_file (str, optional): Save the figure there (png, pdf, ...).
        ncols (int): Panels per row of the keypoint grid.
        title (str, optional): Figure title.

    Returns:
        matplotlib.figure.Figure: The figure.
    """

    crop = maps['crop']
    ch, cw = crop.shape[:2]
    heatmaps = maps['heatmaps']
    k = heatmaps.shape[0]
    # first row: the crop + summary maps; then model maps; then keypoints
    summary = [('crop + keypoints', None, 'crop'),
               ('max over keypoints', heatmaps.max(0), 'overlay')]
    extra = []
    if maps['kind'] == 'sg_hrnet' and 'seg_maps' in maps:
        n = len(maps['seg_maps'])
        for i, m in enumerate(maps['seg_maps']):
            label = f'SGM stage {i + 2}' if i < n - 1 else 'SGM final'
            extra.append((f'seg: {label}', m, 'overlay01'))
    if maps['kind'] == 'sadi_net':
        rfm = maps['h_rfm']
        for s in range(len(rfm)):
            extra.append(
                (f'H_rfm stack {s + 1} (max)', rfm[s].max(0), 'overlay'))
        if 'h_dlm' in maps:
            extra.append(('H_dlm (max)', maps['h_dlm'].max(0), 'overlay'))
        if 'sfm_weights' in maps:
            sw = maps['sfm_weights']
            for i, m in enumerate(sw):
                extra.append((f'SFM weight, scale 1/{4 * 2**i}', m, 'plain01'))
    panels = summary + extra
    per_kpt = [(maps['keypoint_names'][j], heatmaps[j], 'overlay')
               for j in range(k)]
    if maps['kind'] == 'sadi_net' and 'h_dlm' in maps:
        per_kpt = []
        for j in range(k):
            name = maps['keypoint_names'][j]
            per_kpt.append((f'{name}: H_rfm', maps['h_rfm'][-1][j], 'overlay'))
            per_kpt.append((f'{name}: H_dlm', maps['h_dlm'][j], 'overlay'))
    rows_top = -(-len(panels) // ncols)
    rows_kpt = -(-len(per_kpt) // ncols)
    nrows = rows_top + rows_kpt
    fig = Figure(figsize=(2.0 * ncols, 2.4 * nrows * ch / max(cw, 1) * 0.8))
    FigureCanvasAgg(fig)
    grid = [p for p in panels] + [None] * (rows_top * ncols - len(panels)) \
        + per_kpt
    dim = (crop.astype(np.float32) * 0.5).astype(np.uint8)
    for idx, panel in enumerate(grid):
        ax = fig.add_subplot(nrows, ncols, idx + 1)
        ax.set_axis_off()
        if panel is None:
            continue
        label, m, mode = panel
        ax.set_title(label, fontsize=7)
        if mode == 'crop':
            ax.imshow(crop)
            kp, sc = maps['keypoints'], maps['keypoint_scores']
            ax.scatter(
                kp[:, 0],
                kp[:, 1],
                s=6,
                c=sc,
                cmap='autumn',
                vmin=0,
                vmax=max(float(sc.max()), 1e-6))
            ax.set_xlim(0, cw)
            ax.set_ylim(ch, 0)
        elif mode.startswith('overlay'):
            ax.imshow(dim)
            vmax = 1.0 if mode == 'overlay01' else max(float(m.max()), 1e-6)
            ax.imshow(
                _resize(np.clip(m, 0, None), (cw, ch)),
                cmap='jet',
                alpha=0.6,
                vmin=0,
                vmax=vmax)
        else:
            ax.imshow(m, cmap='viridis', vmin=0, vmax=1)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    if out_file:
        os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
        fig.savefig(out_file, dpi=110)
    return fig
