"""Atomic file writes: a save replaces the previous file whole or leaves it as it was, and its
failures name the file as the user gave it (``ModelSaveError``)."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

from ..errors import XdlError


class ModelSaveError(XdlError, OSError):
    """A model file could not be written: names the file (as given) and why. Also the
    ``OSError`` subclass of the cause (``PermissionError``, ``FileNotFoundError``, ...), with
    its ``errno``; the previous file at that path, if any, is left as it was."""

    def __str__(self):
        return getattr(self, "message", None) or super().__str__()


_ERROR_KINDS = {}
_REASONS = {
    errno.ENOENT: "the folder {folder!r} does not exist",
    errno.ENOTDIR: "a part of the path is not a folder",
    errno.EACCES: "no permission to write in the folder {folder!r}",
    errno.EPERM: "no permission to write in the folder {folder!r}",
    errno.EROFS: "the folder {folder!r} is on a read-only filesystem",
    errno.EISDIR: "it is a folder",
    errno.ENOSPC: "no space left on the device",
    errno.ENAMETOOLONG: "the file name is too long",
}
if hasattr(errno, "EDQUOT"):
    _REASONS[errno.EDQUOT] = "the disk quota is exhausted"


class ModelLoadError(XdlError, OSError):
    """A model file could not be opened: names the file (as given) and why. Also the
    ``OSError`` subclass of the cause (``FileNotFoundError``, ``PermissionError``, ...)."""

    def __str__(self):
        return getattr(self, "message", None) or super().__str__()


def _like(base, cause):
    """``base``, or its subclass that is also ``type(cause)`` (made once per kind)."""
    kind = type(cause) if isinstance(cause, OSError) else OSError
    cls = _ERROR_KINDS.get((base, kind))
    if cls is None:
        cls = base if kind is OSError else type(base.__name__, (base, kind), {
            "__module__": __name__, "__qualname__": base.__name__, "__doc__": base.__doc__})
        _ERROR_KINDS[base, kind] = cls
    return cls


def load_error(path, cause: OSError) -> ModelLoadError:
    """A ``ModelLoadError`` that is also ``type(cause)``, naming the user's ``path``."""
    message = f"cannot load {os.fspath(path)!r}: {cause.strerror or cause}"
    err = _like(ModelLoadError, cause)(message)
    err.message, err.errno, err.strerror, err.filename = message, cause.errno, cause.strerror, path
    return err


def save_error(path, cause: OSError, reason=None) -> ModelSaveError:
    """A ``ModelSaveError`` that is also ``type(cause)``, naming the user's ``path``."""
    cls = _like(ModelSaveError, cause)
    folder = os.path.dirname(os.path.abspath(path)) if path else ""
    if reason is None and not (cause.errno == errno.ENOENT and os.path.isdir(folder)):
        reason = _REASONS.get(cause.errno, "").format(folder=folder)
    detail = cause.strerror or str(cause)
    message = f"cannot save {path!r}: " + (f"{reason} ({detail})" if reason else detail)
    if path and os.path.lexists(path) and not os.path.isdir(path):
        message += "; the previous file is unchanged"
    err = cls(message)
    err.message, err.errno, err.strerror, err.filename = message, cause.errno, cause.strerror, path
    return err


_TMP = re.compile(r"\.(?P<name>.+)\.(?P<pid>[0-9]+)\.[0-9a-f]{8}\.tmp")  # what _open_temporary names


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # EPERM: alive, another user's; no such pid number: not provably gone
        return True
    return True


def _remove_stale_temporaries(folder: str) -> None:
    """Temporary files ``.{name}.{pid}.{random}.tmp`` that killed saves of any file left in
    ``folder`` (say ``ck_013.xdl``'s, when ``ck_014.xdl`` is saved): removed once provably
    orphaned, that is their writer's process is gone and nothing holds their lock (a writer
    keeps an exclusive ``flock`` on its file until the rename, so a reused pid, a forked child
    or a writer in another pid namespace keeps it). A live writer's file, this process's
    included, is never touched, nor any name that xdl would not have made."""
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process there
        return
    try:
        with os.scandir(folder) as it:
            entries = [e.name for e in it if e.name.endswith(".tmp") and _TMP.fullmatch(e.name)
                       and e.is_file(follow_symlinks=False)]
    except OSError:
        return
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    for entry in entries:
        if _pid_alive(int(_TMP.fullmatch(entry)["pid"])):
            continue
        stale = os.path.join(folder, entry)
        with contextlib.suppress(OSError):
            fd = os.open(stale, flags)
            try:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held: a live writer elsewhere
                opened, now = os.fstat(fd), os.lstat(stale)
                if stat.S_ISREG(opened.st_mode) and (opened.st_dev, opened.st_ino) == (now.st_dev, now.st_ino):
                    os.unlink(stale)
            finally:
                os.close(fd)


def _write_all(fd: int, data) -> None:
    view = memoryview(data).cast("B")
    while view:
        view = view[os.write(fd, view[:2**30]):]


def _open_temporary(folder: str, name: str):
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = os.path.join(folder, f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp  # 0o666 & ~umask, as open(path, "wb") gives
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary file name", folder)


def atomic_write(path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that readers see the old file or the new, never half.

    As ``open(path, "wb")`` would: a symlink at ``path`` is written through (its target is
    replaced), a new file gets ``0o666 & ~umask``, an existing file keeps its mode. The data
    goes to a temporary file beside the target (``.{name}.{pid}.{random}.tmp``), is fsynced and
    renamed over it; temporaries that killed saves left in that folder (of any file name) are
    removed first, once their writer is provably gone. A path that names a folder ("out/", or
    an existing folder) is refused, as ``open()`` refuses it. Every failure is a
    ``ModelSaveError`` naming ``path`` and the reason."""
    given = os.fspath(path)
    if isinstance(given, bytes):
        given = os.fsdecode(given)
    if not given:
        raise save_error(given, FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT)), "the path is empty")
    target = os.path.realpath(given)  # through a symlink, to its target
    if os.path.isdir(target):
        raise save_error(given, IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR)))
    if os.path.basename(given) in ("", ".", ".."):  # "out/" (os.sep or os.altsep), "out/.": a folder's name
        raise save_error(given, IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR)),
                          f"the path names a folder; give a file name such as {os.path.join(given, 'model.xdl')!r}")
    if os.path.exists(target) and not os.path.isfile(target):  # a device or a pipe: no file to replace
        try:
            with open(target, "wb") as f:
                f.write(data)
        except OSError as e:
            raise save_error(given, e) from None
        return
    folder, name = os.path.split(target)
    _remove_stale_temporaries(folder)
    try:
        fd, tmp = _open_temporary(folder, name)
    except OSError as e:
        raise save_error(given, e) from None
    try:
        try:
            if fcntl is not None:
                with contextlib.suppress(OSError):
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            with contextlib.suppress(OSError):  # replacing a file: keep its mode, as open() does
                mode = os.stat(target).st_mode
                if stat.S_ISREG(mode):
                    os.fchmod(fd, stat.S_IMODE(mode))
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise save_error(given, e) from None
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
