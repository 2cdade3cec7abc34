# SG-HRNet-W32 on MPII with MTAN's original dynamic weight averaging: the
# weights follow the ratio of the last two EPOCH-mean losses, temperature 2
# (the paper updates them every iteration with T=1).
_base_ = ['../sg_hrnet_w32_mpii.py']

model = dict(head=dict(multi_task_loss=dict(mode='epoch', temperature=2.0)))
