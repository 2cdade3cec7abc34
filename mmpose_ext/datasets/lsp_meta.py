# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Dataset meta information of LSP / LSP-extended (14 joints).

Joint order is the one of the LSP ``joints.mat`` files (person-centric names:
"right" is the person's right). ``configs/_base_/datasets/lsp.py`` holds the
same dict as ``dataset_info`` for configs (``CombinedDataset`` needs a
``from_file`` meta); a unit test keeps the two identical.

``sigmas`` (only used by OKS-based code) are MPII's per-joint values of the
corresponding joints (LSP ``neck`` = MPII ``upper_neck``); ``joint_weights``
follow MMPose's MPII weights (1.5 ankles/wrists, 1.2 knees/elbows).
"""

LSP_KEYPOINT_NAMES = ('right_ankle', 'right_knee', 'right_hip', 'left_hip',
                      'left_knee', 'left_ankle', 'right_wrist', 'right_elbow',
                      'right_shoulder', 'left_shoulder', 'left_elbow',
                      'left_wrist', 'neck', 'head_top')

LSP_METAINFO = dict(
    dataset_name='lsp',
    paper_info=dict(
        author='Johnson, Sam and Everingham, Mark',
        title='Clustered Pose and Nonlinear Appearance Models for Human '
        'Pose Estimation',
        container='Proceedings of the British Machine Vision Conference',
        year='2010',
        homepage='http://sam.johnson.io/research/lsp.html',
    ),
    keypoint_info={
        0: dict(name='right_ankle', id=0, color=[255, 128, 0], type='lower',
                swap='left_ankle'),
        1: dict(name='right_knee', id=1, color=[255, 128, 0], type='lower',
                swap='left_knee'),
        2: dict(name='right_hip', id=2, color=[255, 128, 0], type='lower',
                swap='left_hip'),
        3: dict(name='left_hip', id=3, color=[0, 255, 0], type='lower',
                swap='right_hip'),
        4: dict(name='left_knee', id=4, color=[0, 255, 0], type='lower',
                swap='right_knee'),
        5: dict(name='left_ankle', id=5, color=[0, 255, 0], type='lower',
                swap='right_ankle'),
        6: dict(name='right_wrist', id=6, color=[255, 128, 0], type='upper',
                swap='left_wrist'),
        7: dict(name='right_elbow', id=7, color=[255, 128, 0], type='upper',
                swap='left_elbow'),
        8: dict(name='right_shoulder', id=8, color=[255, 128, 0],
                type='upper', swap='left_shoulder'),
        9: dict(name='left_shoulder', id=9, color=[0, 255, 0], type='upper',
                swap='right_shoulder'),
        10: dict(name='left_elbow', id=10, color=[0, 255, 0], type='upper',
                 swap='right_elbow'),
        11: dict(name='left_wrist', id=11, color=[0, 255, 0], type='upper',
                 swap='right_wrist'),
        12: dict(name='neck', id=12, color=[51, 153, 255], type='upper',
                 swap=''),
        13: dict(name='head_top', id=13, color=[51, 153, 255], type='upper',
                 swap=''),
    },
    skeleton_info={
        0: dict(link=('right_ankle', 'right_knee'), id=0,
                color=[255, 128, 0]),
        1: dict(link=('right_knee', 'right_hip'), id=1, color=[255, 128, 0]),
        2: dict(link=('left_ankle', 'left_knee'), id=2, color=[0, 255, 0]),
        3: dict(link=('left_knee', 'left_hip'), id=3, color=[0, 255, 0]),
        4: dict(link=('right_hip', 'left_hip'), id=4, color=[51, 153, 255]),
        5: dict(link=('right_wrist', 'right_elbow'), id=5,
                color=[255, 128, 0]),
        6: dict(link=('right_elbow', 'right_shoulder'), id=6,
                color=[255, 128, 0]),
        7: dict(link=('left_wrist', 'left_elbow'), id=7, color=[0, 255, 0]),
        8: dict(link=('left_elbow', 'left_shoulder'), id=8,
                color=[0, 255, 0]),
        9: dict(link=('right_shoulder', 'left_shoulder'), id=9,
                color=[51, 153, 255]),
        10: dict(link=('right_shoulder', 'right_hip'), id=10,
                 color=[255, 128, 0]),
        11: dict(link=('left_shoulder', 'left_hip'), id=11,
                 color=[0, 255, 0]),
        12: dict(link=('right_shoulder', 'neck'), id=12,
                 color=[51, 153, 255]),
        13: dict(link=('left_shoulder', 'neck'), id=13,
                 color=[51, 153, 255]),
        14: dict(link=('neck', 'head_top'), id=14, color=[51, 153, 255]),
    },
    joint_weights=[
        1.5, 1.2, 1., 1., 1.2, 1.5, 1.5, 1.2, 1., 1., 1.2, 1.5, 1., 1.
    ],
    sigmas=[
        0.089, 0.083, 0.107, 0.107, 0.083, 0.089, 0.062, 0.072, 0.179, 0.179,
        0.072, 0.062, 0.026, 0.026
    ])

# MPII (MMPose order) -> LSP: (mpii_index, lsp_index) pairs for
# ``KeypointConverter(num_keypoints=14, mapping=MPII_TO_LSP)``. LSP "neck" is
# MPII "upper_neck" (as in Convolutional Pose Machines' LSP/MPII merge).
MPII_TO_LSP = [(0, 0), (1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (10, 6),
               (11, 7), (12, 8), (13, 9), (14, 10), (15, 11), (8, 12),
               (9, 13)]
