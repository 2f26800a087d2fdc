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
from typing import Any

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
    for file in files:
        if not file.is_file():
            # Opening a FIFO would wait forever for a writer.
            raise SourceError(f"source {SOURCE}: {file} is not a regular file; remove it from {path}")
    if not files:
        raise SourceError(f"source {SOURCE}: no wiki.*.raw or *.parquet files under {path}; fix sources.{SOURCE}.path")
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
    with file.open("rb") as handle:
        start = handle.read(2)
    if start in (b"\xff\xfe", b"\xfe\xff"):
        raise SourceError(
            f"source {SOURCE}: {file} is UTF-16 (it starts with a UTF-16 byte order mark); "
            f"convert it to UTF-8, for example with `iconv -f UTF-16 -t UTF-8`"
        )
    try:
        # newline=None accepts LF, CRLF and CR line endings; utf-8-sig drops a UTF-8 byte order mark.
        with file.open(encoding="utf-8-sig", newline=None) as handle:
            yield from handle
    except UnicodeDecodeError as error:
        line = _line_of_invalid_utf8(file)
        raise SourceError(
            f"source {SOURCE}: {file} is not valid UTF-8 at line {line} ({error.reason}); re-download the file"
        ) from None


def _line_of_invalid_utf8(file: Path) -> int:
    """Return the number of the first line that is not valid UTF-8 (0 when every line is valid)."""
    with file.open("rb") as handle:
        for number, raw_line in enumerate(handle, start=1):
            try:
                raw_line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 0


def _parquet_lines(file: Path) -> Iterator[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(file)
    if "text" not in parquet.schema_arrow.names:
        raise SourceError(f"source {SOURCE}: {file} has no 'text' column; expected the Hugging Face WikiText layout")
    text_type = parquet.schema_arrow.field("text").type
    if not (pa.types.is_string(text_type) or pa.types.is_large_string(text_type)):
        raise SourceError(
            f"source {SOURCE}: {file} has a 'text' column of type {text_type}, expected string; "
            "expected the Hugging Face WikiText layout"
        )
    row = 0
    for batch in parquet.iter_batches(columns=["text"], batch_size=8192):
        column = batch.column(0)
        try:
            # Arrow does not validate UTF-8 when reading a file, so a corrupt string shows up here.
            column.validate(full=True)
        except pa.ArrowInvalid:
            raise SourceError(
                f"source {SOURCE}: {file} has invalid UTF-8 in column 'text' at row {row + _first_invalid(column)} "
                "(such as an encoded lone surrogate); re-download the file"
            ) from None
        for line in column.to_pylist():
            yield from (line or "").splitlines() or [""]
        row += len(column)


def _first_invalid(column: Any) -> int:
    """Return the index of the first value of a string array that is not valid UTF-8."""
    import pyarrow as pa

    binary = pa.large_binary() if pa.types.is_large_string(column.type) else pa.binary()
    for index, value in enumerate(column.view(binary).to_pylist()):
        try:
            (value or b"").decode("utf-8")
        except UnicodeDecodeError:
            return index
    return 0


def _read_hub(config: SourceConfig, raw_dir: Path) -> Iterator[Document | ReaderReject]:
    """Download the Parquet files of each split into the raw cache and read them in order.

    The files of one split are read as one stream of lines, because an article can continue
    from one file into the next.
    """
    from pipeline.hub import download_hub_files

    name = config.dataset or DEFAULT_DATASET
    hub_config = config.hub_config or DEFAULT_HUB_CONFIG
    for split in config.splits:
        files = download_hub_files(
            name, patterns=[f"{hub_config}/{split}-*.parquet"], cache_dir=raw_dir / SOURCE, source=SOURCE
        )
        logger.info("reading %s/%s split %s from %d cached files", name, hub_config, split, len(files))
        lines = (line for file in files for line in _parquet_lines(file))
        yield from parse_articles(lines, part=split)


def heading_level(line: str) -> int:
    """Return the heading level of a WikiText line: 1 for `` = T = ``, 2 for `` = = S = = ``, else 0."""
    stripped = line.strip()
    # A cheap test first: splitting a long paragraph into words would cost time and memory.
    if not (stripped.startswith("= ") and stripped.endswith(" =")):
        return 0
    parts = stripped.split(" ")
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

        # Every non-empty WikiText line is a paragraph already, so blank lines carry nothing.
        if level:
            blocks.append((_heading_text(line), level))
        elif line.strip():
            blocks.append((undo_markers(line.strip()), 0))

    if title is not None:
        yield _article(title, blocks, part, index)
    if skipped:
        logger.warning("wikitext %s: skipped %d lines before the first article title", part, skipped)


def _heading_text(line: str) -> str:
    parts = line.strip().split(" ")
    level = heading_level(line)
    return undo_markers(" ".join(parts[level:-level]))


def _article(title: str, blocks: list[tuple[str, int]], part: str, index: int) -> Document:
    return Document.from_blocks(
        id=f"{SOURCE}/{part}-{index:06d}",
        source=SOURCE,
        title=title,
        blocks=blocks,
        metadata={"part": part, "article_index": str(index)},
    )
