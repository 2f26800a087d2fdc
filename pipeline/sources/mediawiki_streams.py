"""Reading the bz2 streams of a multistream dump (``*-pages-articles-multistream.xml.bz2``) one by one.

A multistream dump is a series of independent bz2 streams of about 100 pages each, written
back to back, so each stream can be decompressed and parsed in a different process. bz2
decompression takes CPU time comparable to the conversion of the same wikitext to prose (see
docs/benchmarks.md), so reading one stream per task is what lets a dump use more than two
cores. A plain ``pages-articles.xml.bz2`` is a single stream and is read by
:func:`pipeline.sources.mediawiki_xml.iter_pages` instead.
"""

from __future__ import annotations

import bz2
import mmap
import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import NamedTuple

import defusedxml
import defusedxml.ElementTree

from pipeline.sources.mediawiki_xml import Page, page_fields

# A stream starts with the header "BZh" and a block size digit, followed by the magic number
# of its first block (0x314159265359, "1AY&SY"). Ten fixed bytes turn up by chance inside
# compressed data too rarely to matter, and a false start would fail to decompress.
_STREAM_START = re.compile(rb"BZh[1-9]1AY&SY")
_PAGE_START = b"<page>"
_PAGE_END = b"</page>"
_NOT_SPLIT_AT_PAGES = "has a bz2 stream that splits a page, unlike a multistream dump (set workers: 1 to read it)"


class Stream(NamedTuple):
    """A byte range of a dump file that contains whole bz2 streams.

    Args:
        path: The dump file.
        start: Offset of the first byte, in bytes.
        end: Offset one past the last byte, in bytes.
        first: True for the range at the start of the file, which contains the XML header.
        last: True for the range at the end of the file, which contains ``</mediawiki>``.
    """

    path: Path
    start: int
    end: int
    first: bool
    last: bool


class StreamPages(NamedTuple):
    """The pages of one stream, in file order.

    Args:
        pages: Every page read completely.
        problem: ``None`` for an intact stream. Otherwise it says what is wrong, phrased to
            follow the file name (``ends early (...)``), and ``pages`` has the pages before the damage.
        declares_entities: True when the XML header declares a DTD or entities; such a dump is
            rejected without reading any page.
    """

    pages: list[Page]
    problem: str | None = None
    declares_entities: bool = False


def find_streams(path: Path) -> list[Stream]:
    """Return the bz2 streams of ``path`` in file order; one stream for a plain bz2 file.

    Returns an empty list when the file does not start with a bz2 stream.
    """
    size = path.stat().st_size
    if size == 0:
        return []
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        starts = [match.start() for match in _STREAM_START.finditer(data)]
    if not starts or starts[0] != 0:
        return []

    ends = [*starts[1:], size]
    count = len(starts)
    return [
        Stream(path=path, start=start, end=end, first=index == 0, last=index == count - 1)
        for index, (start, end) in enumerate(zip(starts, ends, strict=True))
    ]


def split_at_pages(streams: list[Stream]) -> bool:
    """Return True when each stream contains whole pages, as in a multistream dump.

    Other tools (pbzip2, lbzip2) also write many bz2 streams but cut them at fixed sizes,
    in the middle of pages. The second stream shows which kind of file this is.
    """
    if len(streams) < 2:
        return False
    xml, problem = _decompress(_read_bytes(streams[1]))
    content = xml.strip()
    whole_pages = content.startswith(_PAGE_START) and content.endswith(_PAGE_END)
    return problem is None and (whole_pages or content == b"</mediawiki>")


def read_stream(stream: Stream) -> StreamPages:
    """Decompress one stream and parse its pages; damage is reported, not raised."""
    xml, problem = _decompress(_read_bytes(stream))

    first_page = xml.find(_PAGE_START)
    before_pages = xml if first_page == -1 else xml[:first_page]
    if stream.first:
        if b"<!DOCTYPE" in before_pages or b"<!ENTITY" in before_pages:
            return StreamPages(pages=[], declares_entities=True)
        # Skip the <mediawiki> and <siteinfo> header.
        position = len(before_pages)
    else:
        position = 0
        if first_page != -1 and before_pages.strip() and problem is None:
            return StreamPages(pages=[], problem=_NOT_SPLIT_AT_PAGES)

    pages: list[Page] = []
    while (start := xml.find(_PAGE_START, position)) != -1:
        end = xml.find(_PAGE_END, start)
        if end == -1:
            return StreamPages(pages, problem or "ends early (inside a <page>)")
        end += len(_PAGE_END)
        try:
            element = defusedxml.ElementTree.fromstring(xml[start:end], forbid_dtd=True)
        except (ElementTree.ParseError, defusedxml.DefusedXmlException) as error:
            return StreamPages(pages, f"is not a well-formed MediaWiki dump ({error})")
        pages.append(page_fields(element))
        position = end

    trailer = xml[position:].strip()
    if problem is None and stream.last and trailer != b"</mediawiki>":
        problem = "ends early (no closing </mediawiki>)"
    if problem is None and not stream.last and trailer:
        problem = _NOT_SPLIT_AT_PAGES
    return StreamPages(pages, problem)


def _read_bytes(stream: Stream) -> bytes:
    with stream.path.open("rb") as handle:
        handle.seek(stream.start)
        return handle.read(stream.end - stream.start)


def _decompress(compressed: bytes) -> tuple[bytes, str | None]:
    """Decompress every bz2 stream in ``compressed``; return the output and what went wrong, if anything."""
    pieces = []
    remaining = compressed
    while remaining:
        decompressor = bz2.BZ2Decompressor()
        try:
            pieces.append(decompressor.decompress(remaining))
        except OSError as error:
            return b"".join(pieces), f"is corrupt ({error})"
        if not decompressor.eof:
            return b"".join(pieces), "ends early (bz2 stream cut short)"
        remaining = decompressor.unused_data
    return b"".join(pieces), None
