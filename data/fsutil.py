"""Durable file-system steps the episode store builds its commit on: fsync, atomic replace, writer lock,
and building a directory beside its target so that one rename puts it in place whole."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import signal
import socket
from pathlib import Path
from types import TracebackType
from typing import Any

from honed.errors import UserError


class StoreLockedError(UserError, RuntimeError):
    """Another live process holds the store's writer lock."""


class StoreWriteError(UserError, OSError):
    """Writing to the store failed (disk full, permissions, I/O error); the message names path and cause."""

    def __str__(self) -> str:
        return str(self.strerror)


CRASH_ENV = "HONED_STORE_CRASH_AT"


def crash_point(name: str) -> None:
    """Fault injection for crash tests: ``HONED_STORE_CRASH_AT=<name>`` kills this process here (SIGKILL)."""
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


class TargetExistsError(UserError, FileExistsError):
    """Another process put files where a directory was about to be renamed into place."""


def fsync_path(path: Path) -> None:
    """Flush one file or directory to stable storage."""
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """Flush every file and directory under ``root`` (files first, then their directories, then root)."""
    for dirpath, _dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames:
            fsync_path(Path(dirpath) / name)
        fsync_path(Path(dirpath))


def atomic_write_json(path: Path, data: Any) -> None:
    """Write JSON so that readers see the old or the new content, never a torn file, even after power loss."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    payload = json.dumps(data, indent=1, sort_keys=True).encode()
    try:
        with open(tmp, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_path(path.parent)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise as_store_error(e, path) from e


def durable_rename(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst`` (same file system) and flush both parent directories."""
    os.rename(src, dst)
    fsync_path(dst.parent)
    if src.parent != dst.parent:
        fsync_path(src.parent)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def staging_beside(target: Path, purpose: str) -> Path:
    """A fresh hidden directory path next to ``target`` (``.<name>.<purpose>-<pid>``), on the same file system,
    to build ``target`` in before :func:`rename_into_place`. Leftovers of processes that no longer run
    (killed while building) are removed: they hold nothing but a half-built copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{target.name}.{purpose}-"
    for old in target.parent.glob(prefix + "*"):
        pid = old.name.removeprefix(prefix)
        if pid.isdigit() and (int(pid) == os.getpid() or not _running(int(pid))):
            shutil.rmtree(old, ignore_errors=True)
    return target.parent / f"{prefix}{os.getpid()}"


def rename_into_place(staging: Path, target: Path) -> None:
    """Move a finished ``staging`` directory to ``target`` (absent or an empty directory) in one rename.

    Raises TargetExistsError naming ``target`` when something else put files there first.
    """
    try:
        durable_rename(staging, target)
    except OSError as e:
        if e.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
            raise TargetExistsError(
                f"{target} appeared while it was being built; nothing was replaced"
            ) from e
        raise


def as_store_error(e: OSError, path: Path) -> StoreWriteError:
    """Wrap an OSError with a message that names the path and the cause (disk full gets its own words)."""
    if isinstance(e, StoreWriteError):
        return e
    detail = e.strerror or type(e).__name__
    cause = f"disk full ({detail})" if e.errno in (errno.ENOSPC, errno.EDQUOT) else detail
    return StoreWriteError(e.errno or 0, f"{cause} while writing {path}")


class WriterLock:
    """An exclusive ``flock`` on ``<store>/.lock``: the kernel drops it when the holder dies (even ``kill -9``).

    The lock file holds the holder's pid and host so that a refusal can say who is writing.
    """

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self.path.read_text().strip() or "an unknown process"
            os.close(fd)
            raise StoreLockedError(
                f"{self.path.parent} is being written by {holder}; one writer at a time: "
                "wait for it to finish or stop it (its lock is released the moment it exits)"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
