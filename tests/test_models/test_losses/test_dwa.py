# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
import io
import math
import os.path as osp
import uuid

import numpy as np
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
        name:
        torch.tensor(v, dtype=torch.float32, requires_grad=requires_grad)
        for name, v in (('kpt', kpt), ('seg', seg))
    }


SEQ = [(1.0, 2.0), (0.5, 1.8), (0.4, 0.9), (0.38, 0.8), (0.2, 0.79)]


def _np_dwa(recorded, T):
    """Independent numpy DWA: the weights applied at every step.

    ``recorded[t]`` holds the task losses recorded at step ``t`` (an
    iteration, or an epoch's mean), shape (steps, N). The weights of step
    ``t`` are ``N * softmax(r / T)`` with ``r = L(t-1) / L(t-2)``, computed
    in float64 with a max-shifted softmax, and 1 for the first two steps.
    """
    recorded = np.asarray(recorded, dtype=np.float64)
    steps, n = recorded.shape
    out = np.ones((steps, n))
    for t in range(2, steps):
        z = recorded[t - 1] / recorded[t - 2] / T
        e = np.exp(z - z.max())
        out[t] = n * e / e.sum()
    return out


def _np_losses(steps, n, seed):
    """Positive, falling task losses whose step-to-step ratios differ
    between tasks and steps (so that an off-by-one in the history or an
    inverted ratio shows), exactly representable in float32 (what the
    module receives), so the float64 reference sees the same values."""
    rng = np.random.default_rng(seed)
    losses = np.exp(rng.normal(0, 0.3, size=(steps, n))) * np.linspace(
        1, 0.3, steps)[:, None] * rng.uniform(
            0.5, 5, size=n)
    return losses.astype(np.float32).astype(np.float64)


def _assert_discriminative(losses, T):
    """Self-check of the test's power: the wrong readings of the formula
    (ratio of steps t and t-1, i.e. weights one step early; one step late;
    inverted ratio; r * T) give weights clearly different from the right
    ones at some step, far beyond the tolerance of the checks."""
    ref = _np_dwa(losses, T)
    late = np.vstack([np.ones((1, losses.shape[1])), ref[:-1]])
    early = _np_dwa(np.vstack([losses[1:], losses[-1:]]), T)
    wrongs = [late, early, _np_dwa(1 / losses, T)]
    if T != 1:
        wrongs.append(_np_dwa(losses, 1 / T))
    for wrong in wrongs:
        assert np.abs(wrong - ref).max() > 1e-2


@pytest.mark.parametrize('T', [1.0, 2.0, 0.5])
@pytest.mark.parametrize('num_tasks', [2, 3])
def test_iter_mode_weights_equal_numpy_dwa_of_recorded_losses(T, num_tasks):
    """Per iteration: the weights applied at step t are N softmax(r / T) of
    the losses fed at steps t-1 and t-2 (1 for the first two steps), and
    the returned losses are w_n * lambda_n * L_n."""
    names = ('kpt', 'seg', 'aux')[:num_tasks]
    scales = (1.0, 0.002, 3.0)[:num_tasks]
    seq = _np_losses(12, num_tasks, seed=num_tasks)
    _assert_discriminative(seq, T)
    expected = _np_dwa(seq, T)
    dwa = DWAMultiTaskLoss(
        task_names=names, task_scales=scales, mode='iter', temperature=T)
    for t, step in enumerate(seq):
        losses = {
            n: torch.tensor(v, dtype=torch.float32)
            for n, v in zip(names, step)
        }
        weighted, w = dwa(losses)
        assert w.dtype == torch.float32 and tuple(w.shape) == (num_tasks, )
        np.testing.assert_allclose(
            w.numpy(), expected[t], rtol=1e-6, atol=1e-7, err_msg=f'step {t}')
        for i, n in enumerate(names):
            np.testing.assert_allclose(
                weighted[n].item(),
                expected[t][i] * scales[i] * step[i],
                rtol=1e-6,
                atol=1e-9)
        # compute_weights() announces the weights of the NEXT step
        if t + 1 < len(seq):
            np.testing.assert_allclose(
                dwa.compute_weights().numpy(),
                expected[t + 1],
                rtol=1e-6,
                atol=1e-7)


@pytest.mark.parametrize('T', [1.0, 2.0])
def test_dwa_weights_are_scale_invariant_and_lambda_scales_the_loss(T):
    """lambda (task_scales) leaves the weights unchanged (r is a ratio of
    one task's losses) but multiplies that task's returned loss."""
    seq = _np_losses(10, 2, seed=7)
    plain = DWAMultiTaskLoss(task_scales=None, temperature=T)
    scaled = DWAMultiTaskLoss(task_scales=(4.0, 1.6e-6), temperature=T)
    expected = _np_dwa(seq, T)
    for t, (k, s) in enumerate(seq):
        wp_losses, wp = plain(_losses(k, s))
        ws_losses, ws = scaled(_losses(k, s))
        np.testing.assert_allclose(ws.numpy(), wp.numpy(), rtol=1e-6)
        np.testing.assert_allclose(ws.numpy(), expected[t], rtol=1e-6)
        np.testing.assert_allclose(
            ws_losses['kpt'].item(), 4.0 * wp_losses['kpt'].item(), rtol=1e-6)
        np.testing.assert_allclose(
            ws_losses['seg'].item(),
            1.6e-6 * wp_losses['seg'].item(),
            rtol=1e-6)
    assert not np.allclose(expected[2:], 1)  # the weights did move


def test_faster_falling_task_gets_smaller_weight():
    dwa = DWAMultiTaskLoss()
    dwa(_losses(1.0, 1.0))
    dwa(_losses(0.5, 0.99))  # keypoint loss halves, seg barely moves
    _, w = dwa(_losses(0.5, 0.99))
    assert w[0] < 1 < w[1]


@pytest.mark.parametrize('T', [1.0, 2.0])
@pytest.mark.parametrize('roll', ['end_epoch', 'message_hub'])
def test_epoch_mode_weights_equal_numpy_dwa_of_epoch_means(T, roll):
    """Per epoch: the weights are constant within epoch e and equal
    N softmax(r / T) of the MEAN losses of epochs e-1 and e-2 (1 in the
    first two epochs); epochs of different lengths, closed either by
    end_epoch() or by the runner's epoch in the MessageHub."""
    from mmengine.logging import MessageHub

    # a new hub becomes the current instance that the module reads
    hub = MessageHub.get_instance(f'test_dwa_epoch_numpy_{uuid.uuid4().hex}')
    rng = np.random.default_rng(int(T * 10))
    lengths = [3, 1, 4, 2, 5, 3]
    epochs = [_np_losses(n, 2, seed=int(rng.integers(1000))) for n in lengths]
    means = np.stack([ep.mean(axis=0) for ep in epochs])
    _assert_discriminative(means, T)
    expected = _np_dwa(means, T)
    # the last iteration's losses instead of the epoch means: other weights
    last = np.stack([ep[-1] for ep in epochs])
    assert (np.abs(_np_dwa(last, T) - expected)[2:].max(axis=1) > 1e-3).all()

    dwa = DWAMultiTaskLoss(
        task_scales=(1.0, 0.01), mode='epoch', temperature=T)
    for e, ep in enumerate(epochs):
        if roll == 'message_hub':
            hub.update_info('epoch', e)
        for k, s in ep:
            weighted, w = dwa(_losses(k, s))
            np.testing.assert_allclose(
                w.numpy(), expected[e], rtol=1e-6, err_msg=f'epoch {e}')
            np.testing.assert_allclose(
                weighted['seg'].item(), expected[e][1] * 0.01 * s, rtol=1e-6)
        if roll == 'end_epoch':
            dwa.end_epoch()
    assert not np.allclose(expected[2:], 1)


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


@pytest.mark.parametrize('kwargs,name',
                         [(dict(mode='step'), 'mode'),
                          (dict(temperature=0), 'temperature'),
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
        'gloo',
        init_method=f'file://{init_file}',
        rank=rank,
        world_size=world_size)
    torch.manual_seed(0)
    dwa = DWAMultiTaskLoss()
    # each rank sees different losses; their means are SEQ's values
    offsets = (-0.1, 0.1)[rank]
    weights = [
        dwa(_losses(k + offsets, s - offsets))[1].tolist() for k, s in SEQ
    ]
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
