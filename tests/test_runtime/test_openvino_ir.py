# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""The torch-free runtime on OpenVINO IRs (f32, bf16, int8).

The tools export the tiny SG-HRNet and RTMDet as IRs (``--format
openvino``; the pose model also ``--int8`` on generated crops): one JSON
per IR is both the IR side file and the runtime JSON. Then

* a fresh process runs the whole chain from the IR JSONs without importing
  the training stack, with the ONNX files' boxes and keypoints;
* the int8 IR in the runtime gives (up to int8 kernel rounding) the
  heatmaps of the same IR in the plugin's OpenVINO backend;
* an IR whose .bin is not the one its JSON was written for, and bf16 on a
  CPU without bf16 (capability query replaced), are refused with the fix
  named; ``bf16_fallback='f32'`` runs f32 with a warning (the precision
  tests run in fresh processes, see ``_run_script``).
"""
import json
import os
import os.path as osp
import runpy
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tests.test_apis.helpers import (save_detector, save_pose_model,
                                     small_detector_cfg, small_pose_cfg)
from .test_end_to_end import BOXES, HEAVY, SCRIPT, _spread_scores

pytest.importorskip('openvino')
pytestmark = pytest.mark.usefixtures('one_torch_thread')


@pytest.fixture(scope='module')
def image_path(synthetic_coco):
    return osp.join(synthetic_coco, 'val2017', '000000000013.jpg')


@pytest.fixture(scope='module')
def files(tmp_path_factory, repo_root, image_path):
    """Paths of the tiny SG-HRNet and detector as ONNX and as IR, with
    their config and checkpoint."""
    pytest.importorskip('nncf')
    out = str(tmp_path_factory.mktemp('runtime_ir'))
    export_pose = runpy.run_path(
        osp.join(repo_root, 'tools', 'export_onnx.py'))['main']
    export_det = runpy.run_path(
        osp.join(repo_root, 'tools', 'export_detector_onnx.py'))['main']
    cfg, ckpt = save_pose_model(
        small_pose_cfg(repo_root, 'sg_hrnet'), out, 'sg', peaked=True)
    export_pose([cfg, ckpt, '--out', osp.join(out, 'sg.onnx')])
    info = export_pose([
        cfg, ckpt, '--out',
        osp.join(out, 'sgir.xml'), '--format', 'openvino', '--int8',
        '--calib-synthetic', '6'
    ])
    assert 'runtime' in info and info['int8']['precision'] == 'int8'
    det_cfg, det_ckpt = save_detector(small_detector_cfg(), out)
    _spread_scores(det_cfg, det_ckpt, image_path)
    export_det([det_cfg, det_ckpt, '--out', osp.join(out, 'det.onnx')])
    info = export_det([
        det_cfg, det_ckpt, '--out',
        osp.join(out, 'detir.xml'), '--format', 'openvino'
    ])
    assert info['max_abs_diff'] <= 1e-3 * max(info['max_abs_output'], 1)
    # sg.json / det.json: ONNX runtime JSONs; sgir.json, sgir_int8.json,
    # detir.json: IR side files with their runtime sections
    return dict(out=out, cfg=cfg, ckpt=ckpt)


def test_one_json_per_ir_is_side_file_and_runtime_spec(files):
    from mmpose_ext.apis.openvino_backend import read_side
    from mmpose_ext_runtime import load_spec
    out = files['out']
    for stem, task, model in (('sgir', 'topdown_pose', 'sgir.xml'),
                              ('sgir_int8', 'topdown_pose', 'sgir_int8.xml'),
                              ('detir', 'person_detection', 'detir.xml')):
        side = read_side(osp.join(out, f'{stem}.xml'))  # sha256 checked
        spec = load_spec(osp.join(out, f'{stem}.xml'))
        assert spec['task'] == task and spec['model'] == model
        assert spec == dict(side['runtime'], _path=spec['_path'])
    # the ONNX and IR exports describe the same pre- and post-processing
    with open(osp.join(out, 'sg.json')) as f:
        onnx_spec = json.load(f)
    ir_spec = load_spec(osp.join(out, 'sgir.xml'))
    for key in ('input_size', 'heatmap_size', 'preprocess', 'codec', 'test',
                'dataset_meta'):
        assert ir_spec[key] == onnx_spec[key], key


def _run_script(script, args, repo_root):
    """Run ``script`` in a fresh process and return its last line as JSON
    (and stderr).

    The precision tests run out of the pytest process, as a user's
    process would: one OpenVINO Core, created after the capability query
    is replaced. (While the runtime still created one Core per network,
    the Cores dropped in the pytest process were followed by SIGSEGV,
    si_code SI_KERNEL, at syscall returns once later tests forked; see
    ``mmpose_ext_runtime.backends.openvino_core``.)
    """
    proc = subprocess.run([sys.executable, '-c', script, *args],
                          env=dict(
                              os.environ,
                              PYTHONPATH=repo_root,
                              OMP_NUM_THREADS='1'),
                          capture_output=True,
                          text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def test_ir_chain_without_the_training_stack(files, image_path, tmp_path,
                                             repo_root):
    """IR JSONs in a fresh process: no training stack imported; boxes equal
    to the ONNX files', keypoints to ONNX Runtime's on those boxes."""
    got = {}
    for kind in ('onnx', 'ir'):
        out = str(tmp_path / f'{kind}.npz')
        pose = osp.join(files['out'], 'sg.json' if kind == 'onnx' else
                        'sgir.xml')  # the IR's JSON is found beside it
        det = osp.join(files['out'],
                       'det.json' if kind == 'onnx' else 'detir.xml')
        heavy, _ = _run_script(SCRIPT,
                               [pose, det, image_path, out, ','.join(HEAVY)],
                               repo_root)
        assert heavy == []  # none of the training stack imported
        got[kind] = np.load(out)
    assert len(got['ir']['boxes']) >= 1
    np.testing.assert_allclose(
        got['ir']['boxes'], got['onnx']['boxes'], atol=1e-2)
    # keypoints on the same boxes (the engines' boxes differ by ~1e-3 px,
    # which can flip a quarter-pixel refinement)
    from mmpose_ext_runtime import PoseEstimator, read_image
    ref, _ = PoseEstimator(
        osp.join(files['out'], 'sg.json'),
        backend='onnxruntime',
        num_threads=1)(read_image(image_path), got['ir']['boxes'])
    np.testing.assert_allclose(got['ir']['keypoints'], ref, atol=1e-3)


def test_int8_ir_in_the_runtime_is_the_plugins_int8(files):
    """The runtime runs the int8 IR as the plugin does. Not bit for bit:
    the runtime compiles one dynamic-batch model, the plugin one static
    model per shape, and their int8 kernels round differently near the
    quantization steps; so the test asks that the runtime's heatmaps be
    much closer to the plugin's int8 ones than int8 is to f32."""
    import torch

    from mmpose_ext.apis.openvino_backend import OpenVINOHeatmapSession
    from mmpose_ext_runtime import PoseEstimator
    torch.set_num_threads(1)
    int8 = PoseEstimator(
        osp.join(files['out'], 'sgir_int8.xml'), num_threads=1)
    assert int8.session.ir_precision == 'int8'
    x = np.random.RandomState(0).randn(4, 3, 128, 96).astype(np.float32)
    got = int8.session(x)[0]
    plugin8 = OpenVINOHeatmapSession(
        osp.join(files['out'], 'sgir_int8.xml'), 'int8',
        num_threads=1).run_numpy(x)
    f32 = PoseEstimator(
        osp.join(files['out'], 'sgir.xml'), num_threads=1).session(x)[0]
    to_plugin = np.abs(got - plugin8).mean()
    int8_vs_f32 = np.abs(plugin8 - f32).mean()
    assert int8_vs_f32 > 0.05 * np.abs(f32).mean()  # int8 is not f32
    assert to_plugin < int8_vs_f32 / 3, (to_plugin, int8_vs_f32)


def test_an_ir_that_is_not_its_jsons(files, tmp_path):
    from mmpose_ext_runtime import (IRMismatchError, PersonDetector,
                                    PoseEstimator)
    for ext in ('.xml', '.bin', '.json'):
        shutil.copy(
            osp.join(files['out'], 'sgir' + ext),
            str(tmp_path / ('sgir' + ext)))
    # the f32 weights replaced by the int8 IR's: same names, other bytes
    shutil.copy(
        osp.join(files['out'], 'sgir_int8.bin'), str(tmp_path / 'sgir.bin'))
    with pytest.raises(IRMismatchError, match='sha256 differs'):
        PoseEstimator(str(tmp_path / 'sgir.json'))
    # a detector IR's JSON given as the pose model, and the other way
    with pytest.raises(ValueError, match='person_detection'):
        PoseEstimator(osp.join(files['out'], 'detir.xml'))
    with pytest.raises(ValueError, match='topdown_pose'):
        PersonDetector(osp.join(files['out'], 'sgir.xml'))


def test_onnx_and_ir_of_one_name_would_share_a_json(files, repo_root):
    """sg.onnx's runtime JSON is sg.json; an IR exported as sg.xml would
    replace it: refused before anything is written."""
    export_pose = runpy.run_path(
        osp.join(repo_root, 'tools', 'export_onnx.py'))['main']
    out = files['out']
    before = open(osp.join(out, 'sg.json')).read()
    with pytest.raises(FileExistsError, match='"sg.onnx".*"sg.xml"'):
        export_pose([
            files['cfg'], files['ckpt'], '--out',
            osp.join(out, 'sg.xml'), '--format', 'openvino'
        ])
    assert not osp.exists(osp.join(out, 'sg.xml'))
    assert open(osp.join(out, 'sg.json')).read() == before
    with pytest.raises(FileExistsError, match='"sgir.xml".*"sgir.onnx"'):
        export_pose(
            [files['cfg'], files['ckpt'], '--out',
             osp.join(out, 'sgir.onnx')])
    # re-exporting the same file replaces its own JSON
    export_pose(
        [files['cfg'], files['ckpt'], '--out',
         osp.join(out, 'sg.onnx')])


NO_BF16_SCRIPT = '''
import json, sys, warnings
import numpy as np
from mmpose_ext_runtime import (PrecisionNotSupportedError, TopdownRuntime,
                                openvino_ir, read_image)
from mmpose_ext_runtime.__main__ import main
openvino_ir.cpu_capabilities = lambda core: ('FP32', 'INT8')  # no bf16
pose, image_path, out_dir = sys.argv[1:4]
boxes = np.array(json.loads(sys.argv[4]), np.float32)
res = {}
try:
    TopdownRuntime(pose, precision='bf16')
except PrecisionNotSupportedError as e:
    res['error'] = str(e)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always')
    rt = TopdownRuntime(pose, num_threads=1, precision='bf16',
                        bf16_fallback='f32')
res['warnings'] = [str(w.message) for w in caught]
res['fallback_precision'] = rt.pose.session.precision
image = read_image(image_path)
f32 = TopdownRuntime(pose, num_threads=1)
res['same_keypoints'] = bool(np.array_equal(
    rt(image, boxes).keypoints, f32(image, boxes).keypoints))
res['cli_rc'] = main(['--pose', pose, '--input', image_path, '--out-dir',
                      out_dir, '--precision', 'bf16'])
print(json.dumps(res))
'''


def test_bf16_where_the_cpu_has_none(files, image_path, repo_root):
    """bf16 on a CPU without it (capability query replaced): an error that
    names the fix; bf16_fallback='f32' warns and really runs f32; the
    command line stops with exit code 2."""
    res, stderr = _run_script(NO_BF16_SCRIPT, [
        osp.join(files['out'], 'sgir.xml'), image_path,
        osp.join(files['out'], 'cli'),
        json.dumps(BOXES.tolist())
    ], repo_root)
    assert 'no BF16' in res['error']
    assert "bf16_fallback='f32'" in res['error']
    assert any('running f32' in w for w in res['warnings'])
    assert res['fallback_precision'] == 'f32'
    assert res['same_keypoints']
    assert res['cli_rc'] == 2 and 'error: bf16 inference needs' in stderr


BF16_SCRIPT = '''
import json, sys
import numpy as np
import openvino
from mmpose_ext_runtime import TopdownRuntime, openvino_ir, read_image
if 'BF16' not in openvino_ir.cpu_capabilities(openvino.Core()):
    print(json.dumps(None))
    sys.exit(0)
image = read_image(sys.argv[2])
boxes = np.array(json.loads(sys.argv[3]), np.float32)
out = {}
for precision in ('bf16', 'f32'):
    rt = TopdownRuntime(sys.argv[1], num_threads=1, precision=precision)
    assert rt.pose.session.precision == precision
    out[precision] = rt(image, boxes).keypoint_scores.tolist()
print(json.dumps(out))
'''


def test_bf16_runs_where_the_cpu_has_it(files, image_path, repo_root):
    """bf16 where the CPU has it: the keypoint scores move a little."""
    res, _ = _run_script(BF16_SCRIPT, [
        osp.join(files['out'], 'sgir.xml'), image_path,
        json.dumps(BOXES.tolist())
    ], repo_root)
    if res is None:
        pytest.skip('this CPU has no bf16 arithmetic')
    a, b = np.array(res['bf16']), np.array(res['f32'])
    # bf16 rounds (8-bit mantissa through every layer): the heatmap peaks
    # move by a few percent, not more
    assert not np.array_equal(a, b)
    rel = np.abs(a - b) / np.maximum(np.abs(b), 0.1)
    assert np.median(rel) < 0.03 and rel.max() < 0.25, rel
