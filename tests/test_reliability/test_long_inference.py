# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Long inference: the top-down inferencer over 240 generated images plus 4
broken inputs keeps its resident memory flat and reports each failure
(naming the file) without stopping; ``tools/topdown_demo.py`` on a folder
goes on past unreadable files and lists them."""
import gc
import json
import os
import os.path as osp

import numpy as np
import pytest

from .conftest import dump_cfg, tiny_sg_hrnet_cfg

pytestmark = pytest.mark.slow

NUM_IMAGES = 240
WARMUP = 40
MAX_GROWTH_MB = 24.0


@pytest.fixture(scope='module')
def images(tmp_path_factory):
    from mmpose_ext.devkit.synthetic import generate_dataset
    root = str(tmp_path_factory.mktemp('long_inference'))
    generate_dataset(
        'coco',
        root,
        num_train=1,
        num_val=NUM_IMAGES,
        seed=1,
        image_size=(160, 120),
        max_people=1)
    img_dir = osp.join(root, 'val2017')
    good = sorted(osp.join(img_dir, f) for f in os.listdir(img_dir))
    bad_dir = osp.join(root, 'bad')
    os.makedirs(bad_dir)
    bad = {
        'garbage.jpg': os.urandom(3000),
        'empty.jpg': b'',
        'text.jpg': b'this is not an image\n',
    }
    for name, data in bad.items():
        with open(osp.join(bad_dir, name), 'wb') as f:
            f.write(data)
    bad_paths = [osp.join(bad_dir, n) for n in bad]
    bad_paths.append(osp.join(bad_dir, 'missing.jpg'))  # never written
    return root, good, bad_paths


@pytest.fixture(scope='module')
def pose_config(repo_root, images, tmp_path_factory):
    root = images[0]
    work = tmp_path_factory.mktemp('inference_cfg')
    cfg = tiny_sg_hrnet_cfg(repo_root, root, work)
    return dump_cfg(cfg, work / 'tiny_sg_hrnet.py')


def _rss_mb():
    import psutil
    return psutil.Process().memory_info().rss / 2**20


def test_long_inference_memory_is_flat_and_failures_are_reported(
        images, pose_config, tmp_path):
    import torch

    from mmpose_ext.apis import TopdownInferencer
    _, good, bad = images
    # broken inputs spread over the run: early, middle and at the end
    paths = list(good)
    for i, p in zip((5, NUM_IMAGES // 2, NUM_IMAGES - 10, len(paths)), bad):
        paths.insert(i, p)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        inferencer = TopdownInferencer(pose_config, None, device='cpu')
        failures, done, rss = [], 0, []
        for i, path in enumerate(paths):
            try:
                result = inferencer(path)
                assert result.keypoints.shape == (1, 17, 2)
                assert np.isfinite(result.keypoints).all()
                done += 1
            except (ValueError, OSError) as e:  # what the demo tool catches
                failures.append((path, str(e)))
            if i + 1 == WARMUP or (i + 1) % 20 == 0 or i + 1 == len(paths):
                rss.append((i + 1, _rss_mb()))
    finally:
        torch.set_num_threads(threads)

    assert done == len(good)
    assert [p for p, _ in failures] == bad
    for path, msg in failures:
        assert osp.basename(path) in msg, msg
    base = dict(rss)[WARMUP]
    growth = rss[-1][1] - base
    peak = max(m for n, m in rss if n >= WARMUP) - base
    figures = dict(
        images=len(paths),
        ok=done,
        failed=len(failures),
        rss_after_warmup_mb=round(base, 1),
        rss_end_mb=round(rss[-1][1], 1),
        growth_mb=round(growth, 2),
        peak_growth_mb=round(peak, 2),
        samples=[(n, round(m, 1)) for n, m in rss],
        failures=[f'{osp.basename(p)}: {m}' for p, m in failures])
    print('long inference figures:', json.dumps(figures))
    with open(tmp_path / 'long_inference.json', 'w') as f:
        json.dump(figures, f)
    assert growth < MAX_GROWTH_MB and peak < MAX_GROWTH_MB, figures
    del inferencer
    gc.collect()


def test_demo_tool_goes_on_past_broken_files(images, pose_config, tmp_path,
                                             capsys):
    import shutil
    import sys
    _, good, bad = images
    folder = tmp_path / 'folder'
    folder.mkdir()
    for p in good[:4] + [b for b in bad if osp.exists(b)][:2]:
        shutil.copy(p, folder)
    sys.path.insert(
        0,
        osp.join(
            osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
            'tools'))
    try:
        import topdown_demo
    finally:
        sys.path.pop(0)
    ckpt = tmp_path / 'random.pth'
    import torch

    from mmpose_ext.apis import init_pose_model
    model = init_pose_model(pose_config, None, device='cpu')
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    code = topdown_demo.main([
        pose_config,
        str(ckpt), '--input',
        str(folder), '--out-dir',
        str(tmp_path / 'out'), '--device', 'cpu'
    ])
    err = capsys.readouterr().err
    assert code == 1  # some inputs failed, the others were processed
    assert '2 inputs failed' in err
    assert 'garbage.jpg' in err and 'empty.jpg' in err
    with open(tmp_path / 'out' / 'image_ids.json') as f:
        assert len(json.load(f)) == 4
