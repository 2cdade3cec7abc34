# SG-HRNet-W32 on MPII with the stage SGMs on the high-resolution INPUT of
# stages 2-4 (the previous stage's fused output) instead of the default
# 'pre_fuse' placement (the branch output of each stage's last HRModule,
# before its fusion). Same parameters and FLOPs; see SGHRNet's docstring.
_base_ = ['../sg_hrnet_w32_mpii.py']

model = dict(backbone=dict(sgm_position='stage_input'))
