# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""CPU distributed compatibility: CPUSyncBatchNorm over 2 gloo processes
equals one BatchNorm over the whole batch (outputs, input and weight
gradients, running statistics); the MMEngine patches are installed."""
import importlib.util
import os.path as osp

import pytest
import torch
import torch.multiprocessing as mp
import torch.nn as nn

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MODULE = osp.join(REPO, 'mmpose_ext', 'compat', 'dist.py')


def _load_dist_compat():
    # the module alone: a spawned child need not import all of mmpose_ext
    spec = importlib.util.spec_from_file_location('_dist_compat', MODULE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 3, 5, 4, generator=g) * 3 + 1
    c = torch.randn(8, 3, 5, 4, generator=g)
    return x, c


def _worker(rank, init_file, out_dir):
    import torch.distributed as dist
    torch.set_num_threads(1)  # forked from a process with a thread pool
    dist.init_process_group(
        'gloo', init_method=f'file://{init_file}', rank=rank, world_size=2)
    mod = _load_dist_compat()
    bn = nn.SyncBatchNorm(3, momentum=0.3)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([1.0, 2.0, 0.5]))
        bn.bias.copy_(torch.tensor([0.0, -1.0, 0.3]))
    assert mod.convert_sync_batchnorm_for_cpu(bn) == 1
    assert isinstance(bn, mod.CPUSyncBatchNorm)
    assert not isinstance(bn, nn.SyncBatchNorm)  # DDP accepts it on CPU
    x, c = _data()
    sl = slice(rank * 4, rank * 4 + 4) if rank == 0 else slice(4, 8)
    xr = x[sl].clone().requires_grad_(True)
    y = bn(xr)
    (y * c[sl]).sum().backward()
    torch.save(
        dict(
            y=y.detach(),
            gx=xr.grad,
            gw=bn.weight.grad,
            gb=bn.bias.grad,
            rm=bn.running_mean,
            rv=bn.running_var), osp.join(out_dir, f'rank{rank}.pth'))
    dist.destroy_process_group()


@pytest.mark.slow
def test_cpu_sync_batchnorm_matches_full_batch_bn(tmp_path):
    # fork: the children reuse this process's imports (spawn re-imports)
    ctx = mp.get_context('fork')
    procs = [
        ctx.Process(
            target=_worker, args=(rank, str(tmp_path / 'init'), str(tmp_path)))
        for rank in (0, 1)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    r0 = torch.load(tmp_path / 'rank0.pth')
    r1 = torch.load(tmp_path / 'rank1.pth')

    x, c = _data()
    ref = nn.BatchNorm2d(3, momentum=0.3)
    with torch.no_grad():
        ref.weight.copy_(torch.tensor([1.0, 2.0, 0.5]))
        ref.bias.copy_(torch.tensor([0.0, -1.0, 0.3]))
    xf = x.clone().requires_grad_(True)
    y = ref(xf)
    (y * c).sum().backward()

    kw = dict(atol=1e-5, rtol=1e-5)
    assert torch.allclose(torch.cat([r0['y'], r1['y']]), y.detach(), **kw)
    assert torch.allclose(torch.cat([r0['gx'], r1['gx']]), xf.grad, **kw)
    # weight/bias gradients: each rank holds its share, DDP adds them up
    assert torch.allclose(r0['gw'] + r1['gw'], ref.weight.grad, **kw)
    assert torch.allclose(r0['gb'] + r1['gb'], ref.bias.grad, **kw)
    for r in (r0, r1):
        assert torch.allclose(r['rm'], ref.running_mean, **kw)
        assert torch.allclose(r['rv'], ref.running_var, **kw)


def test_not_distributed_it_is_plain_batchnorm():
    mod = _load_dist_compat()
    bn = nn.SyncBatchNorm(3)
    mod.convert_sync_batchnorm_for_cpu(bn)
    ref = nn.BatchNorm2d(3)
    x = torch.randn(4, 3, 2, 2)
    assert torch.allclose(bn(x), ref(x))
    assert torch.allclose(bn.running_var, ref.running_var)
    bn.eval()
    ref.eval()
    assert torch.allclose(bn(x), ref(x))


def test_mmengine_patches_are_installed():
    from mmengine.dist import utils as dist_utils
    from mmengine.model import MMDistributedDataParallel

    import mmpose_ext  # noqa: F401
    assert getattr(dist_utils._init_dist_pytorch, '_mmpose_ext_patched')
    assert getattr(MMDistributedDataParallel.__init__, '_mmpose_ext_patched')
