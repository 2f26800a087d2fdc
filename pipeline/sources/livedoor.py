"""Livedoor news corpus reader (``ldcc-20140209.tar.gz``).

Each article is a member ``text/<category>/<category>-<id>.txt`` whose line 1 is the URL,
line 2 the date, line 3 the title and the rest the body. The tarball is read as a stream of
members and never extracted to disk, so member names never become paths. A name that would
escape an extraction folder (absolute, or with ``..``) is still rejected, because no real
corpus member looks like that. A folder with the same layout is read too.

Hostile archives: a member larger than ``sources.livedoor.max_document_bytes`` is rejected
from its header, unread. An archive that expands past ``max_archive_bytes`` stops the read
with an error. Symbolic links, hard links and special files are rejected and never
followed. A compressed stream cut short is an error naming the last complete member.
"""

from __future__ import annotations

import logging
import stat
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from pipeline.config import SourceConfig
from pipeline.document import TITLE_LEVEL, Document
from pipeline.download import download
from pipeline.sources import ReaderReject, SourceError, check_local_path
from pipeline.sources.archive import CountingReader, DecompressedSizeError, drain, open_decompressed

logger = logging.getLogger(__name__)

SOURCE = "livedoor"
DEFAULT_URL = "https://www.rondhuit.com/download/ldcc-20140209.tar.gz"
SKIPPED_FILES = frozenset({"LICENSE.txt", "README.txt", "CHANGES.txt"})


def read(config: SourceConfig, *, raw_dir: Path, workers: int = 1) -> Iterator[Document | ReaderReject]:
    """Yield one document per article, in archive member order (or sorted path order for a folder)."""
    if config.path is None:
        url = config.url or DEFAULT_URL
        path = download(url, raw_dir / SOURCE / PurePosixPath(url).name, source=SOURCE, sha256=config.sha256)
    else:
        path = check_local_path(SOURCE, config)

    records = _read_folder(path, config) if path.is_dir() else _read_tarball(path, config)
    articles = 0
    for record in records:
        articles += 1
        yield record
    if articles == 0:
        raise SourceError(
            f"source {SOURCE}: {path} contains no article files (text/<category>/<category>-<id>.txt); "
            f"point sources.{SOURCE}.path at the Livedoor tarball or its extracted folder"
        )


def _read_folder(path: Path, config: SourceConfig) -> Iterator[Document | ReaderReject]:
    for file in sorted(path.rglob("*.txt")):
        if file.name in SKIPPED_FILES:
            continue
        member = file.relative_to(path).as_posix()
        status = file.lstat()
        if stat.S_ISLNK(status.st_mode) or not stat.S_ISREG(status.st_mode):
            kind = "a symbolic link" if stat.S_ISLNK(status.st_mode) else "not a regular file"
            yield _reject_unread(member, f"file {member} is {kind}; links and special files are not followed")
        elif status.st_size > config.max_document_bytes:
            yield _reject_unread(member, _too_large(member, status.st_size, config.max_document_bytes))
        else:
            yield parse_article(member, file.read_bytes())


def _read_tarball(path: Path, config: SourceConfig) -> Iterator[Document | ReaderReject]:
    try:
        raw = open_decompressed(path)
    except OSError as error:
        raise SourceError(f"source {SOURCE}: {path} could not be opened ({error}); fix sources.{SOURCE}.path") from None
    reader = CountingReader(raw, limit=config.max_archive_bytes)

    last: tarfile.TarInfo | None = None
    try:
        with raw, tarfile.open(fileobj=reader, mode="r|") as archive:  # type: ignore[call-overload]
            for member in archive:
                if member.offset_data + member.size > config.max_archive_bytes:
                    raise DecompressedSizeError(config.max_archive_bytes)
                record = _member_record(archive, member, config)
                if record is not None:
                    yield record
                last = member
                # A streamed archive never looks back, so the member list would only grow.
                archive.members.clear()
            _check_end(reader, last)
    except DecompressedSizeError:
        raise SourceError(
            f"source {SOURCE}: archive {path} expands past sources.{SOURCE}.max_archive_bytes "
            f"({config.max_archive_bytes} bytes) after member {_name(last)}; raise the limit if the archive is genuine"
        ) from None
    except (tarfile.TarError, EOFError, OSError, ValueError, zlib.error) as error:
        where = f"is truncated or corrupt after member {_name(last)}" if last else "is not a readable tar archive"
        raise SourceError(
            f"source {SOURCE}: archive {path} {where} ({error}); "
            f"download it again or point sources.{SOURCE}.path at a good copy"
        ) from None


def _name(member: tarfile.TarInfo | None) -> str:
    return repr(member.name) if member is not None else "(none read yet)"


def _member_record(
    archive: tarfile.TarFile, member: tarfile.TarInfo, config: SourceConfig
) -> Document | ReaderReject | None:
    """Read one member: a document, a reject naming what is wrong with it, or ``None`` for a non-article."""
    name = PurePosixPath(member.name)
    if name.is_absolute() or ".." in name.parts:
        reason = f"member name {member.name!r} is absolute or contains '..'; such members are never read"
        return _reject_unread(member.name, reason)
    if member.isdir():
        return None
    if member.issym() or member.islnk():
        kind = "symbolic link" if member.issym() else "hard link"
        return _reject_unread(
            member.name, f"member {member.name} is a {kind} to {member.linkname!r}; links are not followed"
        )
    if not member.isfile():
        return _reject_unread(member.name, f"member {member.name} is a device or FIFO, not a regular file")
    if name.suffix != ".txt" or name.name in SKIPPED_FILES:
        return None
    if member.size > config.max_document_bytes:
        return _reject_unread(member.name, _too_large(member.name, member.size, config.max_document_bytes))

    handle = archive.extractfile(member)
    assert handle is not None
    raw = handle.read()
    if len(raw) != member.size:
        raise EOFError(f"member {member.name} has {len(raw)} of its {member.size} bytes")
    return parse_article(member.name, raw)


def _check_end(reader: CountingReader, last: tarfile.TarInfo | None) -> None:
    """Read the stream to its end and check that the end-of-archive marker follows the last member."""
    trailing, all_zero = drain(reader)
    if last is None:
        return
    data_end = last.offset_data + -(-last.size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
    if reader.count - data_end < tarfile.BLOCKSIZE:
        raise EOFError("the archive ends without its end-of-archive marker")
    if not all_zero:
        raise ValueError(f"{trailing} bytes of data follow the end-of-archive marker (another archive appended?)")


def _too_large(member: str, size: int, limit: int) -> str:
    return (
        f"member {member} is {size} bytes, over sources.{SOURCE}.max_document_bytes ({limit}); "
        "raise the limit if the article is genuine"
    )


def _reject_unread(member: str, reason: str) -> ReaderReject:
    name = PurePosixPath(member)
    metadata = {"category": name.parent.name, "member": member}
    return ReaderReject(
        Document(id=f"{SOURCE}/{name.stem}", source=SOURCE, title="", text="", metadata=metadata), reason
    )


def parse_article(member: str, raw: bytes) -> Document | ReaderReject:
    """Parse one article file into a document, or a reject naming what is wrong with it.

    A rejected article keeps what could be read: the text decoded with U+FFFD in place of
    invalid bytes.
    """
    empty = _reject_unread(member, "").document
    if not raw.strip():
        return ReaderReject(empty, f"member {member} is empty")

    try:
        # "utf-8-sig" drops a byte order mark that some editors put before the URL line.
        content = raw.decode("utf-8-sig")
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
