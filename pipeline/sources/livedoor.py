"""Livedoor news corpus reader (``ldcc-20140209.tar.gz``).

Each article is a member ``text/<category>/<category>-<id>.txt`` whose line 1 is the URL,
line 2 the date, line 3 the title and the rest the body. The tarball is read as a stream of
members and never extracted to disk. A folder with the same layout is read too.
"""

from __future__ import annotations

import logging
import tarfile
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


def read(config: SourceConfig, *, raw_dir: Path, workers: int = 1) -> Iterator[Document | ReaderReject]:
    """Yield one document per article, in archive member order (or sorted path order for a folder)."""
    if config.path is None:
        url = config.url or DEFAULT_URL
        path = download(url, raw_dir / SOURCE / PurePosixPath(url).name, source=SOURCE)
    else:
        path = check_local_path(SOURCE, config)

    if path.is_dir():
        for file in sorted(path.rglob("*.txt")):
            if file.name not in SKIPPED_FILES:
                yield parse_article(file.relative_to(path).as_posix(), file.read_bytes())
        return

    yield from _read_tarball(path)


def _read_tarball(path: Path) -> Iterator[Document | ReaderReject]:
    try:
        archive = tarfile.open(path, mode="r|*")
    except (tarfile.TarError, OSError) as error:
        raise SourceError(f"source {SOURCE}: {path} is not a readable tar archive ({error}); fix sources.{SOURCE}.path") from None

    with archive:
        try:
            for member in archive:
                name = PurePosixPath(member.name)
                if not member.isfile() or name.suffix != ".txt" or name.name in SKIPPED_FILES:
                    continue
                handle = archive.extractfile(member)
                assert handle is not None
                yield parse_article(member.name, handle.read())
        except (tarfile.TarError, EOFError, OSError) as error:
            raise SourceError(
                f"source {SOURCE}: archive {path} is corrupt after member {member.name!r} ({error}); "
                "download it again or point sources.livedoor.path at a good copy"
            ) from None


def parse_article(member: str, raw: bytes) -> Document | ReaderReject:
    """Parse one article file into a document, or a reject naming what is wrong with it."""
    name = PurePosixPath(member)
    category = name.parent.name
    document_id = f"{SOURCE}/{name.stem}"
    metadata = {"category": category, "member": member}

    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        empty = Document(id=document_id, source=SOURCE, title="", text="", metadata=metadata)
        return ReaderReject(empty, f"member {member} is not valid UTF-8 ({error})")

    lines = content.splitlines()
    if len(lines) < 3:
        partial = Document(id=document_id, source=SOURCE, title="", text=content, metadata=metadata)
        return ReaderReject(partial, f"member {member} has {len(lines)} lines, expected URL, date, title and body")

    url, date, title = (line.strip() for line in lines[:3])
    metadata.update(url=url, date=date)
    blocks = [(title, TITLE_LEVEL)] + [(line, 0) for line in lines[3:]]
    return Document.from_blocks(id=document_id, source=SOURCE, title=title, blocks=blocks, metadata=metadata)
