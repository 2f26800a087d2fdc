"""Corpus stage: read every configured source, clean it, and write Parquet documents.

For each source ``S`` this writes, replacing what an earlier run left:

- ``<corpora_dir>/clean/S/documents-NNNNN.parquet``: kept documents (schema in :mod:`pipeline.parquet`);
- ``<corpora_dir>/clean/S/rejects/rejects-NNNNN.parquet``: rejected documents with filter and reason;
- ``<corpora_dir>/clean/S/manifest.json``: counts per filter.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow.parquet as pq
from tqdm import tqdm

from pipeline.config import Config
from pipeline.document import Document
from pipeline.filters import build_filters
from pipeline.parquet import documents_to_table
from pipeline.sources import ReaderReject, get_reader

logger = logging.getLogger(__name__)

DOCUMENTS_PER_FILE = 100_000
ROW_GROUP_SIZE = 1000


class PartitionedWriter:
    """Write documents to numbered Parquet files, each renamed into place when complete.

    Args:
        folder: Output folder; created if missing.
        prefix: File name prefix, such as ``documents`` or ``rejects``.
        rows_per_file: Documents per file before a new file starts. Default: 100000.
    """

    def __init__(self, *, folder: Path, prefix: str, rows_per_file: int = DOCUMENTS_PER_FILE) -> None:
        self.folder = folder
        self.prefix = prefix
        self.rows_per_file = rows_per_file
        self.files: list[Path] = []
        self._pending: list[Document] = []
        self._extra: dict[str, list[str]] = {}
        self._writer: pq.ParquetWriter | None = None
        self._rows_in_file = 0

    def write(self, document: Document, **extra: str) -> None:
        self._pending.append(document)
        for key, value in extra.items():
            self._extra.setdefault(key, []).append(value)
        if len(self._pending) >= ROW_GROUP_SIZE:
            self._flush()

    def close(self) -> None:
        self._flush()
        self._finish_file()

    def _flush(self) -> None:
        if not self._pending:
            return
        table = documents_to_table(self._pending, self._extra or None)
        self._pending, self._extra = [], {}
        if self._writer is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self._path(len(self.files))
            self._writer = pq.ParquetWriter(_temporary(path), table.schema, compression="zstd")
        self._writer.write_table(table, row_group_size=ROW_GROUP_SIZE)
        self._rows_in_file += table.num_rows
        if self._rows_in_file >= self.rows_per_file:
            self._finish_file()

    def _finish_file(self) -> None:
        if self._writer is None:
            return
        self._writer.close()
        path = self._path(len(self.files))
        os.replace(_temporary(path), path)
        self.files.append(path)
        self._writer = None
        self._rows_in_file = 0

    def _path(self, index: int) -> Path:
        return self.folder / f"{self.prefix}-{index:05d}.parquet"


def _temporary(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")


def run(config: Config) -> dict[str, dict[str, object]]:
    """Run the corpus stage for every configured source and return the manifests by source."""
    if not config.sources:
        raise ValueError("the config lists no sources; add at least one entry under 'sources:'")
    build_filters(config.clean.filters)  # Fail on a bad filter entry before reading anything.

    manifests = {}
    for name, source_config in config.sources.items():
        manifests[name] = clean_source(name, config)
        kept = manifests[name]["documents_out"]
        rejected = manifests[name]["documents_rejected"]
        logger.info("%s: kept %d documents, rejected %d", name, kept, rejected)
    return manifests


def clean_source(name: str, config: Config) -> dict[str, object]:
    """Read, filter and write one source; return its manifest."""
    started = time.perf_counter()
    output_dir = config.clean_dir / name
    if output_dir.exists():
        shutil.rmtree(output_dir)

    documents_writer = PartitionedWriter(folder=output_dir, prefix="documents")
    rejects_writer = PartitionedWriter(folder=output_dir / "rejects", prefix="rejects")

    def keep_reject(document: Document, filter_name: str, reason: str) -> None:
        rejects_writer.write(document, filter=filter_name, reason=reason)

    read_counts = {"documents_in": 0, "documents_rejected": 0}

    def read_records(records: Iterable[Document | ReaderReject]) -> Iterator[Document]:
        for record in records:
            read_counts["documents_in"] += 1
            if isinstance(record, ReaderReject):
                read_counts["documents_rejected"] += 1
                keep_reject(record.document, "read", record.reason)
            else:
                yield record

    reader = get_reader(name)
    workers = config.workers or os.cpu_count() or 1
    records = reader(config.sources[name], raw_dir=config.raw_dir, workers=workers)
    documents: Iterable[Document] = read_records(records)
    filters = build_filters(config.clean.filters)
    for document_filter in filters:
        documents = document_filter.run(documents, keep_reject)

    kept = 0
    for document in tqdm(documents, desc=f"corpus {name}", unit=" docs"):
        documents_writer.write(document)
        kept += 1
    documents_writer.close()
    rejects_writer.close()

    manifest: dict[str, object] = {
        "source": name,
        "documents_in": read_counts["documents_in"],
        "documents_out": kept,
        "documents_rejected": read_counts["documents_in"] - kept,
        "read_rejected": read_counts["documents_rejected"],
        "filters": {f.name: f.stats.as_dict() for f in filters},
        "files": [path.name for path in documents_writer.files],
        "reject_files": [path.name for path in rejects_writer.files],
        "seconds": round(time.perf_counter() - started, 3),
    }
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifest
