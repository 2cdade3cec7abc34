# SADI-Net, LSP, 256x256, PCK@0.2 with LSP's torso (Gao et al., IEEE Access
# 2023). As the paper (after SPCNet), it trains on LSP (first 1000 images)
# + LSP-extended (10000) + the MPII training set mapped to LSP's 14 joints,
# combined with MMPose's CombinedDataset, and tests on the last 1000 LSP
# images with TorsoPCKAccuracy (||left shoulder - right hip||, eval_pck.m).
#
# Everything else (model, codecs, recipe, six-scale + flip test) comes from
# configs/sadi_net_mpii.py; only the number of keypoints, the data and the
# metric differ.
#
# Data layout (the original downloads, unchanged):
#   data/lsp/joints.mat (3x14x2000), data/lsp/images/im0001.jpg ...
#   data/lspet/joints.mat (14x3x10000), data/lspet/images/im00001.jpg ...
#   data/mpii/annotations/mpii_train.json, data/mpii/images/ ...
# To train on LSP alone:
#   --cfg-options train_dataloader.dataset.datasets="[...]" or use the
#   LspDataset entry as train_dataloader.dataset.
_base_ = ['./sadi_net_mpii.py']

num_keypoints = 14
lsp_metainfo = dict(from_file='{{fileDirname}}/_base_/datasets/lsp.py')
# MPII (MMPose order) -> LSP order; LSP "neck" = MPII "upper_neck"
# (the one place this mapping is written; tests check it against the two
# meta files' joint names)
mpii_to_lsp = [(0, 0), (1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (10, 6),
               (11, 7), (12, 8), (13, 9), (14, 10), (15, 11), (8, 12), (9, 13)]

model = dict(
    backbone=dict(num_keypoints=num_keypoints),
    head=dict(num_keypoints=num_keypoints))

# hooks: keep the best torso PCK
default_hooks = dict(checkpoint=dict(save_best='PCK', rule='greater'))

lsp_train = dict(
    type='LspDataset',
    data_root='data/lsp/',
    ann_file='joints.mat',
    data_prefix=dict(img='images/'),
    variant='lsp',
    split='train',
    num_test=1000,
    pipeline=[])
lspet_train = dict(
    type='LspDataset',
    data_root='data/lspet/',
    ann_file='joints.mat',
    data_prefix=dict(img='images/'),
    variant='lspet',
    split='all',
    pipeline=[])
mpii_train = dict(
    type='MpiiDataset',
    data_root='data/mpii/',
    data_mode='topdown',
    ann_file='annotations/mpii_train.json',
    data_prefix=dict(img='images/'),
    pipeline=[
        dict(
            type='KeypointConverter',
            num_keypoints=num_keypoints,
            mapping=mpii_to_lsp)
    ])

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        **_base_.ft_skip_bad_samples,  # fault tolerance, as the MPII config
        dataset_type='CombinedDataset',
        metainfo=lsp_metainfo,
        datasets=[lsp_train, lspet_train, mpii_train],
        pipeline=_base_.train_pipeline,
        test_mode=False))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='LspDataset',
        data_root='data/lsp/',
        ann_file='joints.mat',
        data_prefix=dict(img='images/'),
        variant='lsp',
        split='test',
        num_test=1000,
        test_mode=True,
        pipeline=_base_.val_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(_delete_=True, type='TorsoPCKAccuracy', thr=0.2)
test_evaluator = val_evaluator
