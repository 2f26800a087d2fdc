"""Corpus stage: read every configured source, clean it, and write Parquet documents.

Sources are processed one after another in config order, each document passing through the
same list of steps (the cleaning filters, then any final per-document step). The steps are
built once per run, so the deduplication index spans all sources and the first occurrence
in that order is kept. For each source ``S`` this writes, replacing what an earlier run left:

- ``<corpora_dir>/clean/S/documents-NNNNN.parquet``: kept documents (schema in :mod:`pipeline.parquet`);
- ``<corpora_dir>/clean/S/rejects/rejects-NNNNN.parquet``: rejected documents with the step
  name (``filter``) and reason, as they were when that step rejected them;
- ``<corpora_dir>/clean/S/trail/trail-00000.parquet``: which step changed or rejected which
  document (schema in :mod:`pipeline.trail`), read back by ``--explain``;
- ``<corpora_dir>/clean/S/manifest.json``: inputs, config, versions and counts (layout in
  :mod:`pipeline.manifest`).

With the same inputs and config a rerun writes byte-identical Parquet files.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
from tqdm import tqdm

from pipeline.config import Config
from pipeline.document import Document
from pipeline.download import sha256_file
from pipeline.filters import Filter, FilterStats, Reject, build_filters
from pipeline.manifest import config_as_dict, describe_files, input_files, package_versions, write_manifest
from pipeline.parquet import documents_to_table
from pipeline.segment import segment_documents
from pipeline.sources import ReaderReject, SourceError, get_reader
from pipeline.trail import TRAIL_FOLDER, TrailWriter

logger = logging.getLogger(__name__)

DOCUMENTS_PER_FILE = 100_000
ROW_GROUP_SIZE = 1000
"""Documents buffered, at most, before a row group is written."""
ROW_GROUP_CHARACTERS = 4_000_000
"""Text characters buffered before a row group is written, which bounds memory for long documents."""
READ_STEP = "read"


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
        self.rows: list[int] = []
        self._pending: list[Document] = []
        self._pending_characters = 0
        self._extra: dict[str, list[object]] = {}
        self._writer: pq.ParquetWriter | None = None
        self._rows_in_file = 0

    def write(self, document: Document, **extra: str) -> None:
        self._pending.append(document)
        self._pending_characters += len(document.text)
        for key, value in extra.items():
            self._extra.setdefault(key, []).append(value)
        if len(self._pending) >= ROW_GROUP_SIZE or self._pending_characters >= ROW_GROUP_CHARACTERS:
            self._flush()

    def close(self) -> None:
        self._flush()
        self._finish_file()

    def _flush(self) -> None:
        if not self._pending:
            return
        table = documents_to_table(self._pending, self._extra or None)
        self._pending, self._extra, self._pending_characters = [], {}, 0
        if self._writer is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self._path(len(self.files))
            self._writer = pq.ParquetWriter(_temporary(path), table.schema, compression="zstd")
        self._writer.write_table(table, row_group_size=len(table))
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
        self.rows.append(self._rows_in_file)
        self._writer = None
        self._rows_in_file = 0

    def _path(self, index: int) -> Path:
        return self.folder / f"{self.prefix}-{index:05d}.parquet"


def _temporary(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")


def build_steps(config: Config) -> list[Filter]:
    """Build the per-document steps of a run: the cleaning filters of ``clean.filters``, in order.

    A per-document step that must see the final cleaned text belongs at the end of this
    list. Every step has the :class:`~pipeline.filters.Filter` interface, so it is counted
    in the manifest and recorded in the trail like a filter. A step that works on batches of
    documents, such as segmentation in worker processes, wraps the stream of kept documents
    in :func:`clean_source` instead.
    """
    return build_filters(config.clean.filters)


def run(config: Config) -> dict[str, dict[str, object]]:
    """Run the corpus stage for every configured source, in config order, and return the manifests by source."""
    if not config.sources:
        raise ValueError("the config lists no sources; add at least one entry under 'sources:'")
    steps = build_steps(config)

    results = {}
    for name in config.sources:
        results[name] = clean_source(name, config, steps)
        counts = results[name]["counts"]
        assert isinstance(counts, dict)
        logger.info(
            "source %s: kept %d of %d documents, rejected %d",
            name,
            counts["documents_out"],
            counts["documents_in"],
            counts["documents_rejected"],
        )
    return results


def clean_source(name: str, config: Config, steps: list[Filter] | None = None) -> dict[str, object]:
    """Read, filter and write one source; write and return its manifest.

    Args:
        name: Source name, a key of ``config.sources``.
        config: The run configuration.
        steps: Steps shared with the other sources of the run. Default: ``None``, which
            builds them from ``config`` for this source alone.

    Raises:
        SourceError: The source could not be read to the end. The documents read before
            the error are written and the manifest records ``complete: false`` first.
    """
    started = time.perf_counter()
    steps = build_steps(config) if steps is None else steps
    for step in steps:
        step.reset_stats()
    output_dir = config.clean_dir / name
    if output_dir.exists():
        shutil.rmtree(output_dir)

    documents_writer = PartitionedWriter(folder=output_dir, prefix="documents")
    rejects_writer = PartitionedWriter(folder=output_dir / "rejects", prefix="rejects")
    trail = TrailWriter(folder=output_dir / TRAIL_FOLDER)
    read_stats = FilterStats()
    documents_out = characters_out = 0
    seconds = {"read": 0.0, "write": 0.0}
    error: SourceError | None = None

    workers = config.workers or os.cpu_count() or 1
    records = _timed(get_reader(name)(config.sources[name], raw_dir=config.raw_dir, workers=workers), seconds)
    documents = _clean(records, steps, read_stats, rejects_writer, trail)
    # Segmentation works on batches in worker processes, so it wraps the stream of kept
    # documents here and receives every kept document once, in order.
    if config.segment.mecab:
        documents = segment_documents(
            documents, max_chunk_characters=config.segment.max_chunk_characters, workers=config.workers
        )
    try:
        for document in tqdm(documents, desc=f"corpus {name}", unit=" docs"):
            write_started = time.perf_counter()
            documents_writer.write(document)
            seconds["write"] += time.perf_counter() - write_started
            documents_out += 1
            characters_out += len(document.text)
    except SourceError as raised:
        error = raised
    finally:
        documents_writer.close()
        rejects_writer.close()
        trail_files = trail.close()

    checksum_started = time.perf_counter()
    inputs = describe_files(input_files(name, config.sources[name], config.raw_dir))
    seconds["checksums"] = time.perf_counter() - checksum_started

    manifest: dict[str, object] = {
        "source": name,
        "complete": error is None,
        "error": None if error is None else str(error),
        "inputs": inputs,
        "config": config_as_dict(config),
        "packages": package_versions(),
        "counts": _counts(read_stats, documents_out, characters_out, steps),
        "outputs": _describe_outputs(output_dir, documents_writer, rejects_writer, trail_files, trail.rows),
        "seconds": {
            **{key: round(value, 3) for key, value in seconds.items()},
            "steps": [round(step.stats.seconds, 3) for step in steps],
            "total": round(time.perf_counter() - started, 3),
        },
    }
    write_manifest(output_dir, manifest)
    if error is not None:
        raise error
    return manifest


def _counts(read_stats: FilterStats, documents_out: int, characters_out: int, steps: list[Filter]) -> dict[str, object]:
    """Return the manifest's ``counts``: totals of the source, then one entry per step with ``read`` first."""
    step_counts: list[dict[str, object]] = [{"step": READ_STEP, "sources": None, **read_stats.counts()}]
    step_counts += [
        {"step": step.name, "sources": sorted(step.sources) if step.sources else None, **step.stats.counts()}
        for step in steps
    ]
    return {
        "documents_in": read_stats.documents_in,
        "documents_out": documents_out,
        "documents_rejected": read_stats.documents_in - documents_out,
        "characters_in": read_stats.characters_in,
        "characters_out": characters_out,
        "steps": step_counts,
    }


def _clean(
    records: Iterator[Document | ReaderReject],
    steps: list[Filter],
    read_stats: FilterStats,
    rejects_writer: PartitionedWriter,
    trail: TrailWriter,
) -> Iterator[Document]:
    """Yield the documents that pass every step, counting reads into ``read_stats`` and recording rejects."""
    for record in records:
        document = record.document if isinstance(record, ReaderReject) else record
        read_stats.documents_in += 1
        read_stats.characters_in += len(document.text)
        if isinstance(record, ReaderReject):
            read_stats.documents_rejected += 1
            rejects_writer.write(document, filter=READ_STEP, reason=record.reason)
            trail.rejected(0, READ_STEP, document, record.reason)
            continue
        read_stats.documents_out += 1
        read_stats.characters_out += len(document.text)

        kept = _apply_steps(document, steps, rejects_writer, trail)
        if kept is not None:
            yield kept


def _apply_steps(
    document: Document, steps: list[Filter], rejects_writer: PartitionedWriter, trail: TrailWriter
) -> Document | None:
    """Run one document through every step; return it, or ``None`` after recording its rejection."""
    for index, step in enumerate(steps, start=1):
        result = step.process(document)
        if isinstance(result, Reject):
            rejects_writer.write(document, filter=step.name, reason=result.reason)
            trail.rejected(index, step.name, document, result.reason)
            return None
        if result is not document and result != document:
            trail.changed(index, step.name, document, result)
        document = result
    return document


def _timed(records: Iterator[Document | ReaderReject], seconds: dict[str, float]) -> Iterator[Document | ReaderReject]:
    """Yield the reader's records, adding the time spent inside the reader to ``seconds["read"]``."""
    while True:
        started = time.perf_counter()
        try:
            record = next(records)
        except StopIteration:
            return
        finally:
            seconds["read"] += time.perf_counter() - started
        yield record


def _describe_outputs(
    output_dir: Path,
    documents_writer: PartitionedWriter,
    rejects_writer: PartitionedWriter,
    trail_files: list[Path],
    trail_rows: int,
) -> list[dict[str, object]]:
    """Return ``file`` (relative to the source folder), ``rows`` and ``sha256`` of every Parquet file written."""
    files = [
        *zip(documents_writer.files, documents_writer.rows, strict=True),
        *zip(rejects_writer.files, rejects_writer.rows, strict=True),
        *((path, trail_rows) for path in trail_files),
    ]
    return [
        {"file": path.relative_to(output_dir).as_posix(), "rows": rows, "sha256": sha256_file(path)}
        for path, rows in files
    ]
