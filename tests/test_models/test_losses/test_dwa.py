# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
import io
import math
import os.path as osp

import pytest
import torch

from mmpose_ext.models.losses import DWAMultiTaskLoss


def _hand_weights(prev, prev2, T):
    """w_n = N exp(r_n / T) / sum_m exp(r_m / T), r_n = L_n(t-1)/L_n(t-2)."""
    r = [a / b for a, b in zip(prev, prev2)]
    e = [math.exp(x / T) for x in r]
    return [len(r) * x / sum(e) for x in e]


def _losses(kpt, seg, requires_grad=False):
    return {
        name: torch.tensor(v, dtype=torch.float32, requires_grad=requires_grad)
        for name, v in (('kpt', kpt), ('seg', seg))
    }


SEQ = [(1.0, 2.0), (0.5, 1.8), (0.4, 0.9), (0.38, 0.8), (0.2, 0.79)]


@pytest.mark.parametrize('T', [1.0, 2.0])
def test_iter_mode_matches_hand_computed_weights(T):
    dwa = DWAMultiTaskLoss(task_scales=(1.0, 0.002), mode='iter',
                           temperature=T)
    for t, (k, s) in enumerate(SEQ):
        weighted, w = dwa(_losses(k, s))
        if t < 2:
            expected = [1.0, 1.0]  # fewer than two loss values so far
        else:
            # ratios are scale free: lambda does not change them
            expected = _hand_weights(SEQ[t - 1], SEQ[t - 2], T)
        assert w.tolist() == pytest.approx(expected, rel=1e-6)
        assert float(w.sum()) == pytest.approx(2.0)
        assert float(weighted['kpt']) == pytest.approx(expected[0] * k)
        assert float(weighted['seg']) == pytest.approx(
            expected[1] * 0.002 * s, rel=1e-6)


def test_faster_falling_task_gets_smaller_weight():
    dwa = DWAMultiTaskLoss()
    dwa(_losses(1.0, 1.0))
    dwa(_losses(0.5, 0.99))  # keypoint loss halves, seg barely moves
    _, w = dwa(_losses(0.5, 0.99))
    assert w[0] < 1 < w[1]


@pytest.mark.parametrize('T', [1.0, 2.0])
def test_epoch_mode_matches_hand_computed_weights(T):
    dwa = DWAMultiTaskLoss(mode='epoch', temperature=T)
    epochs = [[(1.0, 2.0), (0.8, 1.6)], [(0.6, 1.5), (0.4, 1.3)],
              [(0.3, 1.0), (0.3, 1.0)], [(0.3, 0.9)]]
    means = [[sum(v[i] for v in ep) / len(ep) for i in range(2)]
             for ep in epochs]
    for e, ep in enumerate(epochs):
        expected = [1., 1.] if e < 2 else _hand_weights(
            means[e - 1], means[e - 2], T)
        for k, s in ep:  # constant within an epoch
            _, w = dwa(_losses(k, s))
            assert w.tolist() == pytest.approx(expected, rel=1e-6)
        dwa.end_epoch()


def test_epoch_mode_follows_the_runner_epoch():
    """Without explicit end_epoch() calls: the MessageHub's 'epoch' rolls."""
    from mmengine.logging import MessageHub
    hub = MessageHub.get_instance('test_dwa_epoch_roll')
    dwa = DWAMultiTaskLoss(mode='epoch')
    epochs = [[(1.0, 2.0)], [(0.5, 1.9), (0.7, 1.7)], [(0.3, 1.0)]]
    seen = []
    for e, ep in enumerate(epochs):
        hub.update_info('epoch', e)
        for k, s in ep:
            seen.append(dwa(_losses(k, s))[1].tolist())
    expected = _hand_weights([0.6, 1.8], [1.0, 2.0], 1.0)
    assert seen[:3] == [[1., 1.]] * 3
    assert seen[3] == pytest.approx(expected, rel=1e-6)


def test_weights_are_detached_constants():
    dwa = DWAMultiTaskLoss()
    for k, s in SEQ[:2]:
        dwa(_losses(k, s))
    losses = _losses(0.4, 0.9, requires_grad=True)
    weighted, w = dwa(losses)
    assert not w.requires_grad
    sum(weighted.values()).backward()
    assert losses['kpt'].grad.item() == pytest.approx(w[0].item())
    assert losses['seg'].grad.item() == pytest.approx(w[1].item())


def test_eval_mode_does_not_record():
    dwa = DWAMultiTaskLoss().eval()
    for k, s in SEQ:
        _, w = dwa(_losses(k, s))
    assert int(dwa.num_history) == 0 and w.tolist() == [1., 1.]


def test_non_finite_loss_is_not_recorded(monkeypatch):
    import mmpose_ext.models.losses.dwa as dwa_mod
    messages = []
    monkeypatch.setattr(dwa_mod, 'print_log',
                        lambda msg, **kw: messages.append((msg, kw)))
    from mmengine.logging import MessageHub
    hub = MessageHub.get_instance('test_dwa_non_finite')
    hub.update_info('iter', 41)  # RuntimeInfoHook's, 0-based: log's 42
    dwa = DWAMultiTaskLoss()
    dwa(_losses(1.0, 2.0))
    dwa(_losses(0.5, 1.8))
    history = dwa.history.clone()
    weighted, w = dwa(_losses(float('nan'), 1.0))
    assert torch.isnan(weighted['kpt'])  # reported, not hidden
    assert torch.equal(dwa.history, history)  # but not in the history
    assert torch.isfinite(dwa.weights).all()
    assert len(messages) == 1
    assert 'iteration 42' in messages[0][0] and 'kpt' in messages[0][0]
    _, w_next = dwa(_losses(0.4, 0.9))
    assert w_next.tolist() == pytest.approx(
        _hand_weights((0.5, 1.8), (1.0, 2.0), 1.0))


def test_zero_loss_is_not_recorded():
    dwa = DWAMultiTaskLoss()
    dwa(_losses(1.0, 2.0))
    dwa(_losses(0.0, 1.8))  # e.g. a batch without any visible keypoint
    assert int(dwa.num_history) == 1
    _, w = dwa(_losses(0.5, 1.0))
    assert torch.isfinite(w).all() and w.tolist() == [1., 1.]


def _run(dwa, seq):
    return [dwa(_losses(k, s))[1].tolist() for k, s in seq]


@pytest.mark.parametrize('mode', ['iter', 'epoch'])
def test_state_survives_save_and_load(mode):
    seq = [(1.0, 2.0), (0.7, 1.9), (0.6, 1.2), (0.5, 1.1), (0.45, 1.0),
           (0.3, 0.95), (0.29, 0.7), (0.2, 0.69)]
    ref = DWAMultiTaskLoss(mode=mode)
    ref_w = []
    for i, (k, s) in enumerate(seq):
        ref_w.append(ref(_losses(k, s))[1].tolist())
        if mode == 'epoch' and i % 2 == 1:
            ref.end_epoch()

    first = DWAMultiTaskLoss(mode=mode)
    for i, (k, s) in enumerate(seq[:5]):
        first(_losses(k, s))
        if mode == 'epoch' and i % 2 == 1:
            first.end_epoch()
    buf = io.BytesIO()
    torch.save(first.state_dict(), buf)  # what a checkpoint holds
    buf.seek(0)
    keys = set(first.state_dict())
    assert {'history', 'num_history', 'weights', 'epoch_sum',
            'epoch_count'} <= keys

    resumed = DWAMultiTaskLoss(mode=mode)
    resumed.load_state_dict(torch.load(buf, weights_only=True))
    out = []
    for i, (k, s) in enumerate(seq[5:], start=5):
        out.append(resumed(_losses(k, s))[1].tolist())
        if mode == 'epoch' and i % 2 == 1:
            resumed.end_epoch()
    assert out == ref_w[5:]  # identical to the uninterrupted run
    assert any(w != [1.0, 1.0] for w in out)


def test_state_is_part_of_a_parent_state_dict():
    from mmpose_ext.models.heads import SGHeatmapHead
    head = SGHeatmapHead(in_channels=4, out_channels=3)
    assert 'multi_task_loss.history' in head.state_dict()


@pytest.mark.parametrize(
    'kwargs,name',
    [(dict(mode='step'), 'mode'), (dict(temperature=0), 'temperature'),
     (dict(task_scales=(1.0, )), 'task_scales'),
     (dict(task_scales=(1.0, -0.1)), 'task_scales'),
     (dict(task_names=('a', 'a')), 'task_names')])
def test_invalid_arguments_raise_value_error(kwargs, name):
    with pytest.raises(ValueError, match=name):
        DWAMultiTaskLoss(**kwargs)


def test_missing_task_raises():
    with pytest.raises(ValueError, match='seg'):
        DWAMultiTaskLoss()(dict(kpt=torch.tensor(1.)))


def _dist_worker(rank, world_size, init_file, queue):
    import torch.distributed as tdist
    tdist.init_process_group(
        'gloo', init_method=f'file://{init_file}', rank=rank,
        world_size=world_size)
    torch.manual_seed(0)
    dwa = DWAMultiTaskLoss()
    # each rank sees different losses; their means are SEQ's values
    offsets = (-0.1, 0.1)[rank]
    weights = [dwa(_losses(k + offsets, s - offsets))[1].tolist()
               for k, s in SEQ]
    queue.put((rank, weights))
    tdist.destroy_process_group()


@pytest.mark.slow
def test_ranks_use_identical_weights_from_mean_losses(tmp_path):
    import torch.multiprocessing as mp
    ctx = mp.get_context('fork')  # the modules are already imported
    queue = ctx.Queue()
    init_file = osp.join(str(tmp_path), 'rdzv')
    procs = [
        ctx.Process(target=_dist_worker, args=(r, 2, init_file, queue))
        for r in range(2)
    ]
    for p in procs:
        p.start()
    results = dict(queue.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert results[0] == results[1]  # every rank uses the same weights
    single = DWAMultiTaskLoss()
    expected = [single(_losses(k, s))[1].tolist() for k, s in SEQ]
    for got, exp in zip(results[0], expected):
        assert got == pytest.approx(exp, rel=1e-5)
