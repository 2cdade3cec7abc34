# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""SkipBadSamples on a generated COCO set with 3 broken images and 8 broken
annotations: every bad sample is skipped with a warning naming its file and
annotation id (or rejected in strict mode); nothing crashes."""
import logging
import os.path as osp

import pytest
from mmengine.logging import MMLogger

from mmpose_ext.datasets import BadSampleError, SkipBadSamples
from mmpose_ext.testing import corrupt_coco_dataset

PIPELINE = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=(64, 64)),
    dict(type='PackPoseInputs'),
]


@pytest.fixture(scope='module')
def corrupt_coco(synthetic_coco, tmp_path_factory):
    root = str(tmp_path_factory.mktemp('corrupt') / 'coco')
    faults = corrupt_coco_dataset(synthetic_coco, root)
    return root, faults


def _kwargs(root, **extra):
    return dict(
        data_root=root,
        ann_file='annotations/person_keypoints_train2017.json',
        data_prefix=dict(img='train2017/'),
        data_mode='topdown',
        pipeline=PIPELINE,
        **extra)


class Capture(logging.Handler):

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def warnings_log():
    logger = MMLogger.get_current_instance()
    handler = Capture()
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


def test_mmpose_coco_dataset_alone_crashes(corrupt_coco):
    """Why the wrapper exists: one annotation with 53 keypoint values stops
    MMPose's CocoDataset from being built at all."""
    from mmpose.datasets import CocoDataset
    root, _ = corrupt_coco
    with pytest.raises(ValueError, match='reshape'):
        CocoDataset(**_kwargs(root))


def test_bad_annotations_are_left_out_with_warnings(corrupt_coco,
                                                    warnings_log):
    root, faults = corrupt_coco
    ds = SkipBadSamples(dataset_type='CocoDataset', **_kwargs(root))
    got = {r['ann_id']: r['kind'] for r in ds.excluded}
    assert got == faults['ann_faults']
    assert ds.num_unlabelled == len(faults['unlabelled_ann_ids'])
    # every excluded annotation was named in a warning with its image file
    for r in ds.excluded:
        assert r['file'].endswith('.jpg')
        assert any(f'annotation id={r["ann_id"]} ' in m and r['file'] in m
                   for m in warnings_log), r
    # the data set holds the good annotations and those of the broken
    # images (found only when loading)
    ids = {ds.get_data_info(i)['id'] for i in range(len(ds))}
    assert ids == set(faults['good_ann_ids']) | set(
        faults['image_fault_ann_ids'])
    assert ds.metainfo['num_keypoints'] == 17


def test_broken_images_are_skipped_when_loading(corrupt_coco, warnings_log):
    root, faults = corrupt_coco
    ds = SkipBadSamples(dataset_type='CocoDataset', **_kwargs(root))
    broken_files = set(faults['image_faults'])
    reported = {}
    for i in range(len(ds)):
        sample = ds[i]  # never raises
        meta = sample['data_samples'].metainfo
        assert osp.basename(meta['img_path']) not in broken_files
        assert sample['inputs'].shape[-2:] == (64, 64)
        for r in meta.get('bad_samples', []):
            assert r['stage'] == 'load' and r['kind'] == 'load_error'
            assert osp.basename(r['file']) in broken_files
            reported[r['ann_id']] = r['reason']
    assert set(reported) == set(faults['image_fault_ann_ids'])
    for ann_id in reported:
        assert any(f'annotation id={ann_id} ' in m for m in warnings_log)
    # the missing file's reason says so
    missing = [f for f, k in faults['image_faults'].items() if k == 'missing']
    assert any(missing[0] in m and 'No such file' in m for m in warnings_log)


def test_strict_mode_raises_naming_file_and_annotation(corrupt_coco):
    root, faults = corrupt_coco
    with pytest.raises(BadSampleError, match=r'annotation id=\d+ of ".*'
                       r'\.jpg"') as err:
        SkipBadSamples(dataset_type='CocoDataset', strict=True,
                       **_kwargs(root))
    assert 'strict=True' in str(err.value)
    # at load time as well
    ds = SkipBadSamples(dataset_type='CocoDataset', **_kwargs(root))
    ds.strict = True
    bad = next(i for i in range(len(ds))
               if ds.get_data_info(i)['id'] in faults['image_fault_ann_ids'])
    with pytest.raises(BadSampleError, match='annotation id='):
        ds[bad]


def test_outside_keypoints_can_be_made_invisible(corrupt_coco):
    root, faults = corrupt_coco
    ds = SkipBadSamples(dataset_type='CocoDataset',
                        keypoints_outside_image='invisible', **_kwargs(root))
    outside = [a for a, k in faults['ann_faults'].items()
               if k == 'keypoints_outside_image'][0]
    assert outside not in {r['ann_id'] for r in ds.excluded}
    info = next(ds.get_data_info(i) for i in range(len(ds))
                if ds.get_data_info(i)['id'] == outside)
    assert info['keypoints_visible'][0, 0] == 0
    assert info['keypoints_visible'][0, 1:].sum() > 0


def test_nested_config_and_argument_errors(corrupt_coco):
    root, faults = corrupt_coco
    ds = SkipBadSamples(dataset=dict(type='CocoDataset', **_kwargs(root)))
    assert len(ds.excluded) == len(faults['ann_faults'])
    with pytest.raises(ValueError, match='exactly one'):
        SkipBadSamples()
    with pytest.raises(ValueError, match='keypoints_outside_image'):
        SkipBadSamples(dataset_type='CocoDataset',
                       keypoints_outside_image='drop', **_kwargs(root))


def test_registered_and_built_from_config(corrupt_coco):
    from mmpose.registry import DATASETS
    root, _ = corrupt_coco
    ds = DATASETS.build(
        dict(type='SkipBadSamples', dataset_type='CocoDataset',
             **_kwargs(root)))
    assert isinstance(ds, SkipBadSamples) and len(ds) > 0
    assert ds.pipeline is ds.dataset.pipeline  # attribute delegation
