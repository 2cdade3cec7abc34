# CrowdPose (14 keypoints) for the worked example of docs/custom_dataset.md:
# everything that changes with the keypoint set and the data set, shared by
# configs/examples/{sg_hrnet_w32,sadi_net}_crowdpose.py. Inherited next to a
# model config, so every name is new (prefixed `crowdpose_`): MMEngine
# forbids a key defined in two bases.
#
# Data, ann files, detection boxes and evaluator as MMPose's own CrowdPose
# configs (mmpose::body_2d_keypoint/topdown_heatmap/crowdpose/
# td-hm_hrnet-w32_8xb64-210e_crowdpose-256x192.py):
#   data/crowdpose/annotations/mmpose_crowdpose_{trainval,test}.json
#   data/crowdpose/annotations/det_for_crowd_test_0.1_0.5.json
#   data/crowdpose/images/100000.jpg ...

# K: the meta's number of keypoints (tests check the two agree)
crowdpose_num_keypoints = 14
# names, flip pairs (`swap`), skeleton, joint weights, OKS sigmas
crowdpose_metainfo = dict(
    from_file='{{fileDirname}}/../../_base_/datasets/crowdpose.py')

crowdpose_data_root = 'data/crowdpose/'
crowdpose_test_ann = 'annotations/mmpose_crowdpose_test.json'

# merged into the model config's train_dataloader.dataset, which is the
# fault-tolerance wrapper (SkipBadSamples) with the data set's arguments
# flat beside `dataset_type`; the meta is stated on the wrapper
crowdpose_train_dataset = dict(
    dataset_type='CrowdPoseDataset',
    data_root=crowdpose_data_root,
    ann_file='annotations/mmpose_crowdpose_trainval.json',
    data_prefix=dict(img='images/'),
    metainfo=crowdpose_metainfo)
# merged into val/test_dataloader.dataset (detected person boxes)
crowdpose_test_dataset = dict(
    type='CrowdPoseDataset',
    data_root=crowdpose_data_root,
    ann_file=crowdpose_test_ann,
    bbox_file=crowdpose_data_root +
    'annotations/det_for_crowd_test_0.1_0.5.json',
    data_prefix=dict(img='images/'),
    metainfo=crowdpose_metainfo)

# CrowdPose's AP: OKS with the meta's sigmas, no `area` in the annotations,
# AP(E)/AP(M)/AP(H) by the images' crowdIndex; metrics named crowdpose/...
crowdpose_evaluator = dict(
    type='CocoMetric',
    ann_file=crowdpose_data_root + crowdpose_test_ann,
    use_area=False,
    iou_type='keypoints_crowd',
    prefix='crowdpose')
crowdpose_save_best = dict(save_best='crowdpose/AP', rule='greater')
