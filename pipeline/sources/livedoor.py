"""Livedoor news corpus reader (``ldcc-20140209.tar.gz``).

Each article is a member ``text/<category>/<category>-<id>.txt`` whose line 1 is the URL,
line 2 the date, line 3 the title and the rest the body. The tarball is read as a stream of
members (``tarfile`` mode ``r|``) and never extracted to disk, so member names never become
paths. A name that would escape an extraction folder (absolute, or with ``..``) is still
rejected, because no real corpus member looks like that. A folder with the same layout is
read too.
"""

from __future__ import annotations

import bz2
import gzip
import io
import logging
import lzma
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from pipeline.config import SourceConfig
from pipeline.document import TITLE_LEVEL, Document
from pipeline.download import download
from pipeline.sources import ReaderReject, SourceError, check_local_path

logger = logging.getLogger(__name__)

SOURCE = "livedoor"
DEFAULT_URL = "https://www.rondhuit.com/download/ldcc-20140209.tar.gz"
SKIPPED_FILES = frozenset({"LICENSE.txt", "README.txt", "CHANGES.txt"})
MAX_MEMBER_BYTES = 16 << 20
"""Largest article member read, in bytes; the largest real article is under 100 KiB."""


def read(config: SourceConfig, *, raw_dir: Path) -> Iterator[Document | ReaderReject]:
    """Yield one document per article, in archive member order (or sorted path order for a folder).

    Raises:
        SourceError: The path is missing, the download failed, or the archive is corrupt.
            Every article before the corrupt part has been yielded by then.
    """
    if config.path is None:
        url = config.url or DEFAULT_URL
        path = download(url, raw_dir / SOURCE / PurePosixPath(url).name, source=SOURCE, sha256=config.sha256)
    else:
        path = check_local_path(SOURCE, config)

    if path.is_dir():
        for file in sorted(path.rglob("*.txt")):
            if file.name not in SKIPPED_FILES:
                yield parse_article(file.relative_to(path).as_posix(), file.read_bytes())
        return

    yield from _read_tarball(path)


def _read_tarball(path: Path) -> Iterator[Document | ReaderReject]:
    stream = _open_decompressed(path)
    members_read = 0
    last_name: str | None = None
    current = "the first member"
    with stream:
        try:
            archive = tarfile.open(fileobj=stream, mode="r|")  # noqa: SIM115 -- closed by the with block below
        except (*_CORRUPT_ERRORS, ValueError) as error:
            raise SourceError(
                f"source {SOURCE}: {path} is not a readable tar archive ({error}); fix sources.{SOURCE}.path"
            ) from None

        try:
            with archive:
                while (member := archive.next()) is not None:
                    # TarFile keeps every header it has read in the undocumented list
                    # ``members``, which the stream never needs again.
                    archive.members.clear()  # type: ignore[attr-defined]
                    current = repr(member.name)
                    record = _read_member(archive, member)
                    members_read += 1
                    if record is not None:
                        yield record
                    last_name = member.name
                    current = f"the member after {member.name!r}"

            # tarfile ends the member list quietly at a damaged header. Reading the stream to
            # its end finds data after that point and makes the decompressor check its CRC.
            current = "the end of the archive" if last_name is None else f"the end of the archive, after {last_name!r}"
            if _has_data_after_end(stream):
                raise tarfile.ReadError("data follows the end of the archive, so a member header is damaged")
        except _CORRUPT_ERRORS as error:
            raise SourceError(
                f"source {SOURCE}: archive {path} is corrupt at {current} ({type(error).__name__}: {error}); "
                f"the {members_read} members before it were read. Download it again or point "
                f"sources.{SOURCE}.path at a good copy"
            ) from None


_CORRUPT_ERRORS = (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError)


def _open_decompressed(path: Path) -> io.BufferedIOBase:
    """Open a plain, gzip, bzip2 or xz file as a stream of its decompressed bytes.

    The decompressors of the standard library check the stream's CRC at its end, which the
    compression support inside ``tarfile``'s stream mode does not.
    """
    with path.open("rb") as handle:
        magic = handle.read(6)
    if magic.startswith(b"\x1f\x8b"):
        return gzip.open(path, "rb")
    if magic.startswith(b"BZh"):
        return bz2.open(path, "rb")
    if magic.startswith(b"\xfd7zXZ\x00"):
        return lzma.open(path, "rb")
    return path.open("rb")


def _has_data_after_end(stream: io.BufferedIOBase) -> bool:
    """Read ``stream`` to its end; return whether anything but zero padding was left."""
    found = False
    while chunk := stream.read(1 << 20):
        found = found or bool(chunk.strip(b"\0"))
    return found


def _read_member(archive: tarfile.TarFile, member: tarfile.TarInfo) -> Document | ReaderReject | None:
    """Turn one archive member into a document or a reject; return ``None`` for non-article members."""
    name = PurePosixPath(member.name)
    unsafe = name.is_absolute() or ".." in name.parts
    if not unsafe and (name.suffix != ".txt" or name.name in SKIPPED_FILES or member.isdir()):
        return None

    if unsafe:
        reason = f"member name {member.name!r} is absolute or contains '..'; such members are never read"
        return ReaderReject(_empty_document(member.name), reason)
    if not member.isfile():
        reason = f"member {member.name} is a link or special file, not a regular file; links are not followed"
        return ReaderReject(_empty_document(member.name), reason)
    if member.size > MAX_MEMBER_BYTES:
        reason = f"member {member.name} has {member.size} bytes, more than the {MAX_MEMBER_BYTES} bytes of an article"
        return ReaderReject(_empty_document(member.name), reason)

    handle = archive.extractfile(member)
    assert handle is not None
    return parse_article(member.name, handle.read())


def _empty_document(member: str) -> Document:
    name = PurePosixPath(member)
    metadata = {"category": name.parent.name, "member": member}
    return Document(id=f"{SOURCE}/{name.stem}", source=SOURCE, title="", text="", metadata=metadata)


def parse_article(member: str, raw: bytes) -> Document | ReaderReject:
    """Parse one article file into a document, or a reject naming what is wrong with it.

    A rejected article keeps what could be read: the text decoded with U+FFFD in place of
    invalid bytes.
    """
    empty = _empty_document(member)
    if not raw.strip():
        return ReaderReject(empty, f"member {member} is empty")

    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        readable = empty.replace(text=raw.decode("utf-8", errors="replace"))
        return ReaderReject(readable, f"member {member} is not valid UTF-8 ({error})")

    lines = content.splitlines()
    if len(lines) < 3:
        partial = empty.replace(text=content)
        return ReaderReject(partial, f"member {member} has {len(lines)} lines, expected URL, date, title and body")

    url, date, title = (line.strip() for line in lines[:3])
    metadata = {**empty.metadata, "url": url, "date": date}
    blocks = [(title, TITLE_LEVEL)] + [(line, 0) for line in lines[3:]]
    return Document.from_blocks(id=empty.id, source=SOURCE, title=title, blocks=blocks, metadata=metadata)
