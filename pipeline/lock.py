"""Exclusive lock on an output folder, so that two runs never write the same files at once.

The lock is the file ``<folder>/.pipeline.lock``, held with ``fcntl.flock`` and holding a
JSON record of the owner: process id, host name, start time and command line. The kernel
releases a ``flock`` when its process exits, even through SIGKILL, so a lock file left by a
dead run is free: the next run takes it over and logs a warning naming the dead process.
A run that finds the lock held stops at once with :class:`FolderLockedError`, whose message
names the lock file, the owner and what to do.

NOTE: ``flock`` is reliable on local filesystems. On NFS, Linux emulates it with POSIX
record locks, which work only when the server supports locking. Two hosts sharing one
output folder over a filesystem without lock support are not protected.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

LOCK_FILE = ".pipeline.lock"


class FolderLockedError(RuntimeError):
    """Another running process holds the lock on an output folder."""

    def __init__(self, path: Path, owner: dict[str, Any]) -> None:
        pid = owner.get("pid")
        if owner:
            host = owner.get("host", "unknown")
            started = owner.get("started", "at an unknown time")
            holder = f"process {pid} on host {host}, started {started} ({owner.get('command', 'unknown command')})"
        else:
            holder = "a process that is still writing its record"
        super().__init__(
            f"output folder {path.parent} is in use: lock file {path} is held by {holder}. "
            f"Wait for that run to finish or stop it{f' (kill {pid})' if pid else ''}, then rerun; "
            "a lock left by a process that has exited is taken over automatically."
        )
        self.path = path
        self.owner = owner


def _read_record(descriptor: int) -> dict[str, Any]:
    os.lseek(descriptor, 0, os.SEEK_SET)
    raw = b""
    while block := os.read(descriptor, 65536):
        raw += block
    try:
        record = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def is_process_alive(pid: int) -> bool:
    """Return whether a process with this id exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _open_locked(path: Path) -> int:
    """Open and ``flock`` the lock file, retrying when another process replaced it meanwhile."""
    while True:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            owner = _read_record(descriptor)
            os.close(descriptor)
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise FolderLockedError(path, owner) from None
            raise

        # The previous owner unlinks the file on release. When that happened between our
        # open and flock, we hold a lock on a deleted file: start again on the new one.
        try:
            same_file = os.path.samestat(os.fstat(descriptor), os.stat(path))
        except FileNotFoundError:
            same_file = False
        if same_file:
            return descriptor
        os.close(descriptor)


@contextmanager
def folder_lock(folder: Path) -> Iterator[Path]:
    """Hold the lock of an output folder for the duration of the block; yield the lock file path.

    The folder is created if missing. The lock file is deleted on release.

    Raises:
        FolderLockedError: A running process holds the lock.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    descriptor = _open_locked(path)
    try:
        previous = _read_record(descriptor)
        if previous:
            _warn_takeover(path, previous)

        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "command": " ".join(sys.argv),
        }
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, (json.dumps(record) + "\n").encode("utf-8"), 0)
        os.fsync(descriptor)
        logger.debug("locked %s", path)
        yield path
    finally:
        # Unlink before unlocking, so that no process can lock the old file after we let go.
        path.unlink(missing_ok=True)
        os.close(descriptor)


def _warn_takeover(path: Path, previous: dict[str, Any]) -> None:
    pid = previous.get("pid")
    host = previous.get("host")
    if host == socket.gethostname() and isinstance(pid, int) and is_process_alive(pid):
        state = f"process {pid} is running but no longer holds the lock (its id was reused or it released the lock)"
    elif host == socket.gethostname():
        state = f"process {pid} is no longer running"
    else:
        state = f"process {pid} on host {host} no longer holds the lock"
    logger.warning(
        "taking over stale lock %s: %s (started %s)",
        path,
        state,
        previous.get("started", "at an unknown time"),
    )
