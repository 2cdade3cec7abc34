# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""tools/vis_heatmaps.py and mmpose_ext.apis.collect_maps / plot_maps for
the baseline HRNet, SG-HRNet and SADI-Net (tiny widths, random weights)."""
import os.path as osp
import runpy

import cv2
import numpy as np
import pytest

from mmpose_ext.apis import collect_maps, init_pose_model, plot_maps
from tests.test_apis.helpers import save_pose_model, small_pose_cfg

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def two_colour_image(tmp_path_factory):
    """Left half red, right half blue (BGR file), 240x320."""
    img = np.zeros((240, 320, 3), np.uint8)
    img[:, :160] = (0, 0, 255)
    img[:, 160:] = (255, 0, 0)
    path = str(tmp_path_factory.mktemp('vis') / 'two_colour.png')
    cv2.imwrite(path, img)
    return path


@pytest.fixture(scope='module')
def family_models(repo_root, tmp_path_factory):
    out = str(tmp_path_factory.mktemp('vis_models'))
    return {
        fam: save_pose_model(small_pose_cfg(repo_root, fam), out, fam)
        for fam in ('baseline', 'sg_hrnet', 'sadi_net')
    }


def _titles(fig):
    return [ax.get_title() for ax in fig.axes]


def test_crop_is_the_box_in_rgb(family_models, two_colour_image):
    model = init_pose_model(*family_models['baseline'], device='cpu')
    maps = collect_maps(model, two_colour_image, [100, 20, 220, 220])
    assert maps['kind'] == 'heatmap'
    crop = maps['crop']
    assert crop.shape == (128, 96, 3) and crop.dtype == np.uint8
    # box centre x = 160: the crop's left is the red half, right the blue
    h = crop.shape[0] // 2
    np.testing.assert_array_equal(crop[h, 10], [255, 0, 0])
    np.testing.assert_array_equal(crop[h, -10], [0, 0, 255])
    assert maps['heatmaps'].shape == (17, 32, 24)
    assert maps['keypoints'].shape == (17, 2)
    assert (maps['keypoints'] >= -4).all()  # crop pixels (-1 hm px = -4)
    assert (maps['keypoints'][:, 0] <= 96).all()
    assert maps['keypoint_names'][0] == 'nose'
    # same heatmaps as MMPose's inference_topdown asked for them
    from mmpose.apis import inference_topdown
    model.test_cfg.update(output_heatmaps=True, flip_test=False)
    res = inference_topdown(model, two_colour_image,
                            np.array([[100, 20, 220, 220]]))
    np.testing.assert_allclose(
        res[0].pred_fields.heatmaps.cpu().numpy(), maps['heatmaps'], atol=1e-6)


def test_sg_hrnet_segmentation_maps(family_models, two_colour_image, tmp_path):
    model = init_pose_model(*family_models['sg_hrnet'], device='cpu')
    maps = collect_maps(model, two_colour_image)
    assert maps['kind'] == 'sg_hrnet'
    seg = maps['seg_maps']
    assert seg.shape == (4, 32, 24)  # SGM at stages 2, 3, 4 + final
    assert (seg >= 0).all() and (seg <= 1).all()
    fig = plot_maps(maps, str(tmp_path / 'sg.png'))
    titles = _titles(fig)
    for t in ('seg: SGM stage 2', 'seg: SGM stage 4', 'seg: SGM final', 'nose',
              'right_ankle'):
        assert t in titles
    assert cv2.imread(str(tmp_path / 'sg.png')) is not None


def test_sadi_net_rfm_dlm_and_sfm_weights(family_models, two_colour_image,
                                          tmp_path):
    model = init_pose_model(*family_models['sadi_net'], device='cpu')
    maps = collect_maps(model, two_colour_image, [60, 10, 260, 230])
    assert maps['kind'] == 'sadi_net'
    assert maps['h_rfm'].shape == (2, 17, 32, 24)  # two stacks
    # prediction decodes the last stack's H_rfm (predict_from='heatmap')
    np.testing.assert_allclose(maps['heatmaps'], maps['h_rfm'][-1], atol=1e-6)
    h_dlm = maps['h_dlm']
    assert h_dlm.shape == (17, 32, 24)
    np.testing.assert_allclose(
        h_dlm.reshape(17, -1).max(1), 1.0,
        atol=1e-5)  # peak-normalised densities
    w = maps['sfm_weights']
    assert w.shape == (4, 32, 24)
    np.testing.assert_allclose(w.sum(0), 1.0, atol=1e-5)  # softmax
    fig = plot_maps(maps, str(tmp_path / 'sadi.png'))
    titles = _titles(fig)
    for t in ('H_rfm stack 2 (max)', 'H_dlm (max)', 'SFM weight, scale 1/4',
              'SFM weight, scale 1/32', 'nose: H_rfm', 'nose: H_dlm'):
        assert t in titles


def test_tool(family_models, two_colour_image, tmp_path, repo_root, capsys):
    main = runpy.run_path(osp.join(repo_root, 'tools',
                                   'vis_heatmaps.py'))['main']
    out = str(tmp_path / 'fig.png')
    rc = main([
        *family_models['sg_hrnet'], two_colour_image, '--bbox', '40', '20',
        '200', '230', '--out', out, '--device', 'cpu'
    ])
    assert rc == 0
    fig = cv2.imread(out)
    assert fig is not None and fig.shape[0] > 300 and fig.shape[1] > 600
    assert 'seg_maps (4, 32, 24)' in capsys.readouterr().out
    # a box outside the image: a message, no figure
    rc = main([
        *family_models['sg_hrnet'], two_colour_image, '--bbox', '400', '300',
        '500', '400', '--out',
        str(tmp_path / 'no.png'), '--device', 'cpu'
    ])
    assert rc == 2
    assert 'outside the image' in capsys.readouterr().err
    assert not osp.exists(tmp_path / 'no.png')
