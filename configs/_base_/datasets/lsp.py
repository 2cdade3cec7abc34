# LSP / LSP-extended dataset meta (14 joints in the order of the LSP
# joints.mat files, person-centric names: "right" is the person's right),
# the one place it is written: configs read it with
# `metainfo=dict(from_file='.../_base_/datasets/lsp.py')` (CombinedDataset
# needs it), LspDataset and the synthetic data generator read this file.
# `sigmas` (only used by OKS-based code) are MPII's values of the
# corresponding joints (LSP `neck` = MPII `upper_neck`); `joint_weights`
# follow MMPose's MPII weights (1.5 ankles/wrists, 1.2 knees/elbows).
dataset_info = {
    'dataset_name':
    'lsp',
    'paper_info': {
        'author': 'Johnson, Sam and Everingham, Mark',
        'title': 'Clustered Pose and Nonlinear Appearance Models for '
        'Human Pose Estimation',
        'container': 'Proceedings of the British Machine Vision '
        'Conference',
        'year': '2010',
        'homepage': 'http://sam.johnson.io/research/lsp.html'
    },
    'keypoint_info': {
        0: {
            'name': 'right_ankle',
            'id': 0,
            'color': [255, 128, 0],
            'type': 'lower',
            'swap': 'left_ankle'
        },
        1: {
            'name': 'right_knee',
            'id': 1,
            'color': [255, 128, 0],
            'type': 'lower',
            'swap': 'left_knee'
        },
        2: {
            'name': 'right_hip',
            'id': 2,
            'color': [255, 128, 0],
            'type': 'lower',
            'swap': 'left_hip'
        },
        3: {
            'name': 'left_hip',
            'id': 3,
            'color': [0, 255, 0],
            'type': 'lower',
            'swap': 'right_hip'
        },
        4: {
            'name': 'left_knee',
            'id': 4,
            'color': [0, 255, 0],
            'type': 'lower',
            'swap': 'right_knee'
        },
        5: {
            'name': 'left_ankle',
            'id': 5,
            'color': [0, 255, 0],
            'type': 'lower',
            'swap': 'right_ankle'
        },
        6: {
            'name': 'right_wrist',
            'id': 6,
            'color': [255, 128, 0],
            'type': 'upper',
            'swap': 'left_wrist'
        },
        7: {
            'name': 'right_elbow',
            'id': 7,
            'color': [255, 128, 0],
            'type': 'upper',
            'swap': 'left_elbow'
        },
        8: {
            'name': 'right_shoulder',
            'id': 8,
            'color': [255, 128, 0],
            'type': 'upper',
            'swap': 'left_shoulder'
        },
        9: {
            'name': 'left_shoulder',
            'id': 9,
            'color': [0, 255, 0],
            'type': 'upper',
            'swap': 'right_shoulder'
        },
        10: {
            'name': 'left_elbow',
            'id': 10,
            'color': [0, 255, 0],
            'type': 'upper',
            'swap': 'right_elbow'
        },
        11: {
            'name': 'left_wrist',
            'id': 11,
            'color': [0, 255, 0],
            'type': 'upper',
            'swap': 'right_wrist'
        },
        12: {
            'name': 'neck',
            'id': 12,
            'color': [51, 153, 255],
            'type': 'upper',
            'swap': ''
        },
        13: {
            'name': 'head_top',
            'id': 13,
            'color': [51, 153, 255],
            'type': 'upper',
            'swap': ''
        }
    },
    'skeleton_info': {
        0: {
            'link': ('right_ankle', 'right_knee'),
            'id': 0,
            'color': [255, 128, 0]
        },
        1: {
            'link': ('right_knee', 'right_hip'),
            'id': 1,
            'color': [255, 128, 0]
        },
        2: {
            'link': ('left_ankle', 'left_knee'),
            'id': 2,
            'color': [0, 255, 0]
        },
        3: {
            'link': ('left_knee', 'left_hip'),
            'id': 3,
            'color': [0, 255, 0]
        },
        4: {
            'link': ('right_hip', 'left_hip'),
            'id': 4,
            'color': [51, 153, 255]
        },
        5: {
            'link': ('right_wrist', 'right_elbow'),
            'id': 5,
            'color': [255, 128, 0]
        },
        6: {
            'link': ('right_elbow', 'right_shoulder'),
            'id': 6,
            'color': [255, 128, 0]
        },
        7: {
            'link': ('left_wrist', 'left_elbow'),
            'id': 7,
            'color': [0, 255, 0]
        },
        8: {
            'link': ('left_elbow', 'left_shoulder'),
            'id': 8,
            'color': [0, 255, 0]
        },
        9: {
            'link': ('right_shoulder', 'left_shoulder'),
            'id': 9,
            'color': [51, 153, 255]
        },
        10: {
            'link': ('right_shoulder', 'right_hip'),
            'id': 10,
            'color': [255, 128, 0]
        },
        11: {
            'link': ('left_shoulder', 'left_hip'),
            'id': 11,
            'color': [0, 255, 0]
        },
        12: {
            'link': ('right_shoulder', 'neck'),
            'id': 12,
            'color': [51, 153, 255]
        },
        13: {
            'link': ('left_shoulder', 'neck'),
            'id': 13,
            'color': [51, 153, 255]
        },
        14: {
            'link': ('neck', 'head_top'),
            'id': 14,
            'color': [51, 153, 255]
        }
    },
    'joint_weights':
    [1.5, 1.2, 1.0, 1.0, 1.2, 1.5, 1.5, 1.2, 1.0, 1.0, 1.2, 1.5, 1.0, 1.0],
    'sigmas': [
        0.089, 0.083, 0.107, 0.107, 0.083, 0.089, 0.062, 0.072, 0.179, 0.179,
        0.072, 0.062, 0.026, 0.026
    ]
}
