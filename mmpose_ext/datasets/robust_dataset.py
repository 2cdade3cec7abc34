# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Skip broken training samples instead of crashing, and say which ones.

MMEngine's ``BaseDataset.__getitem__`` only refetches another sample when
the pipeline returns ``None``; an exception (a missing or corrupt image, a
transform that fails on a NaN box, a wrong number of keypoints that breaks
collation) ends the epoch and the run. MMPose's COCO parser lets some broken
annotations through (a NaN or Inf box or keypoint poisons the loss; a
keypoint count that differs from the data set's meta crashes the batch
collation later, or the parser itself) and drops others silently (negative
and zero-size boxes, boxes outside the image).

:class:`SkipBadSamples` wraps any MMPose data set and

- checks every annotation when the data set is built, in the data set's own
  annotation parser for COCO-style data sets (which still sees the image
  size and the raw box) and on the parsed data infos for all others;
- by default leaves out only *broken* annotations, so that on valid data the
  wrapped data set holds exactly the samples (same data infos, same order)
  of the data set alone; stricter policies are options;
- catches every exception of loading a sample (image read, pipeline) and
  substitutes the next good sample;
- logs a warning per bad sample that names the image file, the annotation
  id and the reason, a summary when the data set is built, and reports the
  samples skipped while loading through the returned sample
  (``data_samples.metainfo['bad_samples']``) so that
  :class:`~mmpose_ext.engine.hooks.BadSampleHook` can count them across
  dataloader workers and ranks at the end of each epoch;
- in ``strict`` mode raises :class:`BadSampleError` instead.
"""
import copy
import logging
import math
import numbers
import os.path as osp
from collections import Counter
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log
from mmpose.registry import DATASETS

__all__ = ['BadSampleError', 'SkipBadSamples', 'BAD_SAMPLES_KEY']

#: metainfo key of a returned sample that lists the samples it replaced
BAD_SAMPLES_KEY = 'bad_samples'


class BadSampleError(ValueError):
    """A sample or annotation is unusable (raised in strict mode)."""


def _fmt(values) -> str:
    return '[' + ', '.join(f'{float(v):g}' for v in values) + ']'


def _is_size(v) -> bool:
    return isinstance(v, numbers.Real) and math.isfinite(v)


@DATASETS.register_module()
class SkipBadSamples:
    """Data set wrapper that skips (or, ``strict``, rejects) bad samples.

    **Default policy: only broken samples are left out.** A sample is broken
    when it would crash or poison training; everything else is passed to the
    wrapped data set unchanged, so on valid data the wrapper yields exactly
    the samples of the data set alone (same data infos, same order) and
    repairs nothing. Broken, per annotation (instance):

    =========================  ============================================
    keypoints                  a list of numbers, exactly
                               ``metainfo['num_keypoints']`` of them
                               (``keypoint_count``), all finite
                               (``keypoints_nonfinite``)
    bbox                       present, 4 numbers (``bbox_malformed``), all
                               finite (``bbox_nonfinite``), with an area
                               once clipped to the image as MMPose clips it
                               (``bbox_negative``, ``bbox_zero_area``,
                               ``bbox_outside_image``; MMPose drops these
                               silently, the wrapper names them)
    annotation                 MMPose's parser fails on it (``parse_error``)
    image                      unreadable: any exception while loading the
                               sample (missing or corrupt file, a failing
                               transform) marks it bad (``load_error``)
    =========================  ============================================

    Not broken, and kept (MMPose trains on them): a box partly outside the
    image (MMPose clips it), visible keypoints outside the image (people cut
    by the image border), few visible keypoints, and annotations with
    ``num_keypoints > 0`` whose keypoints are all invisible: their keypoint
    weights are all zero, so they add nothing to the keypoint loss, but
    neither do they crash or poison it, and MMPose keeps them; they are
    counted (:attr:`num_no_visible`) in the build summary. What MMPose drops
    itself without the annotation being broken (persons without keypoint
    labels, ``num_keypoints == 0`` or all-zero keypoints as in COCO, and
    crowd regions) is passed to it unchanged and dropped by it as usual;
    these are counted (:attr:`num_unlabelled`), not reported as errors.

    Stricter policies (they change what a valid data set trains on, so they
    are off by default): ``keypoints_outside_image='skip'`` leaves out
    annotations with a visible keypoint outside the image,
    ``'invisible'`` marks such keypoints invisible (a repair of the
    annotation), and ``min_visible_keypoints=n`` leaves out annotations with
    fewer than ``n`` visible keypoints. Annotations they leave out are
    reported like broken ones (kinds ``keypoints_outside_image`` and
    ``keypoints_invisible``).

    Annotation checks run once, when the data set is built; the bad
    annotations are left out of the data set (its length shrinks, as with
    MMPose's own filtering), each named in a warning (file, annotation id,
    reason), with a summary by kind. Load failures are found when a sample
    is read: the next good sample (in index order) is returned instead, so
    a batch keeps its size, and the sample is not tried again by that
    process. :class:`~mmpose_ext.engine.hooks.BadSampleHook` logs both
    counts at the end of every epoch.

    Config, wrapping the data set in place (every other key of the data set
    config stays where it is, so ``--cfg-options`` paths do not change)::

        train_dataloader = dict(
            dataset=dict(type='SkipBadSamples', dataset_type='CocoDataset'))

    or MMEngine's nested wrapper style::

        dataset = dict(type='SkipBadSamples', strict=False,
                       dataset=dict(type='CocoDataset', ...))

    Args:
        dataset (dict | BaseDataset, optional): The wrapped data set or its
            config. Exactly one of ``dataset`` and ``dataset_type``.
        dataset_type (str, optional): Type of the wrapped data set; the
            remaining keyword arguments are its arguments.
        strict (bool): Raise :class:`BadSampleError` on the first bad sample
            (naming the file, the annotation id and the reason) instead of
            skipping it. Defaults to False.
        min_visible_keypoints (int): Leave out annotations (with keypoint
            labels) that have fewer visible keypoints. Defaults to 0 (keep
            them all, as MMPose does).
        keypoints_outside_image (str): What to do with visible keypoints
            outside the image: ``'keep'`` them (default, as MMPose does;
            ``'ignore'`` is an alias), ``'skip'`` the annotation, or mark
            them ``'invisible'`` (the annotation is left out if no visible
            keypoint remains). Checked when the data set is built where the
            parser sees the image size (COCO-style data sets); otherwise
            ``'skip'`` is applied when the sample is loaded.
        max_refetch (int): Consecutive bad samples tolerated when loading
            one sample before giving up with a ``RuntimeError`` (the data
            set is broken, not a sample). Defaults to 100.
        max_warnings (int): Warnings logged per process before the rest
            are only counted. Defaults to 100.
        lazy_init (bool): Defer loading and checking the annotations to
            :meth:`full_init`. Defaults to False.
        **dataset_kwargs: Arguments of ``dataset_type``.

    Attributes:
        excluded (list[dict]): The annotations left out when the data set was
            built: ``dict(file, ann_id, kind, reason, stage='annotation')``.
        num_unlabelled (int): Annotations without keypoint labels (and crowd
            regions), passed to the data set, which drops them; not errors.
        num_no_visible (int): Annotations kept although none of their
            keypoints is visible (``num_keypoints > 0``).
        num_repaired (int): Annotations whose outside keypoints were made
            invisible (``keypoints_outside_image='invisible'`` only).
    """

    _OUTSIDE_MODES = ('keep', 'skip', 'invisible', 'ignore')

    def __init__(self,
                 dataset: Optional[Union[dict, BaseDataset]] = None,
                 dataset_type: Optional[str] = None,
                 strict: bool = False,
                 min_visible_keypoints: int = 0,
                 keypoints_outside_image: str = 'keep',
                 max_refetch: int = 100,
                 max_warnings: int = 100,
                 lazy_init: bool = False,
                 **dataset_kwargs):
        if (dataset is None) == (dataset_type is None):
            raise ValueError('SkipBadSamples needs exactly one of `dataset` '
                             '(a data set or its config) and `dataset_type` '
                             f'(got dataset={dataset!r}, '
                             f'dataset_type={dataset_type!r})')
        if dataset is not None and dataset_kwargs:
            raise ValueError(
                f'unexpected arguments {sorted(dataset_kwargs)}: with '
                '`dataset=` put the data set arguments into its config')
        if keypoints_outside_image not in self._OUTSIDE_MODES:
            raise ValueError('keypoints_outside_image must be one of '
                             f'{self._OUTSIDE_MODES[:3]}, got '
                             f'{keypoints_outside_image!r}')
        if int(min_visible_keypoints) < 0:
            raise ValueError('min_visible_keypoints must be >= 0, got '
                             f'{min_visible_keypoints!r}')
        if dataset_type is not None:
            dataset = dict(type=dataset_type, **dataset_kwargs)
        self.strict = strict
        self.min_visible_keypoints = int(min_visible_keypoints)
        self.keypoints_outside_image = ('keep'
                                        if keypoints_outside_image == 'ignore'
                                        else keypoints_outside_image)
        self.max_refetch = int(max_refetch)
        self.max_warnings = int(max_warnings)

        self.excluded: List[dict] = []
        self.num_unlabelled = 0
        self.num_no_visible = 0
        self.num_repaired = 0
        self._num_raw_checked = 0
        self._num_warnings = 0
        self._bad_loaded: set = set()
        self._indices = np.zeros(0, dtype=np.int64)
        self._parse_checked_size = False
        self._fully_initialized = False

        if isinstance(dataset, dict):
            cfg = copy.deepcopy(dict(dataset))
            # built lazily so that its annotation parser can be guarded
            # before it runs (see full_init)
            cfg['lazy_init'] = True
            self.dataset = DATASETS.build(cfg)
        else:
            self.dataset = dataset
        if not lazy_init:
            self.full_init()

    # ----------------------------------------------------------- data set
    @property
    def metainfo(self) -> dict:
        """The wrapped data set's meta information."""
        return self.dataset.metainfo

    def __len__(self) -> int:
        if not self._fully_initialized:
            self.full_init()
        return len(self._indices)

    def __getattr__(self, name: str) -> Any:
        # Delegate e.g. ``pipeline``, ``data_root``, ``test_mode``. Guard
        # against recursion before ``dataset`` is set (unpickling).
        if name.startswith('__') or name == 'dataset':
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __getstate__(self):
        return self.__dict__.copy()

    def __setstate__(self, state):
        self.__dict__.update(state)

    def get_data_info(self, idx: int) -> dict:
        """The wrapped data set's data info of (wrapper) index ``idx``."""
        return self.dataset.get_data_info(int(self._indices[idx]))

    def full_init(self) -> None:
        """Load the wrapped data set's annotations and check them."""
        if self._fully_initialized:
            return
        ds = self.dataset
        guarded = (
            isinstance(ds, BaseDataset)
            and not getattr(ds, '_fully_initialized', True)
            and hasattr(ds, 'parse_data_info'))
        if guarded:
            ds.parse_data_info = self._guard_parser(ds.parse_data_info)
        try:
            if hasattr(ds, 'full_init'):
                ds.full_init()
        except ValueError as e:
            # MMEngine cannot serialize an empty data list ("need at least
            # one array to concatenate"): say why it is empty
            if self.excluded and not getattr(ds, 'data_list', None):
                raise BadSampleError(
                    f'{self._no_sample_msg()} ({type(ds).__name__}: '
                    f'{e})') from e
            raise
        finally:
            if guarded:
                del ds.parse_data_info  # back to the class method
        if self._num_raw_checked:
            # every annotation was checked (and the bad ones left out) in
            # the parser; the data infos are MMPose's own
            keep = list(range(len(ds)))
        else:
            keep = []
            for i in range(len(ds)):
                record = self._check_data_info(ds.get_data_info(i))
                if record is None:
                    keep.append(i)
                else:
                    self._reject(record)
        self._indices = np.asarray(keep, dtype=np.int64)
        self._fully_initialized = True
        self._log_summary()
        if not len(self._indices):
            raise BadSampleError(self._no_sample_msg())

    def _kinds(self) -> dict:
        return dict(Counter(r['kind'] for r in self.excluded))

    def _no_sample_msg(self) -> str:
        return (f'SkipBadSamples: no usable sample in '
                f'{type(self.dataset).__name__} ({len(self.excluded)} bad '
                f'annotations left out: {self._kinds()}; policy '
                f'keypoints_outside_image={self.keypoints_outside_image!r}, '
                f'min_visible_keypoints={self.min_visible_keypoints})')

    def _log_summary(self) -> None:
        msg = (f'SkipBadSamples({type(self.dataset).__name__}): '
               f'{len(self._indices)} samples kept; {len(self.excluded)} bad '
               f'annotations left out ({self._kinds() or "none"}); '
               f'{self.num_unlabelled} annotations without keypoint labels '
               'or crowd passed on (the data set drops them, not errors)')
        if self.num_no_visible:
            msg += (f'; {self.num_no_visible} annotations kept with no '
                    'visible keypoint (zero keypoint weights)')
        if self.num_repaired:
            msg += (f'; {self.num_repaired} annotations with keypoints '
                    'outside the image made invisible')
        print_log(
            msg + '.',
            logger='current',
            level=logging.WARNING if self.excluded else logging.INFO)

    # ------------------------------------------------------------- checks
    def _num_keypoints(self) -> Optional[int]:
        n = self.metainfo.get('num_keypoints')
        return int(n) if n is not None else None

    def _reject(self, record: dict) -> None:
        msg = (f'bad sample: annotation id={record["ann_id"]} of '
               f'"{record["file"]}": {record["reason"]}')
        if self.strict:
            raise BadSampleError(
                f'{msg} (SkipBadSamples strict=True; set strict=False to '
                'skip bad samples with a warning)')
        if record.get('stage') == 'annotation':
            self.excluded.append(record)
        self._warn(f'SkipBadSamples: skipped {msg}')

    def _warn(self, msg: str) -> None:
        self._num_warnings += 1
        if self._num_warnings <= self.max_warnings:
            print_log(msg, logger='current', level=logging.WARNING)
        elif self._num_warnings == self.max_warnings + 1:
            print_log(
                f'SkipBadSamples: more than {self.max_warnings} bad samples; '
                'further ones are only counted (see BadSampleHook).',
                logger='current',
                level=logging.WARNING)

    def _guard_parser(self, parse):
        """Wrap a COCO-style ``parse_data_info`` with the raw checks.

        A broken annotation is rejected (the parser is not called); any
        other is passed to the parser unchanged (repaired only with
        ``keypoints_outside_image='invisible'``), so the data set's own
        filtering applies to it as without the wrapper.
        """

        def guarded(raw_data_info: dict):
            ann = raw_data_info.get('raw_ann_info')
            img = raw_data_info.get('raw_img_info')
            if isinstance(ann, dict) and isinstance(img, dict):
                self._num_raw_checked += 1
                file = img.get('file_name', '?')
                prefix = (getattr(self.dataset, 'data_prefix', None)
                          or {}).get('img')
                if prefix:
                    file = osp.join(prefix, file)
                verdict = self._check_raw(ann, img)
                if isinstance(verdict, tuple):
                    self._reject(
                        dict(
                            file=file,
                            ann_id=ann.get('id'),
                            kind=verdict[0],
                            reason=verdict[1],
                            stage='annotation'))
                    return None
                if verdict == 'unlabelled':
                    self.num_unlabelled += 1
                elif isinstance(verdict, dict):  # repaired copy (option)
                    raw_data_info = dict(raw_data_info, raw_ann_info=verdict)
                    self.num_repaired += 1
                    ann = verdict
                if verdict != 'unlabelled' and not (np.asarray(
                        ann['keypoints'], dtype=np.float64)[2::3] > 0).any():
                    self.num_no_visible += 1
                self._parse_checked_size = 'width' in img and 'height' in img
            else:
                file = '?'
                ann = {}
            try:
                return parse(raw_data_info)
            except Exception as e:  # noqa: BLE001 (any parse failure)
                self._reject(
                    dict(
                        file=file,
                        ann_id=ann.get('id'),
                        kind='parse_error',
                        reason=f'cannot parse annotation: {e!r}',
                        stage='annotation'))
                return None

        return guarded

    def _check_raw(self, ann: dict, img: dict):
        """Check a raw COCO-style annotation.

        Only ``self.dataset`` (its meta), ``self.min_visible_keypoints`` and
        ``self.keypoints_outside_image`` are used.

        Returns:
            None (good: pass it to the parser unchanged), ``'unlabelled'``
            (no keypoint labels or a crowd region: pass it on, MMPose drops
            it), a tuple ``(kind, reason)`` (bad: leave it out) or a repaired
            copy of ``ann`` (``keypoints_outside_image='invisible'`` only).
        """
        if 'keypoints' not in ann:
            return 'unlabelled'  # MMPose's parser drops it
        kpts = ann['keypoints']
        if not isinstance(kpts, (list, tuple, np.ndarray)):
            return ('parse_error',
                    f'keypoints are not a list: {type(kpts).__name__}')
        try:
            kpts = np.asarray(kpts, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            return ('parse_error', 'keypoints are not numbers')
        expected = self._num_keypoints()
        if kpts.size == 0 or kpts.size % 3 or (expected is not None
                                               and kpts.size // 3 != expected):
            return ('keypoint_count',
                    f'wrong number of keypoints: {kpts.size} values '
                    f'({kpts.size / 3:g} keypoints), the data set meta has '
                    f'{expected}')
        kpts = kpts.reshape(-1, 3)
        with np.errstate(over='ignore', invalid='ignore'):
            # MMPose keeps float32: a value beyond its range becomes Inf
            kpts32 = kpts.astype(np.float32)
        if not np.isfinite(kpts32).all():
            bad = np.flatnonzero(~np.isfinite(kpts32).all(axis=1))
            return ('keypoints_nonfinite',
                    f'keypoints {self._names(bad)} contain NaN/inf')

        bbox = ann.get('bbox')
        if not isinstance(bbox, (list, tuple, np.ndarray)) or len(bbox) != 4:
            return ('bbox_malformed', f'bbox missing or malformed: {bbox!r}')
        try:
            x, y, w, h = (float(v) for v in bbox)
        except (TypeError, ValueError):
            return ('bbox_malformed', f'bbox is not numbers: {bbox!r}')
        if not all(math.isfinite(v) for v in (x, y, w, h)):
            return ('bbox_nonfinite',
                    f'bbox has NaN/inf: {_fmt((x, y, w, h))}')

        # what MMPose drops without the annotation being broken
        xy = kpts32[:, :2]
        num = (
            ann['num_keypoints']
            if 'num_keypoints' in ann else np.count_nonzero(xy.max(axis=1)))
        if ann.get('iscrowd') or num == 0 or xy.max() <= 0:
            return 'unlabelled'

        if w < 0 or h < 0:
            return ('bbox_negative', f'negative bbox size: w={w:g}, h={h:g}')
        if w == 0 or h == 0:
            return ('bbox_zero_area', f'zero-area bbox: w={w:g}, h={h:g}')
        img_w, img_h = img.get('width'), img.get('height')
        sized = _is_size(img_w) and _is_size(img_h)
        if sized:
            # MMPose clips the box to the image (float32) and drops it if
            # nothing is left
            x1, y1, x2, y2 = np.array([
                np.clip(x, 0, img_w - 1),
                np.clip(y, 0, img_h - 1),
                np.clip(x + w, 0, img_w - 1),
                np.clip(y + h, 0, img_h - 1)
            ],
                                      dtype=np.float32)
            if x2 - x1 <= 0 or y2 - y1 <= 0:
                outside = (
                    x >= img_w - 1 or y >= img_h - 1 or x + w <= 0
                    or y + h <= 0)
                return ('bbox_outside_image' if outside else 'bbox_zero_area',
                        f'bbox {_fmt((x, y, w, h))} (xywh) has no area once '
                        f'clipped to the {img_w}x{img_h} image')

        # stricter policies (options; off by default)
        visible = kpts[:, 2] > 0
        repaired = None
        if sized and self.keypoints_outside_image in ('skip', 'invisible'):
            out = visible & ((kpts[:, 0] < 0) | (kpts[:, 0] > img_w)
                             | (kpts[:, 1] < 0) | (kpts[:, 1] > img_h))
            if out.any():
                where = (f'{int(out.sum())} visible keypoint(s) '
                         f'{self._names(np.flatnonzero(out))} outside the '
                         f'{img_w}x{img_h} image')
                if self.keypoints_outside_image == 'skip':
                    return ('keypoints_outside_image',
                            f'{where} (keypoints_outside_image=\'skip\')')
                visible = visible & ~out
                if not visible.any():
                    return ('keypoints_outside_image',
                            f'{where}, none left visible '
                            '(keypoints_outside_image=\'invisible\')')
                kpts = kpts.copy()
                kpts[out, 2] = 0
                repaired = dict(
                    ann,
                    keypoints=kpts.reshape(-1).tolist(),
                    num_keypoints=int(visible.sum()))
        if visible.sum() < self.min_visible_keypoints:
            what = ('all keypoints invisible' if not visible.any() else
                    f'only {int(visible.sum())} visible keypoints')
            return ('keypoints_invisible', f'{what} (min_visible_keypoints='
                    f'{self.min_visible_keypoints}; '
                    f'num_keypoints={ann.get("num_keypoints")})')
        return repaired

    def _names(self, ids: Sequence[int]) -> str:
        id2name = self.metainfo.get('keypoint_id2name') or {}
        return '(' + ', '.join(str(id2name.get(int(i), int(i)))
                               for i in ids) + ')'

    def _check_data_info(self, info: dict) -> Optional[dict]:
        """Check a parsed data info (data sets whose annotations do not go
        through ``parse_data_info``); None if good."""

        def bad(kind, reason):
            return dict(
                file=info.get('img_path'),
                ann_id=info.get('id'),
                kind=kind,
                reason=reason,
                stage='annotation')

        bbox = info.get('bbox')
        if bbox is not None:
            b = np.asarray(bbox, dtype=np.float64).reshape(-1, 4)
            if not np.isfinite(b).all():
                return bad('bbox_nonfinite', f'bbox has NaN/inf: {_fmt(b[0])}')
            # one instance (top-down); a bottom-up sample keeps the boxes of
            # its invalid instances, as MMPose does
            if len(b) == 1 and (b[0, 2] <= b[0, 0] or b[0, 3] <= b[0, 1]):
                return bad('bbox_zero_area',
                           f'bbox has no area: {_fmt(b[0])} (xyxy)')
        kpts = info.get('keypoints')
        if kpts is not None:
            k = np.asarray(kpts, dtype=np.float64)
            expected = self._num_keypoints()
            if k.ndim < 2 or (expected is not None
                              and k.shape[-2] != expected):
                return bad(
                    'keypoint_count', f'wrong number of keypoints: shape '
                    f'{tuple(k.shape)}, the data set meta has {expected}')
            if not np.isfinite(k).all():
                return bad('keypoints_nonfinite', 'keypoints contain NaN/inf')
        vis = info.get('keypoints_visible')
        if vis is not None:
            v = np.asarray(vis, dtype=np.float64)
            if not np.isfinite(v).all():
                return bad('keypoints_nonfinite',
                           'keypoint visibility contains NaN/inf')
            if self.min_visible_keypoints > 0 and not getattr(
                    self.dataset, 'test_mode', False):
                per_instance = (v > 0).reshape(v.shape[0] if v.ndim > 1 else 1,
                                               -1).sum(-1)
                if (per_instance < self.min_visible_keypoints).any():
                    return bad(
                        'keypoints_invisible',
                        f'{int(per_instance.min())} visible keypoints '
                        f'(min_visible_keypoints='
                        f'{self.min_visible_keypoints})')
        return None

    def _check_loaded(self, info: dict, data: Any) -> Optional[str]:
        """Keypoints inside the loaded image (``keypoints_outside_image=
        'skip'``, when the image size was not known at parse time)."""
        if (self._parse_checked_size
                or self.keypoints_outside_image != 'skip'):
            return None
        shape = None
        sample = data.get('data_samples') if isinstance(data, dict) else None
        if sample is not None and hasattr(sample, 'metainfo'):
            shape = sample.metainfo.get('ori_shape')
        elif isinstance(data, dict):
            shape = data.get('ori_shape')
        kpts, vis = info.get('keypoints'), info.get('keypoints_visible')
        if shape is None or kpts is None or vis is None:
            return None
        h, w = shape[:2]
        k = np.asarray(kpts).reshape(-1, 2)
        visible = np.asarray(vis).reshape(-1) > 0
        out = visible & ((k[:, 0] < 0) | (k[:, 0] > w) | (k[:, 1] < 0)
                         | (k[:, 1] > h))
        if out.any():
            return (f'{int(out.sum())} visible keypoint(s) outside the {w}x{h}'
                    " image (keypoints_outside_image='skip')")
        return None

    # ------------------------------------------------------------ loading
    def __getitem__(self, idx: int) -> Any:
        """The sample ``idx`` or, if it cannot be loaded, the next good one.

        Samples skipped on the way are listed (file, annotation id, reason)
        in ``data_samples.metainfo['bad_samples']`` of the returned sample.
        """
        if not self._fully_initialized:
            self.full_init()
        n = len(self._indices)
        reports: List[Dict] = []
        idx = int(idx) % n
        for _ in range(self.max_refetch + 1):
            inner = int(self._indices[idx])
            if inner in self._bad_loaded:
                idx = (idx + 1) % n
                continue
            try:
                data = self.dataset[inner]
                if data is None:
                    raise BadSampleError('the pipeline returned None')
                kind, reason = 'keypoints_outside_image', None
                if not self._parse_checked_size:
                    reason = self._check_loaded(
                        self.dataset.get_data_info(inner), data)
            except (KeyboardInterrupt, MemoryError):
                raise
            except Exception as e:  # noqa: BLE001 (any loading failure)
                kind, reason = 'load_error', f'{type(e).__name__}: {e}'
                data = None
            if reason is None:
                if reports:
                    self._attach(data, reports)
                return data
            info = self._safe_info(inner)
            record = dict(
                file=info.get('img_path'),
                ann_id=info.get('id'),
                index=inner,
                kind=kind,
                reason=reason,
                stage='load')
            self._reject(record)  # raises in strict mode
            self._bad_loaded.add(inner)
            reports.append(record)
            idx = (idx + 1) % n
        raise RuntimeError(
            f'SkipBadSamples: {self.max_refetch + 1} consecutive samples '
            f'could not be loaded (last: {reports[-1] if reports else None}); '
            'the data set or its pipeline is broken, not a single sample')

    def _safe_info(self, inner: int) -> dict:
        try:
            return self.dataset.get_data_info(inner)
        except Exception:  # noqa: BLE001
            return {}

    @staticmethod
    def _attach(data: Any, reports: List[Dict]) -> None:
        sample = data.get('data_samples') if isinstance(data, dict) else None
        if sample is not None and hasattr(sample, 'set_metainfo'):
            prev = sample.metainfo.get(BAD_SAMPLES_KEY, [])
            sample.set_metainfo({BAD_SAMPLES_KEY: list(prev) + reports})
        elif isinstance(data, dict):
            data[BAD_SAMPLES_KEY] = list(data.get(BAD_SAMPLES_KEY, [])) + \
                reports
