"""Streaming reader of MediaWiki XML export files (``*-pages-articles*.xml[.bz2]``).

The file is decompressed and parsed incrementally, and every ``<page>`` element is cleared
once its fields are read. Memory use is one page plus a read-ahead buffer of a few
megabytes, whatever the size of the dump.
Python's :mod:`bz2` reads multistream files (many bz2 streams back to back) as one stream.

The parser rejects documents that declare a DTD or entities: a real dump declares neither,
and entity declarations are how billion-laughs and external-entity attacks work.
"""

from __future__ import annotations

import bz2
import queue
import threading
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from pathlib import Path
from typing import IO, NamedTuple

import defusedxml
import defusedxml.ElementTree

from pipeline.sources import SourceError

# Expat error codes for input that stops early: "no element found", "unclosed token" and
# "partial character" (see xml.parsers.expat.ErrorString).
_TRUNCATION_CODES = frozenset({3, 5, 6})


class Page(NamedTuple):
    """One ``<page>`` of a dump, with the fields of its (only) revision.

    Args:
        page_id: The ``<id>`` of the page, a decimal string.
        title: Page title with its namespace prefix, as in the dump.
        namespace: The ``<ns>`` number; 0 is the article namespace.
        redirect: True when the page has a ``<redirect>`` element.
        revision_id: The ``<id>`` of the revision.
        timestamp: Revision timestamp, ISO 8601 in UTC (``2023-04-30T12:00:00Z``).
        text: The wikitext; empty when the revision text was deleted.
    """

    page_id: str
    title: str
    namespace: int
    redirect: bool
    revision_id: str
    timestamp: str
    text: str


def open_dump(path: Path) -> ReadAhead:
    """Open a dump for reading bytes in a background thread, decompressing it when its name ends in ``.bz2``."""
    if path.suffix == ".bz2":
        return ReadAhead(bz2.open(path, "rb"))
    return ReadAhead(path.open("rb"))


class ReadAhead:
    """A binary stream read by a background thread, a few chunks ahead of the consumer.

    bz2 decompression releases the GIL, so reading a ``.bz2`` dump through this class lets
    decompression and XML parsing run on two cores. An error of the underlying stream is
    raised by the :meth:`read` call that reaches it.

    Args:
        stream: The stream to read; closed by :meth:`close`.
        chunk_size: Bytes per read of ``stream``. Default: 1048576.
        chunks_ahead: Chunks buffered at most. Default: 4.
    """

    def __init__(self, stream: IO[bytes], *, chunk_size: int = 1 << 20, chunks_ahead: int = 4) -> None:
        self._stream = stream
        self._chunk_size = chunk_size
        self._chunks: queue.Queue[bytes | BaseException] = queue.Queue(maxsize=chunks_ahead)
        self._closed = threading.Event()
        self._buffer = b""
        self._position = 0
        self._at_end = False
        self._thread = threading.Thread(target=self._fill, name="dump-read-ahead", daemon=True)
        self._thread.start()

    def _fill(self) -> None:
        # read1 returns what one read of the compressed file yields, so the bytes before a
        # damaged spot reach the consumer before the error does.
        read = getattr(self._stream, "read1", self._stream.read)
        pending: list[bytes] = []
        pending_size = 0
        try:
            while not self._closed.is_set():
                data = read(self._chunk_size)
                if not data:
                    break
                pending.append(data)
                pending_size += len(data)
                if pending_size >= self._chunk_size:
                    self._put(b"".join(pending))
                    pending, pending_size = [], 0
        except BaseException as error:  # Handed to the consumer thread, which raises it.
            if pending:
                self._put(b"".join(pending))
            self._put(error)
            return

        if pending:
            self._put(b"".join(pending))
        self._put(b"")

    def _put(self, item: bytes | BaseException) -> None:
        while not self._closed.is_set():
            try:
                self._chunks.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def read(self, size: int = -1) -> bytes:
        """Return up to ``size`` bytes from the current chunk (the rest of it when negative); ``b""`` at the end.

        Like a raw stream's read, it may return fewer bytes than requested before the end.
        """
        if self._position == len(self._buffer):
            if self._at_end:
                return b""
            item = self._chunks.get()
            if isinstance(item, BaseException):
                self._at_end = True
                raise item
            if not item:
                self._at_end = True
                return b""
            self._buffer, self._position = item, 0

        end = len(self._buffer) if size < 0 else min(len(self._buffer), self._position + size)
        data = self._buffer[self._position : end]
        self._position = end
        return data

    def close(self) -> None:
        self._closed.set()
        self._thread.join()
        self._stream.close()

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def iter_pages(path: Path, *, source: str) -> Iterator[Page]:
    """Yield the pages of a dump file in file order.

    Args:
        path: A ``.xml`` or ``.xml.bz2`` MediaWiki export file.
        source: Source name used in error messages and config keys, such as ``jawiki``.

    Raises:
        SourceError: The file declares a DTD or entities, is not well-formed XML, or ends
            early (cut XML or a bz2 stream cut short). The pages before the error were all
            yielded, and the message names the last of them.
    """
    last_page: Page | None = None
    try:
        with open_dump(path) as handle:
            for page in _parse_pages(handle):
                last_page = page
                yield page
    except defusedxml.DefusedXmlException as error:
        raise entities_error(path, source=source, detail=repr(error)) from None
    except (ElementTree.ParseError, EOFError, OSError) as error:
        problem = "ends early" if _is_truncation(error) else "is not a well-formed MediaWiki dump"
        raise damage_error(path, source=source, problem=f"{problem} ({error})", last_page=last_page) from None


def entities_error(path: Path, *, source: str, detail: str) -> SourceError:
    """Return the error for a dump that declares a DTD or entities, which is rejected unread."""
    return SourceError(
        f"source {source}: {path} declares a DTD or XML entities ({detail}), which MediaWiki dumps never do; "
        "the file was rejected without expanding them. Download the dump again from dumps.wikimedia.org"
    )


def damage_error(path: Path, *, source: str, problem: str, last_page: Page | None) -> SourceError:
    """Return the error for a dump that is cut short or malformed after ``last_page``.

    Args:
        path: The dump file.
        source: Source name for the message and the config key, such as ``jawiki``.
        problem: What is wrong, completing "<path> ...", such as ``ends early (...)``.
        last_page: The last page read completely, or ``None`` if there was none.
    """
    position = "before the first page" if last_page is None else f"after page {last_page.page_id} ({last_page.title!r})"
    return SourceError(
        f"source {source}: {path} {problem} {position}; every page before it was read. "
        f"Download the dump again or fix sources.{source}.path, then rerun"
    )


def _is_truncation(error: Exception) -> bool:
    """Return True for a bz2 stream cut short or XML that stops inside an element."""
    if isinstance(error, EOFError):
        return True
    return isinstance(error, ElementTree.ParseError) and error.code in _TRUNCATION_CODES


def _parse_pages(handle: ReadAhead) -> Iterator[Page]:
    events = defusedxml.ElementTree.iterparse(handle, events=("start", "end"), forbid_dtd=True)
    root: ElementTree.Element | None = None
    for event, element in events:
        if root is None:
            root = element
        if event != "end" or _local_name(element.tag) != "page":
            continue

        yield page_fields(element)
        # Drop the finished page, and every earlier sibling, so the tree never grows.
        root.clear()


def page_fields(page: ElementTree.Element) -> Page:
    """Read the fields of a ``<page>`` element, with or without the export namespace in its tags."""
    fields: dict[str, str] = {}
    redirect = False
    for child in page:
        name = _local_name(child.tag)
        if name == "redirect":
            redirect = True
        elif name == "revision":
            for revision_field in child:
                revision_name = _local_name(revision_field.tag)
                if revision_name in ("id", "timestamp", "text"):
                    fields[f"revision_{revision_name}"] = revision_field.text or ""
        else:
            fields[name] = child.text or ""

    namespace = fields.get("ns", "0")
    return Page(
        page_id=fields.get("id", ""),
        title=fields.get("title", ""),
        namespace=int(namespace) if namespace.lstrip("-").isdigit() else -1,
        redirect=redirect,
        revision_id=fields.get("revision_id", ""),
        timestamp=fields.get("revision_timestamp", ""),
        text=fields.get("revision_text", ""),
    )


def _local_name(tag: str) -> str:
    """Return ``page`` for ``{http://www.mediawiki.org/xml/export-0.10/}page``."""
    return tag.rpartition("}")[2]
