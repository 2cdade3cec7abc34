# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Network-input crops of an annotated data set, made by the model's own
test pipeline and data preprocessor: what an exported network sees.

Used for INT8 calibration (:func:`~.openvino_backend.quantize_openvino`) and
by the backend benchmark (keypoint differences on real crops).
"""
import os.path as osp
from typing import Optional

import numpy as np
import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from torch import nn

__all__ = ['dataset_crops']


def dataset_crops(model: nn.Module,
                  ann_file: str,
                  img_dir: str,
                  dataset_type: Optional[str] = None,
                  max_crops: Optional[int] = None,
                  batch_size: int = 16) -> np.ndarray:
    """Preprocessed person crops (ground-truth boxes) of a data set.

    Args:
        model (nn.Module): A pose estimator from
            :func:`~.model_loading.init_pose_model` (its ``cfg`` gives the
            test pipeline, its data preprocessor the normalisation).
        ann_file (str): Annotation file (COCO format by default).
        img_dir (str): Folder of the images the annotations name.
        dataset_type (str, optional): MMPose data set class that reads
            ``ann_file`` (e.g. ``'MpiiDataset'``); default: the config's
            validation set's. Crops only need the boxes, so a data set of
            another keypoint set than the model's is fine.
        max_crops (int, optional): Keep the first ``max_crops`` persons.
        batch_size (int): Crops preprocessed at a time.

    Returns:
        np.ndarray: (N, 3, H, W) float32 crops.

    Raises:
        FileNotFoundError: ``ann_file`` or ``img_dir`` is missing.
        ValueError: no person in the data set.
    """
    from mmpose.registry import DATASETS  # noqa: PLC0415  (scope first)
    if not osp.isfile(ann_file):
        raise FileNotFoundError(f'annotation file "{ann_file}" does not '
                                'exist')
    if not osp.isdir(img_dir):
        raise FileNotFoundError(f'image folder "{img_dir}" does not exist')
    cfg = getattr(model, 'cfg', None)
    if cfg is None:
        raise ValueError('the model has no cfg: build it with '
                         'init_pose_model (mmpose_ext.apis)')
    init_default_scope(cfg.get('default_scope', 'mmpose'))
    val = (cfg.get('val_dataloader') or cfg.test_dataloader).dataset
    dataset = DATASETS.build(
        dict(
            type=dataset_type or val.type,
            data_root='',
            ann_file=osp.abspath(ann_file),
            data_prefix=dict(img=osp.abspath(img_dir) + osp.sep),
            data_mode='topdown',
            test_mode=True,
            pipeline=val.pipeline))
    n = len(dataset) if max_crops is None else min(len(dataset), max_crops)
    if n == 0:
        raise ValueError(f'"{ann_file}" has no person to crop')
    out = []
    with torch.no_grad():
        for start in range(0, n, batch_size):
            items = [
                dataset[i] for i in range(start, min(n, start + batch_size))
            ]
            batch = model.data_preprocessor(pseudo_collate(items), False)
            out.append(batch['inputs'].float().contiguous().cpu().numpy())
    return np.concatenate(out)
