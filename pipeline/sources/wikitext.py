"""WikiText reader: raw ``wiki.*.raw`` files or the Hugging Face Parquet layout.

WikiText stores one paragraph per line. A line `` = Title = `` starts an article and
`` = = Section = = `` (one more ``=`` per level) is a section heading. The corpus was
tokenized with spaces around punctuation and marks in-word hyphens and number separators as
`` @-@ ``, `` @,@ `` and `` @.@ ``, which this reader turns back into ``-``, ``,`` and ``.``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from pipeline.config import SourceConfig
from pipeline.document import Document
from pipeline.sources import ReaderReject, SourceError, check_local_path

logger = logging.getLogger(__name__)

SOURCE = "wikitext"
DEFAULT_DATASET = "Salesforce/wikitext"
DEFAULT_HUB_CONFIG = "wikitext-103-raw-v1"

_MARKERS = re.compile(r" @([-,.])@ ")


def read(config: SourceConfig, *, raw_dir: Path, workers: int = 1) -> Iterator[Document | ReaderReject]:
    """Yield one document per article, file by file in sorted name order."""
    if config.path is None:
        yield from _read_hub(config, raw_dir)
        return

    path = check_local_path(SOURCE, config)
    files = [path] if path.is_file() else sorted([*path.rglob("wiki.*.raw"), *path.rglob("*.parquet")])
    if not files:
        raise SourceError(
            f"source {SOURCE}: no wiki.*.raw or *.parquet files under {path}; fix sources.{SOURCE}.path"
        )
    for file in files:
        part = _part_name(file)
        lines = _parquet_lines(file) if file.suffix == ".parquet" else _raw_lines(file)
        yield from parse_articles(lines, part=part)


def _part_name(file: Path) -> str:
    """Return ``test`` for ``wiki.test.raw`` and ``test-00000-of-00001.parquet``."""
    if file.suffix == ".raw":
        return file.name.removeprefix("wiki.").removesuffix(".raw")
    return file.stem


def _raw_lines(file: Path) -> Iterator[str]:
    try:
        # newline=None accepts LF, CRLF and CR line endings.
        with file.open(encoding="utf-8", newline=None) as handle:
            yield from handle
    except UnicodeDecodeError as error:
        raise SourceError(f"source {SOURCE}: {file} is not valid UTF-8 ({error}); re-download the file") from None


def _parquet_lines(file: Path) -> Iterator[str]:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(file)
    if "text" not in parquet.schema_arrow.names:
        raise SourceError(f"source {SOURCE}: {file} has no 'text' column; expected the Hugging Face WikiText layout")
    for batch in parquet.iter_batches(columns=["text"], batch_size=8192):
        for line in batch.column(0).to_pylist():
            yield from (line or "").splitlines() or [""]


def _read_hub(config: SourceConfig, raw_dir: Path) -> Iterator[Document | ReaderReject]:
    import datasets

    name = config.dataset or DEFAULT_DATASET
    hub_config = config.hub_config or DEFAULT_HUB_CONFIG
    for split in config.splits:
        logger.info("streaming %s/%s split %s from the Hugging Face hub", name, hub_config, split)
        try:
            rows = datasets.load_dataset(
                name, hub_config, split=split, streaming=True, cache_dir=str(raw_dir / SOURCE)
            )
            lines = (line for row in rows for line in (row["text"].splitlines() or [""]))
            yield from parse_articles(lines, part=split)
        except (ConnectionError, OSError, ValueError) as error:
            raise SourceError(
                f"source {SOURCE}: could not load {name} ({hub_config}, split {split}) from the "
                f"Hugging Face hub ({error}); set sources.{SOURCE}.path to a local copy"
            ) from None


def heading_level(line: str) -> int:
    """Return the heading level of a WikiText line: 1 for `` = T = ``, 2 for `` = = S = = ``, else 0."""
    parts = line.strip().split(" ")
    opening = 0
    while opening < len(parts) and parts[opening] == "=":
        opening += 1
    closing = 0
    while closing < len(parts) and parts[-1 - closing] == "=":
        closing += 1
    if opening == 0 or opening != closing or opening + closing >= len(parts):
        return 0
    return opening


def undo_markers(line: str) -> str:
    """Replace `` @-@ ``, `` @,@ `` and `` @.@ `` with the character they stand for."""
    return _MARKERS.sub(r"\1", line)


def parse_articles(lines: Iterable[str], *, part: str) -> Iterator[Document]:
    """Group WikiText lines into articles, one document per `` = Title = `` line.

    Lines before the first title belong to no article and are skipped with a warning.
    """
    title: str | None = None
    blocks: list[tuple[str, int]] = []
    index = 0
    skipped = 0

    for raw_line in lines:
        line = raw_line.rstrip("\r\n")
        level = heading_level(line)
        if level == 1:
            if title is not None:
                yield _article(title, blocks, part, index)
                index += 1
            title = _heading_text(line)
            blocks = [(title, 1)]
            continue

        if title is None:
            skipped += bool(line.strip())
            continue

        if level:
            blocks.append((_heading_text(line), level))
        else:
            blocks.append((undo_markers(line.strip()), 0))

    if title is not None:
        yield _article(title, blocks, part, index)
    if skipped:
        logger.warning("wikitext %s: skipped %d lines before the first article title", part, skipped)


def _heading_text(line: str) -> str:
    return undo_markers(line.strip().strip("=").strip())


def _article(title: str, blocks: list[tuple[str, int]], part: str, index: int) -> Document:
    return Document.from_blocks(
        id=f"{SOURCE}/{part}-{index:06d}",
        source=SOURCE,
        title=title,
        blocks=blocks,
        metadata={"part": part, "article_index": str(index)},
    )
