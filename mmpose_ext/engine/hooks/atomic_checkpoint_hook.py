# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Crash-safe checkpoints: temporary file, fsync, then ``os.replace``.

MMEngine 0.10.7 writes ``epoch_N.pth`` / ``iter_N.pth`` straight into its
final name (``LocalBackend.put`` opens it with ``'wb'``) and then rewrites
the ``last_checkpoint`` pointer in place. A process killed while saving
(SIGKILL from a scheduler, OOM killer, node failure) can therefore leave

- a truncated checkpoint under its final name;
- an empty ``last_checkpoint`` (``open(..., 'w')`` truncates before it
  writes), which makes ``--resume`` fail; and
- with ``max_keep_ckpts``, a pointer to a checkpoint that no longer exists:
  :class:`~mmengine.hooks.CheckpointHook` deletes the oldest checkpoint
  *before* it writes the new one.

:class:`AtomicCheckpointHook` is a drop-in :class:`CheckpointHook` that

1. writes every checkpoint of a local ``out_dir`` (periodic, last and best
   ones) through :class:`AtomicLocalBackend`: the bytes go to a hidden
   temporary file in the same folder, are flushed and ``fsync``-ed, and the
   file is renamed onto its final name with :func:`os.replace` (atomic on
   POSIX and Windows); a reader sees the old file or the complete new one,
   never a partial one;
2. updates ``last_checkpoint`` the same way, and only after the checkpoint
   it names is complete;
3. deletes checkpoints beyond ``max_keep_ckpts`` only after that.

Temporary files of a killed save are hidden
(``.epoch_3.pth.tmp-<host>-<pid>-...``) and removed when the next run starts
if their process is gone (same host) or they have not been written to for
10 minutes (another host: its processes cannot be checked); see
:func:`remove_stale_temporaries`. Remote ``out_dir`` (``s3://`` ...)
keeps MMEngine's backend; object stores already make a ``put`` visible all
at once.

Use it by replacing the type of the default checkpoint hook; every other
argument is :class:`CheckpointHook`'s::

    default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
"""
import errno
import os
import os.path as osp
import re
import socket
import time
import uuid
from pathlib import Path
from typing import Optional, Union

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend, register_backend
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log
from mmpose.registry import HOOKS

from ..runner_check import check_training_setup

__all__ = ['AtomicCheckpointHook', 'AtomicLocalBackend', 'atomic_write']

# .<name>.tmp-<host>-<pid>-<8 hex>; earlier versions wrote no host
_TMP_RE = re.compile(r'^\..+\.tmp-(?:(?P<host>[A-Za-z0-9_.]+)-)?'
                     r'(?P<pid>\d+)-[0-9a-f]{8}$')
# a temporary of another host (whose processes cannot be checked) is removed
# only when it has not been written to for this long (seconds)
STALE_TMP_AGE = 600.0


def _host_tag() -> str:
    """This host's name as it appears in temporary file names."""
    return re.sub(r'[^A-Za-z0-9_.]', '_', socket.gethostname())[:64] or '_'


def _pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def _fsync_dir(dirname: str) -> None:
    """Persist a rename: fsync the folder (POSIX; a no-op elsewhere)."""
    if os.name != 'posix':
        return
    try:
        fd = os.open(dirname, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as e:  # some file systems refuse fsync on folders
        if e.errno not in (errno.EINVAL, errno.EBADF, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def atomic_write(data: Union[bytes, str],
                 filepath: Union[str, Path],
                 fsync: bool = True,
                 encoding: str = 'utf-8') -> None:
    """Write ``data`` to ``filepath`` so that readers never see a partial file.

    The data is written to a hidden temporary file in the same folder
    (``.<name>.tmp-<host>-<pid>-<random>``), flushed, optionally fsync-ed, and
    renamed onto ``filepath`` with :func:`os.replace`. If anything fails
    (including a ``KeyboardInterrupt``), the temporary file is removed and
    ``filepath`` is left as it was. If the process is killed, only the
    temporary file can be left behind.

    Args:
        data (bytes | str): The content; ``str`` is encoded with
            ``encoding``.
        filepath (str | Path): The final path. Its folder is created.
        fsync (bool): ``fsync`` the file before the rename and the folder
            after it, so that the new content survives a power loss too.
            Defaults to True.
        encoding (str): Encoding of a ``str`` ``data``. Defaults to 'utf-8'.
    """
    filepath = str(filepath)
    if isinstance(data, str):
        data = data.encode(encoding)
    dirname = osp.dirname(osp.abspath(filepath))
    os.makedirs(dirname, exist_ok=True)
    tmp = osp.join(
        dirname, f'.{osp.basename(filepath)}.tmp-{_host_tag()}-{os.getpid()}-'
        f'{uuid.uuid4().hex[:8]}')
    # os.open with 0o666 honours the umask like a plain open() would.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.replace(tmp, filepath)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    if fsync:
        _fsync_dir(dirname)


def remove_stale_temporaries(dirname: str,
                             stale_age: float = STALE_TMP_AGE) -> list:
    """Remove temporary files that :func:`atomic_write` left in ``dirname``.

    Only files named like ours (``.<name>.tmp-<host>-<pid>-<8 hex>``) are
    considered, and only those no running save can own: on a shared file
    system the folder may be written by processes of other hosts (a run
    resumed elsewhere after a node failure, a second job with the same work
    dir), and a process id means something only on its own host.

    - written on this host: removed when process ``pid`` no longer exists
      (never this process's own);
    - written on another host (or by a version that did not record the
      host): removed when not modified for ``stale_age`` seconds (a save in
      progress keeps writing); younger ones are kept and named in the log.

    Args:
        dirname (str): The folder.
        stale_age (float): Age in seconds after which a temporary of
            another host counts as abandoned. Defaults to 600.

    Returns:
        list[str]: The removed paths.
    """
    removed = []
    if not osp.isdir(dirname):
        return removed
    host, now = _host_tag(), time.time()
    for name in os.listdir(dirname):
        match = _TMP_RE.match(name)
        if not match:
            continue
        path = osp.join(dirname, name)
        pid = int(match.group('pid'))
        if match.group('host') == host:
            stale = pid != os.getpid() and not _pid_alive(pid)
        else:
            try:
                age = now - os.path.getmtime(path)
            except OSError:
                continue
            stale = age >= stale_age
            if not stale:
                print_log(
                    f'Kept the temporary checkpoint file {path}: written by '
                    f'host {match.group("host") or "unknown"} {age:.0f} s '
                    'ago, possibly a save in progress there; it is removed '
                    f'at a later start once older than {stale_age:.0f} s.',
                    logger='current')
        if stale:
            try:
                os.remove(path)
                removed.append(path)
            except OSError:
                pass
    return removed


@register_backend('atomic_local')
class AtomicLocalBackend(LocalBackend):
    """MMEngine's local file backend with atomic ``put`` and ``put_text``.

    Every write goes through :func:`atomic_write`. Reading, listing and
    removing are :class:`~mmengine.fileio.LocalBackend`'s. Select it with
    ``backend_args=dict(backend='atomic_local')`` wherever MMEngine takes
    ``backend_args``.

    Args:
        fsync (bool): fsync each written file and its folder. Defaults to
            True.
    """

    def __init__(self, fsync: bool = True):
        self.fsync = fsync

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        """Write bytes to ``filepath`` atomically."""
        atomic_write(obj, filepath, fsync=self.fsync)

    def put_text(self,
                 obj: str,
                 filepath: Union[str, Path],
                 encoding: str = 'utf-8') -> None:
        """Write text to ``filepath`` atomically."""
        atomic_write(obj, filepath, fsync=self.fsync, encoding=encoding)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """:class:`~mmengine.hooks.CheckpointHook` whose saves survive a kill.

    Takes every argument of :class:`CheckpointHook`, plus ``fsync``. For a
    local ``out_dir`` (the default, ``work_dir``), checkpoints and the
    ``last_checkpoint`` pointer are written atomically (see the module
    docstring), the pointer is updated only once the checkpoint it names is
    complete, and old checkpoints (``max_keep_ckpts``) are deleted only after
    that. The guarantee: at any moment ``last_checkpoint`` is absent or names
    a complete, loadable checkpoint, so ``--resume`` always works.

    Best checkpoints (``save_best``) are written atomically too, but
    MMEngine deletes the previous best one before writing the new one, so a
    kill in between leaves no best checkpoint (the resume pointer is not
    affected). Setting ``backend_args`` or ``file_client_args`` for a local
    ``out_dir`` is not supported (they would select another writer) and
    raises.

    Args:
        fsync (bool): fsync each checkpoint and the pointer before the rename
            (durability across power loss, not only process kills). Costs one
            disk flush per checkpoint. Defaults to True.
        stale_tmp_age (float): Seconds without a write after which the
            temporary file of another host's save is removed at start (those
            of this host are removed when their process is gone). Defaults
            to 600.
        **kwargs: :class:`CheckpointHook`'s arguments.

    Example:
        >>> default_hooks = dict(
        ...     checkpoint=dict(type='AtomicCheckpointHook', interval=1,
        ...                     max_keep_ckpts=3))
    """

    def __init__(self,
                 *args,
                 fsync: bool = True,
                 stale_tmp_age: float = STALE_TMP_AGE,
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.fsync = fsync
        self.stale_tmp_age = float(stale_tmp_age)
        self._atomic = False

    def _is_local(self, out_dir: Optional[str]) -> bool:
        return out_dir is None or '://' not in str(out_dir)

    def before_train(self, runner) -> None:
        """Select the atomic backend for a local ``out_dir`` and remove the
        temporaries of a killed save."""
        check_training_setup(runner)  # sharded checkpoints are folders
        if self._is_local(self.out_dir):
            if self.file_client_args is not None or (
                    self.backend_args is not None
                    and self.backend_args.get('backend') != 'atomic_local'):
                raise ValueError(
                    'AtomicCheckpointHook writes local checkpoints itself; '
                    'remove backend_args/file_client_args '
                    f'({self.backend_args or self.file_client_args}) or use '
                    'CheckpointHook for a custom storage backend')
            self.backend_args = dict(backend='atomic_local', fsync=self.fsync)
            self._atomic = True
        super().before_train(runner)
        if self._atomic and is_main_process():
            for path in remove_stale_temporaries(
                    str(self.out_dir), self.stale_tmp_age) + \
                    remove_stale_temporaries(runner.work_dir,
                                             self.stale_tmp_age):
                print_log(
                    f'Removed the temporary file of an interrupted '
                    f'checkpoint save: {path}',
                    logger='current')

    def _save_checkpoint_with_step(self, runner, step, meta):
        """Save, then update the pointer, then delete outdated checkpoints.

        Same bookkeeping as :class:`CheckpointHook` (``keep_ckpt_ids`` and
        ``last_ckpt`` in the message hub), in a crash-safe order.
        """
        if not self._atomic:
            return super()._save_checkpoint_with_step(runner, step, meta)

        outdated = None
        if self.max_keep_ckpts > 0 and not (len(self.keep_ckpt_ids) > 0 and
                                            self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir,
                                                     ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)

        # runner.save_checkpoint -> mmengine save_checkpoint ->
        # get_file_backend(backend_args) -> AtomicLocalBackend.put
        runner.save_checkpoint(
            self.out_dir,
            ckpt_filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)

        if not is_main_process():
            return
        atomic_write(
            self.last_ckpt,
            osp.join(runner.work_dir, 'last_checkpoint'),
            fsync=self.fsync)

        if outdated is not None:
            path = self.file_backend.join_path(
                self.out_dir, self.filename_tmpl.format(outdated))
            if path != self.last_ckpt:
                if self.file_backend.isfile(path):
                    self.file_backend.remove(path)
                elif self.file_backend.isdir(path):
                    self.file_backend.rmtree(path)
