"""Japanese Wikipedia reader: a MediaWiki XML dump, or the Hugging Face ``wikimedia/wikipedia`` dataset.

The route is chosen from the source config, first match wins:

- ``path:`` a dump file (``jawiki-YYYYMMDD-pages-articles*.xml.bz2``, or plain ``.xml``), a
  Parquet file in the ``wikimedia/wikipedia`` layout (columns ``id``, ``url``, ``title``,
  ``text``), or a folder holding either kind;
- ``url:`` a dump to download into ``<corpora_dir>/raw/jawiki/``;
- otherwise the Hugging Face dataset ``dataset:`` (default ``wikimedia/wikipedia``), subset
  ``hub_config:`` (default ``20231101.ja``), streamed split by split.

Dumps are read by :mod:`pipeline.sources.jawiki_dump`: articles only, converted to prose in
``workers`` processes and output in dump order, with section headings as heading spans. The
trailing reference sections (``jawiki_dump.REFERENCE_SECTIONS``) are dropped unless
``options: {keep_reference_sections: true}``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

from pipeline.config import ConfigError, SourceConfig
from pipeline.document import TITLE_LEVEL, Document
from pipeline.download import download
from pipeline.sources import ReaderReject, SourceError, check_local_path
from pipeline.sources.jawiki_dump import SOURCE, page_url, read_dump

logger = logging.getLogger(__name__)

DEFAULT_DATASET = "wikimedia/wikipedia"
DEFAULT_HUB_CONFIG = "20231101.ja"
PARQUET_COLUMNS = ("id", "url", "title", "text")


@dataclass(frozen=True, kw_only=True)
class JawikiOptions:
    """Settings under ``sources.jawiki.options``.

    Args:
        keep_reference_sections: Keep the trailing sections in ``jawiki_dump.REFERENCE_SECTIONS``
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
            yield from read_dump(dump, keep_reference_sections=options.keep_reference_sections, workers=workers)
        return

    if config.url is not None:
        name = PurePosixPath(urlparse(config.url).path).name or "jawiki-pages-articles.xml.bz2"
        dump = download(config.url, raw_dir / SOURCE / name, source=SOURCE)
        yield from read_dump(dump, keep_reference_sections=options.keep_reference_sections, workers=workers)
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
    plain_names = {file.name for file in dumps if file.suffix == ".xml"}
    doubled = [file for file in dumps if file.suffix == ".bz2" and file.name.removesuffix(".bz2") in plain_names]
    if doubled:
        raise SourceError(
            f"source {SOURCE}: {doubled[0]} is next to its decompressed copy, which would read the same articles "
            f"twice; remove one of them or point sources.{SOURCE}.path at a single file"
        )
    return parquet_files, dumps


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
