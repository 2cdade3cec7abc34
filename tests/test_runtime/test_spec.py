# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""The runtime's JSON rules that need no engine: an IR side file without a
runtime section, and the JSON shared by an ONNX file and an IR of one
name."""
import json

import pytest

from mmpose_ext_runtime import SpecError, load_spec
from mmpose_ext_runtime.openvino_ir import IR_FORMAT
from mmpose_ext_runtime.spec import FORMAT, VERSION, check_json_free


def _write(path, obj):
    path.write_text(json.dumps(obj))
    return str(path)


def test_ir_side_file_without_runtime_section(tmp_path):
    side = _write(tmp_path / 'udp.json',
                  dict(format=IR_FORMAT, precision='f32', files={}))
    with pytest.raises(SpecError, match='without a runtime section'):
        load_spec(side)
    # with one, the section is the spec
    spec = dict(
        format=FORMAT,
        version=VERSION,
        task='person_detection',
        model='udp.xml',
        architecture='RTMDet',
        preprocess={},
        head={},
        test={})
    _write(tmp_path / 'udp.json', dict(format=IR_FORMAT, runtime=spec))
    got = load_spec(str(tmp_path / 'udp.xml'))  # found beside the .xml
    assert got['model'] == 'udp.xml' and got['task'] == 'person_detection'


def test_one_name_one_json(tmp_path):
    onnx_spec = _write(tmp_path / 'm.json',
                       dict(format=FORMAT, version=VERSION, model='m.onnx'))
    check_json_free(onnx_spec, str(tmp_path / 'm.onnx'))  # its own: fine
    with pytest.raises(FileExistsError, match='"m.onnx".*"m.xml"'):
        check_json_free(onnx_spec, str(tmp_path / 'm.xml'))
    ir_side = _write(tmp_path / 'm.json', dict(format=IR_FORMAT))
    check_json_free(ir_side, str(tmp_path / 'm.xml'))
    with pytest.raises(FileExistsError, match='"m.xml".*"m.onnx"'):
        check_json_free(ir_side, str(tmp_path / 'm.onnx'))
    # not ours, or missing: free
    check_json_free(_write(tmp_path / 'other.json', [1, 2]), 'other.onnx')
    check_json_free(str(tmp_path / 'missing.json'), 'missing.onnx')
