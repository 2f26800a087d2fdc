"""Streaming decompression with a size limit and truncation checks, for archive readers.

``tarfile`` in stream mode (``"r|gz"``) decompresses with its own zlib loop, which returns
short data at the end of the file instead of raising. A gzip file cut short can then lose
its last members without an error (seen with CPython 3.11.7). Readers here decompress with the
``gzip``, ``bz2`` and ``lzma`` modules instead, which raise ``EOFError`` for a stream cut
short and check the gzip CRC, and read the stream to its end even after ``tarfile`` stops at
the end-of-archive marker, so that a cut in the last bytes is noticed too.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
from pathlib import Path
from typing import BinaryIO, cast

_MAGIC = ((b"\x1f\x8b", gzip.open), (b"BZh", bz2.open), (b"\xfd7zXZ\x00", lzma.open))

MAX_TRAILER_BYTES = 16 * 1024**2
"""Maximum number of bytes :func:`drain` accepts after a tar archive's last member. Real
archives pad to a record of 10 KiB (the ``tar`` default) or more with a larger blocking factor."""


class DecompressedSizeError(Exception):
    """The decompressed stream grew past the configured limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"decompressed size exceeds {limit} bytes")
        self.limit = limit


class CountingReader:
    """Binary reader that counts the bytes read through it and raises past a limit.

    Args:
        raw: Decompressed stream to read from.
        limit: Maximum number of bytes that may be read.
    """

    def __init__(self, raw: BinaryIO, *, limit: int) -> None:
        self.raw = raw
        self.limit = limit
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = self.limit - self.count + 1
        data = self.raw.read(min(size, self.limit - self.count + 1))
        self.count += len(data)
        if self.count > self.limit:
            raise DecompressedSizeError(self.limit)
        return data

    def close(self) -> None:
        self.raw.close()


def open_decompressed(path: Path) -> BinaryIO:
    """Open ``path`` for reading, decompressing gzip, bzip2 or xz, chosen by the magic bytes."""
    with path.open("rb") as handle:
        magic = handle.read(6)
    for prefix, opener in _MAGIC:
        if magic.startswith(prefix):
            return cast(BinaryIO, opener(path, "rb"))
    return path.open("rb")


def drain(reader: CountingReader, *, max_bytes: int = MAX_TRAILER_BYTES) -> tuple[int, bool]:
    """Read ``reader`` to its end, so the decompressor verifies the end of its stream.

    Returns:
        The number of bytes read, and whether they were all zero bytes.

    Raises:
        EOFError, OSError: The compressed stream is cut short or corrupt.
        ValueError: More than ``max_bytes`` bytes remain.
    """
    total = 0
    all_zero = True
    while block := reader.read(1 << 16):
        total += len(block)
        all_zero = all_zero and not block.strip(b"\0")
        if total > max_bytes:
            raise ValueError(f"more than {max_bytes} bytes follow the end of the archive")
    return total, all_zero
