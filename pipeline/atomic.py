"""Crash-safe file writing: temporary name, fsync, rename into place, fsync the folder.

A file written through :func:`atomic_path` either has its complete new content under its
final name or is absent, whatever moment the process is killed at:

1. the bytes go to ``<name>.tmp`` in the same folder (so the rename below stays within one
   filesystem);
2. the temporary file is flushed to the device with ``fsync``;
3. ``os.replace`` renames it over the final name, which POSIX makes atomic;
4. the folder is fsynced, so the new name survives a power loss too.

Disk full: an ``OSError`` with errno ``ENOSPC`` or ``EDQUOT`` raised while writing becomes a
:class:`DiskFullError` whose message names the file and the fix. The temporary file is
removed first, so nothing a rerun could mistake for complete is left behind.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TEMPORARY_SUFFIX = ".tmp"
"""Suffix of files being written; a rerun deletes any file with it inside a stage folder."""

DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


class DiskFullError(OSError):
    """The disk (or the user's quota) filled up while writing ``path``.

    Args:
        path: File that was being written.
        config_key: Config key of the folder that filled up, such as ``outputs_dir``.
        resumable: Whether finished units are kept, so that a rerun resumes. Default: true.
    """

    def __init__(self, path: Path, *, config_key: str, resumable: bool = True) -> None:
        then = "then rerun: finished units are kept" if resumable else "then rerun"
        super().__init__(
            errno.ENOSPC, f"disk full while writing {path}; free space or point {config_key} elsewhere, {then}"
        )
        self.path = path

    def __str__(self) -> str:
        return str(self.strerror)


def is_disk_full(error: BaseException) -> bool:
    """Return whether ``error`` reports a full disk or an exhausted quota."""
    return isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS


def temporary_path(path: Path) -> Path:
    """Return the temporary name under which ``path`` is written: ``<name>.tmp`` beside it."""
    return path.with_name(path.name + TEMPORARY_SUFFIX)


def fsync_file(path: Path) -> None:
    """Flush a written file's data and size to the device."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def fsync_folder(path: Path) -> None:
    """Flush a folder's entries, so that a rename or unlink inside it survives a power loss."""
    descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextmanager
def disk_full_errors(path: Path, *, config_key: str, resumable: bool = True) -> Iterator[None]:
    """Turn a full-disk ``OSError`` raised inside the block into a :class:`DiskFullError` naming ``path``."""
    try:
        yield
    except DiskFullError:
        raise
    except OSError as error:
        if is_disk_full(error):
            raise DiskFullError(path, config_key=config_key, resumable=resumable) from error
        raise


@contextmanager
def atomic_path(path: Path, *, config_key: str = "outputs_dir") -> Iterator[Path]:
    """Yield a temporary path to write; on success, move it to ``path`` durably.

    On any exception the temporary file is deleted and ``path`` keeps its previous content
    (or stays absent). A full disk raises :class:`DiskFullError`.

    Args:
        path: Final file path. Its folder is created if missing.
        config_key: Config key of the folder, named in the disk-full message. Default:
            ``outputs_dir``.
    """
    temporary = temporary_path(path)
    with disk_full_errors(path, config_key=config_key):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary.unlink(missing_ok=True)
            yield temporary
            fsync_file(temporary)
            os.replace(temporary, path)
            fsync_folder(path.parent)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise


def write_bytes_atomic(path: Path, data: bytes, *, config_key: str = "outputs_dir") -> None:
    """Write ``data`` to ``path`` through :func:`atomic_path`."""
    with atomic_path(path, config_key=config_key) as temporary:
        temporary.write_bytes(data)


def write_json_atomic(path: Path, value: object, *, config_key: str = "outputs_dir") -> None:
    """Write ``value`` as indented UTF-8 JSON with a final newline, through :func:`atomic_path`.

    Keys keep their insertion order, so equal inputs built the same way give equal bytes.
    """
    text = json.dumps(value, indent=2, ensure_ascii=False) + "\n"
    write_bytes_atomic(path, text.encode("utf-8"), config_key=config_key)


def sha256_file(path: Path) -> str:
    """Return the hexadecimal SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
