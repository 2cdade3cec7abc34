# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""SkipBadSamples.

On valid data (the real COCO photos, also with keypoints moved just outside
the image) the wrapped data set yields exactly MMPose's data infos. On a
generated COCO set with 3 broken images and 8 broken annotations every bad
sample is skipped with a warning naming its file and annotation id (or
rejected in strict mode), nothing crashes, and the valid edge cases (all
keypoints invisible, a visible keypoint outside the image, a box partly
outside the image) are kept unchanged unless a stricter policy is asked for.
"""
import json
import logging
import os.path as osp

import numpy as np
import pytest
from mmengine.logging import MMLogger

from mmpose_ext.datasets import BadSampleError, SkipBadSamples
from mmpose_ext.devkit.testing import corrupt_coco_dataset

PIPELINE = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=(64, 64)),
    dict(type='PackPoseInputs'),
]
TRAIN_ANN = 'annotations/person_keypoints_train2017.json'


@pytest.fixture(scope='module')
def corrupt_coco(synthetic_coco, tmp_path_factory):
    root = str(tmp_path_factory.mktemp('corrupt') / 'coco')
    faults = corrupt_coco_dataset(synthetic_coco, root)
    return root, faults


def _kwargs(root, **extra):
    return dict(
        data_root=root,
        ann_file=TRAIN_ANN,
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


def _assert_equal(a, b, where):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        assert type(a) is type(b), where
        assert a.dtype == b.dtype and a.shape == b.shape, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for k in a:
            _assert_equal(a[k], b[k], f'{where}.{k}')
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_equal(x, y, f'{where}[{i}]')
    else:
        assert a == b, f'{where}: {a!r} != {b!r}'


def assert_same_data_infos(wrapped, plain):
    """Same samples, same order, same data infos (every key and value)."""
    ids = [wrapped.get_data_info(i)['id'] for i in range(len(wrapped))]
    assert ids == [plain.get_data_info(i)['id'] for i in range(len(plain))]
    for i in range(len(plain)):
        _assert_equal(
            wrapped.get_data_info(i), plain.get_data_info(i),
            f'sample {i} (id {ids[i]})')


def _ids(ds):
    return [ds.get_data_info(i)['id'] for i in range(len(ds))]


def _info(ds, ann_id):
    return next(
        ds.get_data_info(i) for i in range(len(ds))
        if ds.get_data_info(i)['id'] == ann_id)


# --------------------------------------------------------------------------
# Valid data: the real COCO photos. The wrapper must not change anything.
# --------------------------------------------------------------------------
def _real_kwargs(data_root, ann_file='test_coco.json', **extra):
    return dict(
        data_root=data_root,
        ann_file=ann_file,
        data_prefix=dict(img=''),
        pipeline=[],
        **extra)


@pytest.mark.parametrize('data_mode', ['topdown', 'bottomup'])
def test_real_coco_yields_exactly_mmpose_data_infos(real_data_root, data_mode):
    from mmpose.datasets import CocoDataset
    root = osp.join(real_data_root, 'coco')
    kwargs = _real_kwargs(root, data_mode=data_mode)
    plain = CocoDataset(**kwargs)
    wrapped = SkipBadSamples(dataset_type='CocoDataset', **kwargs)
    assert_same_data_infos(wrapped, plain)
    assert wrapped.excluded == [] and wrapped.num_repaired == 0
    # 14 annotations: 12 persons with keypoints, 2 without keypoint labels
    # (passed to MMPose, which drops them in top-down mode and keeps them
    # as invalid instances of their image in bottom-up mode)
    assert wrapped.num_unlabelled == 2
    assert len(wrapped) == (12 if data_mode == 'topdown' else 4)
    if data_mode == 'bottomup':
        assert sum(
            len(wrapped.get_data_info(i)['id'])
            for i in range(len(wrapped))) == 14


def _real_copy(real_data_root, tmp_path, change):
    """The real annotation file, changed, in tmp_path (images stay put)."""
    root = osp.join(real_data_root, 'coco')
    with open(osp.join(root, 'test_coco.json')) as f:
        coco = json.load(f)
    sizes = {im['id']: (im['width'], im['height']) for im in coco['images']}
    changed = {}
    for ann in coco['annotations']:
        if ann['num_keypoints'] > 0:
            changed[ann['id']] = change(ann, *sizes[ann['image_id']])
    path = tmp_path / 'test_coco_changed.json'
    with open(path, 'w') as f:
        json.dump(coco, f)
    kwargs = dict(
        data_root=str(tmp_path),
        ann_file=path.name,
        data_prefix=dict(img=root + '/'),
        pipeline=[])
    return kwargs, changed


def _move_keypoint_outside(ann, width, height):
    """One visible keypoint of the person to x=-1 or x=width+1."""
    kpts = ann['keypoints']
    k = next(i for i in range(len(kpts) // 3) if kpts[3 * i + 2] == 2)
    x = -1.0 if ann['id'] % 2 else width + 1.0
    kpts[3 * k] = x
    return k, x


def test_real_coco_keypoint_just_outside_image_is_kept(real_data_root,
                                                       tmp_path):
    """People cut by the image border are valid: MMPose trains on them, and
    the wrapper (also ``strict=True``) keeps every one, unchanged."""
    from mmpose.datasets import CocoDataset
    kwargs, moved = _real_copy(real_data_root, tmp_path,
                               _move_keypoint_outside)
    assert len(moved) == 12
    plain = CocoDataset(**kwargs)
    assert sorted(_ids(plain)) == sorted(moved)  # MMPose keeps all 12
    for strict in (False, True):
        wrapped = SkipBadSamples(
            dataset_type='CocoDataset', strict=strict, **kwargs)
        assert_same_data_infos(wrapped, plain)
        assert wrapped.excluded == []
    for ann_id, (k, x) in moved.items():  # not repaired
        info = _info(wrapped, ann_id)
        assert info['keypoints'][0, k, 0] == x
        assert info['keypoints_visible'][0, k] == 1


def test_real_coco_outside_keypoint_policies(real_data_root, tmp_path,
                                             warnings_log):
    """The stricter options still leave them out (or repair them), each
    named in a warning with its file and annotation id."""
    kwargs, moved = _real_copy(real_data_root, tmp_path,
                               _move_keypoint_outside)
    ds = SkipBadSamples(
        dataset_type='CocoDataset',
        lazy_init=True,
        keypoints_outside_image='skip',
        **kwargs)
    # all 12 persons are left out: a clear error instead of MMEngine's
    # "need at least one array to concatenate"
    with pytest.raises(BadSampleError, match='no usable sample.*12 bad'):
        ds.full_init()
    assert {
        r['ann_id']: r['kind']
        for r in ds.excluded
    } == {
        a: 'keypoints_outside_image'
        for a in moved
    }
    files = {r['ann_id']: r['file'] for r in ds.excluded}
    for ann_id in moved:
        assert files[ann_id].endswith('.jpg') and osp.isfile(files[ann_id])
        assert any(f'annotation id={ann_id} ' in m and files[ann_id] in m
                   and 'outside the' in m for m in warnings_log), ann_id

    inv = SkipBadSamples(
        dataset_type='CocoDataset',
        keypoints_outside_image='invisible',
        **kwargs)
    assert inv.excluded == [] and inv.num_repaired == 12
    assert sorted(_ids(inv)) == sorted(moved)
    for ann_id, (k, x) in moved.items():
        info = _info(inv, ann_id)
        assert info['keypoints_visible'][0, k] == 0
        assert info['num_keypoints'] == info['keypoints_visible'].sum()


def test_real_coco_all_invisible_is_kept_unless_asked(real_data_root, tmp_path,
                                                      warnings_log):
    """``num_keypoints > 0`` with every keypoint invisible: MMPose keeps it
    (zero keypoint weights), so does the wrapper by default; it is left out
    with ``min_visible_keypoints=1``."""
    from mmpose.datasets import CocoDataset
    target = 442619  # the only person of 000000000785.jpg, 17 visible

    def hide(ann, width, height):
        if ann['id'] == target:
            ann['keypoints'][2::3] = [0] * 17
        return ann['num_keypoints']

    kwargs, _ = _real_copy(real_data_root, tmp_path, hide)
    plain = CocoDataset(**kwargs)
    wrapped = SkipBadSamples(dataset_type='CocoDataset', **kwargs)
    assert_same_data_infos(wrapped, plain)
    assert target in _ids(wrapped) and wrapped.num_no_visible == 1
    assert _info(wrapped, target)['keypoints_visible'].sum() == 0
    strict = SkipBadSamples(
        dataset_type='CocoDataset', min_visible_keypoints=1, **kwargs)
    assert [(r['ann_id'], r['kind'])
            for r in strict.excluded] == [(target, 'keypoints_invisible')]
    assert sorted(_ids(strict)) == sorted(set(_ids(plain)) - {target})
    assert any(f'annotation id={target} ' in m and '000000000785.jpg' in m
               and 'all keypoints invisible' in m for m in warnings_log)


@pytest.mark.parametrize('fmt', ['mpii', 'lsp'])
def test_other_data_sets_yield_exactly_their_data_infos(
        fmt, synthetic_mpii, synthetic_lsp, tmp_path):
    """Data sets that do not parse COCO annotations (checked on their data
    infos instead): valid data passes unchanged, including (MPII) a person
    with no visible joint and one with a joint just outside the image."""
    from mmpose.registry import DATASETS
    if fmt == 'mpii':
        with open(osp.join(synthetic_mpii, 'annotations',
                           'mpii_train.json')) as f:
            anns = json.load(f)
        anns[0]['joints_vis'] = [0] * 16
        anns[1]['joints'][0][0] = -1.0
        ann_file = tmp_path / 'mpii_train.json'
        with open(ann_file, 'w') as f:
            json.dump(anns, f)
        ds_type, kwargs = 'MpiiDataset', dict(
            data_root=synthetic_mpii,
            ann_file=str(ann_file),
            data_prefix=dict(img='images/'),
            pipeline=[])
    else:
        ds_type, kwargs = 'LspDataset', dict(
            data_root=synthetic_lsp, occluded_as_invisible=True, pipeline=[])
    plain = DATASETS.build(dict(type=ds_type, **kwargs))
    wrapped = SkipBadSamples(dataset_type=ds_type, **kwargs)
    assert len(plain) > 0
    assert_same_data_infos(wrapped, plain)
    assert wrapped.excluded == []
    if fmt == 'mpii':
        assert wrapped.get_data_info(0)['keypoints_visible'].sum() == 0
        assert wrapped.get_data_info(1)['keypoints'][0, 0, 0] == -1
        # the stricter policy applies on the data infos too
        strict = SkipBadSamples(
            dataset_type=ds_type, min_visible_keypoints=1, **kwargs)
        assert [r['kind'] for r in strict.excluded] == ['keypoints_invisible']
        assert len(strict) == len(plain) - 1


# --------------------------------------------------------------------------
# Broken data: a generated COCO set with every defect.
# --------------------------------------------------------------------------
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
    assert len(got) == 8
    assert ds.num_unlabelled == len(faults['unlabelled_ann_ids'])
    # every excluded annotation was named in a warning with its image file
    for r in ds.excluded:
        assert r['file'].endswith('.jpg')
        assert any(f'annotation id={r["ann_id"]} ' in m and r['file'] in m
                   for m in warnings_log), r
    # and summed up by kind when the data set was built
    assert any('8 bad annotations left out' in m and "'keypoint_count': 2" in m
               and "'keypoints_nonfinite': 2" in m for m in warnings_log)
    # the data set holds the good annotations, the valid edge cases and
    # those of the broken images (found only when loading)
    ids = _ids(ds)
    assert set(ids) == set(faults['good_ann_ids']) | set(
        faults['image_fault_ann_ids']) | set(faults['valid_edge_cases'])
    assert len(ids) == len(set(ids))
    for ann_id in faults['valid_edge_cases']:  # kept without a warning
        assert not any(f'id={ann_id} ' in m for m in warnings_log)
    assert ds.num_no_visible == 1 and ds.num_repaired == 0
    assert ds.metainfo['num_keypoints'] == 17


def test_only_defects_are_removed(corrupt_coco, tmp_path):
    """The wrapper's data infos are MMPose's for the same file without the
    8 defective annotations: the valid edge cases are not changed."""
    from mmpose.datasets import CocoDataset
    root, faults = corrupt_coco
    with open(osp.join(root, TRAIN_ANN)) as f:
        coco = json.load(f)
    coco['annotations'] = [
        a for a in coco['annotations'] if a['id'] not in faults['ann_faults']
    ]
    path = tmp_path / 'without_defects.json'
    with open(path, 'w') as f:
        json.dump(coco, f)
    kwargs = _kwargs(root)
    plain = CocoDataset(**dict(kwargs, ann_file=str(path)))
    wrapped = SkipBadSamples(dataset_type='CocoDataset', **kwargs)
    assert_same_data_infos(wrapped, plain)
    edge = {v: k for k, v in faults['valid_edge_cases'].items()}
    outside = _info(wrapped, edge['keypoint_outside_image'])
    assert outside['keypoints'][0, 0, 0] == -1.0
    assert outside['keypoints_visible'][0, 0] == 1
    hidden = _info(wrapped, edge['all_keypoints_invisible'])
    assert hidden['keypoints_visible'].sum() == 0
    assert hidden['num_keypoints'] > 0
    clipped = _info(wrapped, edge['bbox_partly_outside'])
    assert clipped['bbox'][0, 0] == 0  # clipped by MMPose, as without us


def test_stricter_policies_leave_out_valid_edge_cases(corrupt_coco,
                                                      warnings_log):
    root, faults = corrupt_coco
    edge = {v: k for k, v in faults['valid_edge_cases'].items()}
    ds = SkipBadSamples(
        dataset_type='CocoDataset',
        keypoints_outside_image='skip',
        min_visible_keypoints=1,
        **_kwargs(root))
    got = {r['ann_id']: r['kind'] for r in ds.excluded}
    assert got == {
        **faults['ann_faults'],
        edge['keypoint_outside_image']: 'keypoints_outside_image',
        edge['all_keypoints_invisible']: 'keypoints_invisible',
    }
    assert edge['bbox_partly_outside'] in _ids(ds)  # a clipped box is fine
    for kind in ('keypoint_outside_image', 'all_keypoints_invisible'):
        assert any(f'annotation id={edge[kind]} ' in m for m in warnings_log)


def test_outside_keypoints_can_be_made_invisible(corrupt_coco):
    root, faults = corrupt_coco
    ds = SkipBadSamples(
        dataset_type='CocoDataset',
        keypoints_outside_image='invisible',
        **_kwargs(root))
    outside = next(a for a, k in faults['valid_edge_cases'].items()
                   if k == 'keypoint_outside_image')
    assert {r['ann_id']: r['kind'] for r in ds.excluded} == \
        faults['ann_faults']
    assert ds.num_repaired == 1
    info = _info(ds, outside)
    assert info['keypoints_visible'][0, 0] == 0
    assert info['keypoints_visible'][0, 1:].sum() > 0


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
    with pytest.raises(
            BadSampleError, match=r'annotation id=\d+ of ".*'
            r'\.jpg"') as err:
        SkipBadSamples(
            dataset_type='CocoDataset', strict=True, **_kwargs(root))
    assert 'strict=True' in str(err.value)
    # at load time as well
    ds = SkipBadSamples(dataset_type='CocoDataset', **_kwargs(root))
    ds.strict = True
    bad = next(
        i for i in range(len(ds))
        if ds.get_data_info(i)['id'] in faults['image_fault_ann_ids'])
    with pytest.raises(BadSampleError, match='annotation id='):
        ds[bad]


def test_nested_config_and_argument_errors(corrupt_coco):
    root, faults = corrupt_coco
    ds = SkipBadSamples(dataset=dict(type='CocoDataset', **_kwargs(root)))
    assert len(ds.excluded) == len(faults['ann_faults'])
    # 'ignore' is the old name of the default 'keep'
    old = SkipBadSamples(
        dataset_type='CocoDataset',
        keypoints_outside_image='ignore',
        **_kwargs(root))
    assert old.keypoints_outside_image == 'keep' and _ids(old) == _ids(ds)
    with pytest.raises(ValueError, match='exactly one'):
        SkipBadSamples()
    with pytest.raises(ValueError, match='keypoints_outside_image'):
        SkipBadSamples(
            dataset_type='CocoDataset',
            keypoints_outside_image='drop',
            **_kwargs(root))
    with pytest.raises(ValueError, match='min_visible_keypoints'):
        SkipBadSamples(
            dataset_type='CocoDataset',
            min_visible_keypoints=-1,
            **_kwargs(root))


def test_registered_and_built_from_config(corrupt_coco):
    from mmpose.registry import DATASETS
    root, _ = corrupt_coco
    ds = DATASETS.build(
        dict(
            type='SkipBadSamples', dataset_type='CocoDataset',
            **_kwargs(root)))
    assert isinstance(ds, SkipBadSamples) and len(ds) > 0
    assert ds.pipeline is ds.dataset.pipeline  # attribute delegation
