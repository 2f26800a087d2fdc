"""Japanese Wikipedia articles from a MediaWiki dump: page selection, conversion and sections.

Only articles are kept: namespace 0 and not a redirect. Their wikitext is converted to prose
by :mod:`pipeline.sources.wikimarkup` in ``workers`` processes, and the documents come out in
dump order whatever the number of workers. With two or more workers, a multistream dump
(whole pages in each bz2 stream) is also decompressed in the workers, one stream per task.
Any other dump is decompressed and parsed in the calling process while the workers convert.
"""

from __future__ import annotations

import functools
import logging
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from pipeline.document import TITLE_LEVEL, Document
from pipeline.sources import ReaderReject
from pipeline.sources.mediawiki_streams import Stream, find_streams, read_stream, split_at_pages
from pipeline.sources.mediawiki_xml import Page, damage_error, entities_error, iter_pages
from pipeline.sources.ordered_map import ordered_map
from pipeline.sources.wikimarkup import Block, wikitext_to_blocks

logger = logging.getLogger(__name__)

SOURCE = "jawiki"
PAGE_URL = "https://ja.wikipedia.org/wiki/"

#: Section titles that end a jawiki article with notes, sources and links rather than prose.
#: A heading such as ``出典・脚注`` matches when each of its parts does.
REFERENCE_SECTIONS = frozenset({"脚注", "注釈", "出典", "参考文献", "関連文献", "参考資料", "関連項目", "外部リンク"})
_HEADING_PARTS = re.compile(r"[・、/／\s]+")


def read_dump(path: Path, *, keep_reference_sections: bool, workers: int) -> Iterator[Document | ReaderReject]:
    """Yield the articles of one dump file as documents, in dump order.

    Args:
        path: A ``.xml`` or ``.xml.bz2`` dump, single-stream or multistream.
        keep_reference_sections: Keep the trailing ``REFERENCE_SECTIONS`` of each article.
        workers: Processes converting wikitext; 1 converts in this process.

    Raises:
        SourceError: The dump is cut short, malformed or declares entities; every article
            before the damage was yielded first.
    """
    counts: Counter[str] = Counter()
    streams = find_streams(path) if workers > 1 and path.name.endswith(".bz2") else []
    if not split_at_pages(streams):
        streams = []
    logger.info("%s: converting %s with %d worker(s), %d bz2 stream(s)", SOURCE, path, workers, len(streams) or 1)
    if streams:
        yield from _read_streams(
            streams, keep_reference_sections=keep_reference_sections, workers=workers, counts=counts
        )
    else:
        yield from _read_single_stream(
            path, keep_reference_sections=keep_reference_sections, workers=workers, counts=counts
        )
    logger.info("%s: read %s: %s", SOURCE, path, ", ".join(f"{count} {name}" for name, count in counts.items()))


def _is_article(page: Page, counts: Counter[str]) -> bool:
    """Return True for an article page; count every page by kind."""
    if page.namespace != 0:
        counts["pages in other namespaces"] += 1
        return False
    if page.redirect:
        counts["redirects"] += 1
        return False
    counts["articles"] += 1
    return True


def _read_single_stream(
    path: Path, *, keep_reference_sections: bool, workers: int, counts: Counter[str]
) -> Iterator[Document | ReaderReject]:
    articles = (page for page in iter_pages(path, source=SOURCE) if _is_article(page, counts))
    convert = functools.partial(page_to_document, keep_reference_sections=keep_reference_sections)
    yield from ordered_map(convert, articles, workers=workers, weight=page_size)


class StreamRecords(NamedTuple):
    """The documents of one bz2 stream, converted in a worker process.

    Args:
        records: The stream's articles as documents or rejects, in dump order.
        counts: Pages of the stream by kind (articles, redirects, other namespaces).
        last_page: The last page read completely, or ``None``.
        problem: What is wrong with the stream, or ``None``; see ``mediawiki_streams.StreamPages``.
        declares_entities: True when the dump declares a DTD or entities.
    """

    records: list[Document | ReaderReject]
    counts: Counter[str]
    last_page: Page | None
    problem: str | None
    declares_entities: bool


def convert_stream(stream: Stream, *, keep_reference_sections: bool) -> StreamRecords:
    """Decompress, parse and convert the articles of one bz2 stream."""
    result = read_stream(stream)
    counts: Counter[str] = Counter()
    records = [
        page_to_document(page, keep_reference_sections=keep_reference_sections)
        for page in result.pages
        if _is_article(page, counts)
    ]
    last_page = result.pages[-1] if result.pages else None
    # The text of the last page is not needed by the caller, only its id and title.
    if last_page is not None:
        last_page = last_page._replace(text="")
    return StreamRecords(records, counts, last_page, result.problem, result.declares_entities)


def _read_streams(
    streams: list[Stream], *, keep_reference_sections: bool, workers: int, counts: Counter[str]
) -> Iterator[Document | ReaderReject]:
    path = streams[0].path
    convert = functools.partial(convert_stream, keep_reference_sections=keep_reference_sections)
    last_page: Page | None = None
    for result in ordered_map(convert, streams, workers=workers, batch_items=1):
        if result.declares_entities:
            raise entities_error(path, source=SOURCE, detail="found in the XML header")
        counts.update(result.counts)
        yield from result.records
        last_page = result.last_page or last_page
        if result.problem is not None:
            raise damage_error(path, source=SOURCE, problem=result.problem, last_page=last_page)


def page_size(page: Page) -> int:
    """Return the length of a page's wikitext in characters, the weight of a conversion task."""
    return len(page.text)


def page_url(title: str) -> str:
    """Return the address of an article: ``https://ja.wikipedia.org/wiki/`` and the title with ``_`` for spaces."""
    return PAGE_URL + title.replace(" ", "_")


def page_to_document(page: Page, *, keep_reference_sections: bool) -> Document | ReaderReject:
    """Convert one article page to a document with its title, section headings and metadata."""
    document_id = f"{SOURCE}/{page.page_id}"
    metadata = {
        "page_id": page.page_id,
        "revision_id": page.revision_id,
        "timestamp": page.timestamp,
        "url": page_url(page.title),
    }
    try:
        blocks = wikitext_to_blocks(page.text)
    except Exception as error:
        # A converter bug on one page must not end a run of hours, and the page is kept with its wikitext.
        reason = f"page {page.page_id} ({page.title!r}) could not be converted: {error!r}"
        logger.warning("%s: %s", SOURCE, reason)
        raw = Document(id=document_id, source=SOURCE, title=page.title, text=page.text, metadata=metadata)
        return ReaderReject(raw, reason)

    if not keep_reference_sections:
        blocks = drop_reference_sections(blocks)
    blocks = drop_empty_sections(blocks)
    return Document.from_blocks(
        id=document_id,
        source=SOURCE,
        title=page.title,
        blocks=[(page.title, TITLE_LEVEL), *blocks],
        metadata=metadata,
    )


def is_reference_heading(heading: str) -> bool:
    """Return True for ``脚注``, ``外部リンク`` and combined headings such as ``出典・脚注``."""
    parts = [part for part in _HEADING_PARTS.split(heading) if part]
    return bool(parts) and all(part in REFERENCE_SECTIONS for part in parts)


def drop_reference_sections(blocks: list[Block]) -> list[Block]:
    """Remove the run of top-level sections at the end of an article that are all reference sections."""
    end = len(blocks)
    for index in range(len(blocks) - 1, -1, -1):
        line, level = blocks[index]
        if level == 2:
            if not is_reference_heading(line):
                break
            end = index
    return blocks[:end]


def drop_empty_sections(blocks: list[Block]) -> list[Block]:
    """Remove section headings with no body text under them, in their own section or any subsection.

    Sections made only of tables, images or templates are left empty by the conversion.
    """
    kept: list[Block] = []
    # has_text[level]: body text seen after this point and before the next heading of that level or higher.
    has_text = [False] * 8
    for line, level in reversed(blocks):
        if level == 0:
            kept.append((line, level))
            if line.strip():
                has_text = [True] * 8
            continue

        if has_text[level]:
            kept.append((line, level))
        for deeper in range(level, len(has_text)):
            has_text[deeper] = False
    kept.reverse()
    return kept
