"""Japanese Wikipedia reader: a MediaWiki XML dump, or the Hugging Face ``wikimedia/wikipedia`` dataset.

The route is chosen from the source config, first match wins:

- ``path:`` a dump file (``jawiki-YYYYMMDD-pages-articles*.xml.bz2``, or plain ``.xml``), a
  Parquet file in the ``wikimedia/wikipedia`` layout (columns ``id``, ``url``, ``title``,
  ``text``), or a folder holding either kind;
- ``url:`` a dump to download into ``<corpora_dir>/raw/jawiki/``;
- otherwise the Hugging Face dataset ``dataset:`` (default ``wikimedia/wikipedia``), subset
  ``hub_config:`` (default ``20231101.ja``), streamed split by split.

From a dump, only articles are kept (namespace 0, not redirects), and their wikitext is
converted to prose by :mod:`pipeline.sources.wikimarkup` in ``workers`` processes, with the
output in dump order. Section headings become heading spans. The trailing reference sections
(``REFERENCE_SECTIONS``) are dropped unless ``options: {keep_reference_sections: true}``.
"""

from __future__ import annotations

import functools
import logging
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

from pipeline.config import ConfigError, SourceConfig
from pipeline.document import TITLE_LEVEL, Document
from pipeline.download import download
from pipeline.sources import ReaderReject, SourceError, check_local_path
from pipeline.sources.mediawiki_xml import Page, iter_pages
from pipeline.sources.ordered_map import ordered_map
from pipeline.sources.wikimarkup import Block, wikitext_to_blocks

logger = logging.getLogger(__name__)

SOURCE = "jawiki"
DEFAULT_DATASET = "wikimedia/wikipedia"
DEFAULT_HUB_CONFIG = "20231101.ja"
PAGE_URL = "https://ja.wikipedia.org/wiki/"
PARQUET_COLUMNS = ("id", "url", "title", "text")

#: Section titles that end a jawiki article with notes, sources and links rather than prose.
#: A heading such as ``出典・脚注`` matches when each of its parts does.
REFERENCE_SECTIONS = frozenset({"脚注", "注釈", "出典", "参考文献", "関連文献", "参考資料", "関連項目", "外部リンク"})
_HEADING_PARTS = re.compile(r"[・、/／\s]+")


@dataclass(frozen=True, kw_only=True)
class JawikiOptions:
    """Settings under ``sources.jawiki.options``.

    Args:
        keep_reference_sections: Keep the trailing sections listed in ``REFERENCE_SECTIONS``
            (footnotes, sources, see-also and external links). Applies to dumps only.
            Default: False.
    """

    keep_reference_sections: bool = False


def parse_options(options: dict[str, Any]) -> JawikiOptions:
    """Validate ``sources.jawiki.options``.

    Raises:
        ConfigError: An unknown key, or a value of the wrong type.
    """
    supported = ", ".join(JawikiOptions.__dataclass_fields__)
    for key, value in options.items():
        if key not in JawikiOptions.__dataclass_fields__:
            raise ConfigError(f"sources.{SOURCE}.options: unknown key {key!r}; supported keys: {supported}")
        if not isinstance(value, bool):
            raise ConfigError(f"sources.{SOURCE}.options.{key} must be true or false, got {value!r}")
    return JawikiOptions(**options)


def read(config: SourceConfig, *, raw_dir: Path, workers: int = 1) -> Iterator[Document | ReaderReject]:
    """Yield one document per article, in dump (or dataset) order.

    Args:
        config: The ``sources.jawiki`` section.
        raw_dir: Folder for downloads (``<corpora_dir>/raw``).
        workers: Processes converting wikitext; 1 converts in this process. Default: 1.
    """
    options = parse_options(config.options)
    if config.path is not None:
        parquet_files, dumps = _local_files(check_local_path(SOURCE, config))
        if parquet_files:
            yield from _read_parquet(parquet_files)
        for dump in dumps:
            yield from read_dump(dump, options=options, workers=workers)
        return

    if config.url is not None:
        name = PurePosixPath(urlparse(config.url).path).name or "jawiki-pages-articles.xml.bz2"
        dump = download(config.url, raw_dir / SOURCE / name, source=SOURCE)
        yield from read_dump(dump, options=options, workers=workers)
        return

    yield from _read_hub(config, raw_dir)


def _local_files(path: Path) -> tuple[list[Path], list[Path]]:
    """Split ``path`` (a file or a folder) into Parquet files and dump files, each sorted by name."""
    files = [path] if path.is_file() else sorted(file for file in path.rglob("*") if file.is_file())
    parquet_files = [file for file in files if file.suffix == ".parquet"]
    dumps = [file for file in files if file.name.endswith((".xml", ".xml.bz2"))]
    if path.is_file() and not (parquet_files or dumps):
        raise SourceError(
            f"source {SOURCE}: {path} is neither a .xml or .xml.bz2 dump nor a .parquet file; fix sources.{SOURCE}.path"
        )
    if not (parquet_files or dumps):
        raise SourceError(
            f"source {SOURCE}: no *.xml, *.xml.bz2 or *.parquet files under {path}; fix sources.{SOURCE}.path"
        )
    if parquet_files and dumps:
        raise SourceError(
            f"source {SOURCE}: {path} contains both Parquet files and XML dumps, which would read the same articles "
            f"twice; point sources.{SOURCE}.path at one of them"
        )
    return parquet_files, dumps


def read_dump(path: Path, *, options: JawikiOptions, workers: int) -> Iterator[Document | ReaderReject]:
    """Yield the articles of one dump file as documents, in dump order.

    Raises:
        SourceError: The dump is cut short or malformed; every article before the damage was
            yielded first.
    """
    counts: Counter[str] = Counter()

    def articles() -> Iterator[Page]:
        for page in iter_pages(path, source=SOURCE):
            if page.namespace != 0:
                counts["pages in other namespaces"] += 1
            elif page.redirect:
                counts["redirects"] += 1
            else:
                counts["articles"] += 1
                yield page

    convert = functools.partial(page_to_document, keep_reference_sections=options.keep_reference_sections)
    logger.info("%s: converting %s with %d worker(s)", SOURCE, path, workers)
    yield from ordered_map(convert, articles(), workers=workers, weight=_page_size)
    logger.info("%s: read %s: %s", SOURCE, path, ", ".join(f"{count} {name}" for name, count in counts.items()))


def _page_size(page: Page) -> int:
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


def row_to_document(row: dict[str, Any]) -> Document:
    """Convert one row of the ``wikimedia/wikipedia`` layout to a document.

    NOTE: the dataset's text is already plain, with section titles as ordinary lines, so these
    documents carry the title as their only heading and keep every section.
    """
    page_id = str(row["id"])
    title = str(row["title"] or "")
    return Document.from_blocks(
        id=f"{SOURCE}/{page_id}",
        source=SOURCE,
        title=title,
        blocks=[(title, TITLE_LEVEL), (str(row["text"] or ""), 0)],
        metadata={"page_id": page_id, "url": str(row["url"] or page_url(title))},
    )


def _read_parquet(files: list[Path]) -> Iterator[Document]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    for file in files:
        try:
            parquet = pq.ParquetFile(file)
            missing = [column for column in PARQUET_COLUMNS if column not in parquet.schema_arrow.names]
            if missing:
                raise SourceError(
                    f"source {SOURCE}: {file} lacks the columns {', '.join(missing)}; expected the "
                    f"{DEFAULT_DATASET} layout with columns {', '.join(PARQUET_COLUMNS)}"
                )
            for batch in parquet.iter_batches(columns=list(PARQUET_COLUMNS), batch_size=1024):
                for row in batch.to_pylist():
                    yield row_to_document(row)
        except (pa.ArrowException, OSError) as error:
            raise SourceError(
                f"source {SOURCE}: {file} is not a readable Parquet file ({error}); fix sources.{SOURCE}.path"
            ) from None


def _read_hub(config: SourceConfig, raw_dir: Path) -> Iterator[Document]:
    import datasets

    name = config.dataset or DEFAULT_DATASET
    hub_config = config.hub_config or DEFAULT_HUB_CONFIG
    for split in config.splits:
        logger.info("streaming %s/%s split %s from the Hugging Face hub", name, hub_config, split)
        try:
            rows = datasets.load_dataset(name, hub_config, split=split, streaming=True, cache_dir=str(raw_dir / SOURCE))
            for row in rows:
                yield row_to_document(row)
        except (ConnectionError, OSError, ValueError) as error:
            raise SourceError(
                f"source {SOURCE}: could not load {name} ({hub_config}, split {split}) from the Hugging Face hub "
                f"({error}); set sources.{SOURCE}.path to a local dump or Parquet copy"
            ) from None
