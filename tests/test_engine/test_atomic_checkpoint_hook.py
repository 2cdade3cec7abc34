# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""AtomicCheckpointHook: a crash or SIGKILL during a checkpoint save never
leaves ``last_checkpoint`` on a truncated or deleted file."""
import multiprocessing
import os
import os.path as osp
import signal
import time

import pytest
import torch
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook

from mmpose_ext.compat.checkpoint import safe_torch_load
from mmpose_ext.engine.hooks.atomic_checkpoint_hook import (
    AtomicCheckpointHook, atomic_write)
from .conftest import assert_same_state, make_toy_runner, model_state


def _pointer(work_dir):
    with open(osp.join(str(work_dir), 'last_checkpoint')) as f:
        return f.read().strip()


def test_atomic_write_keeps_old_content_on_failure(tmp_path, monkeypatch):
    path = tmp_path / 'f.bin'
    atomic_write(b'old', path)
    assert path.read_bytes() == b'old'

    def boom(fd):
        raise OSError('disk full')

    monkeypatch.setattr(os, 'fsync', boom)
    with pytest.raises(OSError, match='disk full'):
        atomic_write(b'new content', path)
    assert path.read_bytes() == b'old'
    assert os.listdir(tmp_path) == ['f.bin']  # the temporary was removed


def test_atomic_write_honours_umask(tmp_path):
    atomic_write('x', tmp_path / 'a.txt')
    old = os.umask(0o022)
    os.umask(old)
    mode = os.stat(tmp_path / 'a.txt').st_mode & 0o777
    assert mode == 0o666 & ~old


class _Crash(Exception):
    pass


def _crash_on_third_save(monkeypatch, target):
    """Make the 3rd checkpoint write die half-way (after writing half of
    the bytes for MMEngine's backend, before the rename for ours)."""
    calls = dict(n=0)
    if target == 'mmengine':
        orig = LocalBackend.put

        def put(self, obj, filepath):
            if str(filepath).endswith('.pth'):
                calls['n'] += 1
                if calls['n'] == 3:
                    with open(filepath, 'wb') as f:
                        f.write(obj[:len(obj) // 2])
                    raise _Crash('killed while writing')
            return orig(self, obj, filepath)

        monkeypatch.setattr(LocalBackend, 'put', put)
    else:
        orig = os.replace

        def replace(src, dst):
            if str(dst).endswith('.pth'):
                calls['n'] += 1
                if calls['n'] == 3:
                    raise _Crash('killed before the rename')
            return orig(src, dst)

        monkeypatch.setattr(os, 'replace', replace)


def test_mmengine_checkpoint_hook_loses_last_checkpoint(
        toy_runner, tmp_path, monkeypatch):
    """The failure mode fixed: with max_keep_ckpts=1 MMEngine deletes
    iter_4.pth before writing iter_6.pth; a crash in that write leaves a
    truncated iter_6.pth and a pointer to the deleted iter_4.pth."""
    work = tmp_path / 'mm'
    runner = toy_runner(
        work,
        ckpt=CheckpointHook(interval=2, by_epoch=False, max_keep_ckpts=1))
    _crash_on_third_save(monkeypatch, 'mmengine')
    with pytest.raises(_Crash):
        runner.train()
    assert _pointer(work).endswith('iter_4.pth')
    assert not osp.exists(_pointer(work))  # resume is impossible
    with pytest.raises(Exception):
        safe_torch_load(str(work / 'iter_6.pth'))  # truncated


def test_atomic_hook_survives_crash_during_save(toy_runner, tmp_path,
                                                monkeypatch):
    work = tmp_path / 'atomic'
    runner = toy_runner(
        work,
        ckpt=AtomicCheckpointHook(
            interval=2, by_epoch=False, max_keep_ckpts=1))
    _crash_on_third_save(monkeypatch, 'atomic')
    with pytest.raises(_Crash):
        runner.train()
    monkeypatch.undo()
    # the pointer names the previous, complete checkpoint, which still
    # exists; nothing exists under the name of the interrupted one
    assert _pointer(work) == str(work / 'iter_4.pth')
    ckpt = safe_torch_load(_pointer(work))
    assert ckpt['meta']['iter'] == 4
    assert not (work / 'iter_6.pth').exists()
    assert not [n for n in os.listdir(work) if '.tmp-' in n]
    # max_keep_ckpts still holds once saves succeed again
    resumed = toy_runner(
        work,
        resume=True,
        ckpt=AtomicCheckpointHook(
            interval=2, by_epoch=False, max_keep_ckpts=1))
    resumed.train()
    assert resumed.iter == 12
    assert sorted(n for n in os.listdir(work) if n.endswith('.pth')) == \
        ['iter_12.pth']


def test_atomic_hook_checkpoints_equal_mmengine_ones(toy_runner, tmp_path):
    a = toy_runner(
        tmp_path / 'a',
        max_epochs=1,
        ckpt=AtomicCheckpointHook(interval=2, by_epoch=False))
    a.train()
    b = toy_runner(
        tmp_path / 'b',
        max_epochs=1,
        ckpt=CheckpointHook(interval=2, by_epoch=False))
    b.train()
    ca = safe_torch_load(str(tmp_path / 'a' / 'iter_6.pth'))
    cb = safe_torch_load(str(tmp_path / 'b' / 'iter_6.pth'))
    assert ca.keys() == cb.keys()
    assert_same_state(ca['state_dict'], cb['state_dict'])
    assert ca['message_hub']['runtime_info']['last_ckpt'].endswith(
        'iter_6.pth')
    assert _pointer(tmp_path / 'a') == str(tmp_path / 'a' / 'iter_6.pth')


def test_atomic_hook_refuses_other_backend():
    hook = AtomicCheckpointHook(backend_args=dict(backend='petrel'))

    class R:
        work_dir = '/tmp'

    with pytest.raises(ValueError, match='backend_args'):
        hook.before_train(R())


# A training process killed (SIGKILL) while it writes a checkpoint: the
# child (forked from this process) blocks inside the save of iter_6.pth,
# after its bytes are in the temporary file and before the rename, and the
# test kills it there.
def _child(work, ready):
    torch.set_num_threads(1)
    real_fsync = os.fsync

    def fsync(fd):
        real_fsync(fd)
        name = os.readlink(f'/proc/self/fd/{fd}')
        if '.iter_6.pth.tmp-' in name:
            with open(ready, 'w') as f:
                f.write(name)
            time.sleep(120)

    os.fsync = fsync
    runner = make_toy_runner(None, work_dir=work)
    runner.train()


@pytest.mark.skipif(not osp.isdir('/proc/self/fd'), reason='needs /proc')
def test_sigkill_during_checkpoint_save(toy_runner, tmp_path):
    work, ready = tmp_path / 'killed', tmp_path / 'ready'
    proc = multiprocessing.get_context('fork').Process(
        target=_child, args=(str(work), str(ready)))
    proc.start()
    try:
        deadline = time.time() + 120
        while not ready.exists():
            assert proc.is_alive(), f'child exited with {proc.exitcode}'
            assert time.time() < deadline, 'the child never reached the save'
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(30)
    finally:
        if proc.is_alive():
            proc.kill()
    assert proc.exitcode == -signal.SIGKILL
    names = os.listdir(work)
    # killed inside the save: a complete temporary file, no iter_6.pth, and
    # the pointer still on the complete iter_4.pth
    assert [n for n in names if n.startswith('.iter_6.pth.tmp-')]
    assert 'iter_6.pth' not in names
    assert _pointer(work) == str(work / 'iter_4.pth')
    assert safe_torch_load(_pointer(work))['meta']['iter'] == 4

    # --resume picks it up, removes the leftover and finishes the run
    resumed = toy_runner(work, resume=True)
    resumed.train()
    assert resumed.iter == 12
    assert not [n for n in os.listdir(work) if '.tmp-' in n]
    ref = toy_runner(tmp_path / 'ref')
    ref.train()
    assert_same_state(model_state(resumed), model_state(ref))


def test_stale_temporaries_owned_by_host_and_pid(tmp_path, monkeypatch):
    """On a shared work dir, a temporary is removed only when no running
    save can own it: this host's dead processes at once, other hosts' (and
    the host-less names of earlier versions) once unwritten for
    stale_age."""
    import subprocess
    import sys
    import time

    from mmpose_ext.engine.hooks import atomic_checkpoint_hook as ach
    monkeypatch.setattr(ach, '_host_tag', lambda: 'node_a')
    live = subprocess.Popen(
        [sys.executable, '-c', 'import time; '
         'time.sleep(60)'])
    dead = subprocess.Popen([sys.executable, '-c', 'pass'])
    dead.wait()
    try:
        names = {
            'mine_dead': f'.iter_2.pth.tmp-node_a-{dead.pid}-0123abcd',
            'mine_live': f'.iter_4.pth.tmp-node_a-{live.pid}-0123abcd',
            'mine_self': f'.iter_6.pth.tmp-node_a-{os.getpid()}-0123abcd',
            # same pid as a dead process here, but on another host
            'other_new': f'.iter_8.pth.tmp-node_b-{dead.pid}-0123abcd',
            'other_old': '.iter_9.pth.tmp-node_b.example.org-7-0123abcd',
            'legacy_old': '.iter_1.pth.tmp-12345-0123abcd',
            'unrelated': '.iter_3.pth.tmp-notours',
        }
        for name in names.values():
            (tmp_path / name).write_bytes(b'partial')
        old = time.time() - 601
        for key in ('other_old', 'legacy_old'):
            os.utime(tmp_path / names[key], (old, old))
        removed = {
            os.path.basename(p)
            for p in ach.remove_stale_temporaries(str(tmp_path))
        }
        assert removed == {
            names[k]
            for k in ('mine_dead', 'other_old', 'legacy_old')
        }
        # a fresh temporary of another host is a save in progress there;
        # another stale_age removes it
        removed = ach.remove_stale_temporaries(str(tmp_path), stale_age=0)
        assert [os.path.basename(p) for p in removed] == [names['other_new']]
        assert sorted(os.listdir(tmp_path)) == sorted(
            names[k] for k in ('mine_live', 'mine_self', 'unrelated'))
    finally:
        live.kill()
        live.wait()


def test_temporary_names_carry_host_and_pid(tmp_path, monkeypatch):
    from mmpose_ext.engine.hooks import atomic_checkpoint_hook as ach
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append(os.path.basename(src))
        return real_replace(src, dst)

    monkeypatch.setattr(ach.os, 'replace', spy)
    ach.atomic_write(b'x', tmp_path / 'iter_2.pth')
    host = ach._host_tag()
    assert seen and seen[0].startswith(
        f'.iter_2.pth.tmp-{host}-{os.getpid()}-')
    assert ach._TMP_RE.match(seen[0]).group('host') == host
