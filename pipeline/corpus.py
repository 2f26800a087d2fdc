"""Corpus stage: read every configured source, clean it, and write Parquet documents.

Sources are processed one after another in config order, each document passing through the
same list of steps (the cleaning filters, then any final per-document step). The steps are
built once per run, so the deduplication index spans all sources and the first occurrence
in that order is kept. For each source ``S`` this writes:

- ``<corpora_dir>/clean/S/documents-NNNNN.parquet``: kept documents (schema in :mod:`pipeline.parquet`);
- ``<corpora_dir>/clean/S/rejects/rejects-NNNNN.parquet``: rejected documents with the step
  name (``filter``) and reason, as they were when that step rejected them;
- ``<corpora_dir>/clean/S/trail/trail-00000.parquet``: which step changed or rejected which
  document (schema in :mod:`pipeline.trail`), read back by ``--explain``;
- ``<corpora_dir>/clean/S/index/NN-<step>.parquet``: the deduplication index entries the
  source added (see :mod:`pipeline.corpus_units`);
- ``<corpora_dir>/clean/S/manifest.json``: inputs, config, versions and counts (layout in
  :mod:`pipeline.manifest`);
- ``<corpora_dir>/clean/S.done.json``: the completion marker, written last.

Each source is one unit of :class:`~pipeline.units.UnitStore`: its files appear when all of
them are complete, and a rerun skips a source whose marker matches the current fingerprint.
With the same inputs and config, a rerun, a resumed run and a run with another worker count
or another ``corpora_dir`` write byte-identical files; only the ``seconds`` of the manifests
differ.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from tqdm import tqdm

from pipeline.atomic import sha256_file
from pipeline.config import Config
from pipeline.corpus_units import corpus_store, index_marks, load_indexes, plan_fingerprints, write_indexes
from pipeline.document import Document
from pipeline.filters import Filter, FilterStats, Reject, build_filters
from pipeline.fingerprint import Fingerprint
from pipeline.manifest import (
    MANIFEST_FILE,
    describe_files,
    input_files,
    manifest_config,
    package_versions,
    read_manifest,
)
from pipeline.parquet import documents_to_table
from pipeline.segment import segment_documents
from pipeline.sources import ReaderReject, SourceError, get_reader
from pipeline.trail import TRAIL_FOLDER, TrailWriter
from pipeline.units import UnitStore

logger = logging.getLogger(__name__)

DOCUMENTS_PER_FILE = 100_000
ROW_GROUP_SIZE = 1000
"""Documents buffered, at most, before a row group is written."""
ROW_GROUP_CHARACTERS = 4_000_000
"""Text characters buffered before a row group is written, which bounds memory for long documents."""
READ_STEP = "read"
UNIT_COUNTS = ("documents_in", "documents_out", "documents_rejected")
"""Counts copied into a source's completion marker."""


class PartitionedWriter:
    """Write documents to numbered Parquet files ``<folder>/<prefix>-NNNNN.parquet``.

    Args:
        open_path: Called with each file's path relative to the stage folder; returns the path
            to write it at, such as :meth:`pipeline.units.UnitWriter.path`, which renames the
            file into place when the unit commits.
        folder: Folder of the files, relative to the stage folder.
        prefix: File name prefix, such as ``documents`` or ``rejects``.
        rows_per_file: Documents per file before a new file starts. Default: 100000.
    """

    def __init__(
        self, *, open_path: Callable[[str], Path], folder: str, prefix: str, rows_per_file: int = DOCUMENTS_PER_FILE
    ) -> None:
        self.open_path = open_path
        self.folder = folder
        self.prefix = prefix
        self.rows_per_file = rows_per_file
        self.files: list[str] = []
        self.paths: list[Path] = []
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
            relative = f"{self.folder}/{self.prefix}-{len(self.files):05d}.parquet"
            path = self.open_path(relative)
            self._writer = pq.ParquetWriter(path, table.schema, compression="zstd")
            self.files.append(relative)
            self.paths.append(path)
        self._writer.write_table(table, row_group_size=len(table))
        self._rows_in_file += table.num_rows
        if self._rows_in_file >= self.rows_per_file:
            self._finish_file()

    def _finish_file(self) -> None:
        if self._writer is None:
            return
        self._writer.close()
        self.rows.append(self._rows_in_file)
        self._writer = None
        self._rows_in_file = 0


def build_steps(config: Config) -> list[Filter]:
    """Build the per-document steps of a run: the cleaning filters of ``clean.filters``, in order.

    A per-document step that must see the final cleaned text belongs at the end of this
    list. Every step has the :class:`~pipeline.filters.Filter` interface, so it is counted
    in the manifest and recorded in the trail like a filter. A step that works on batches of
    documents, such as segmentation in worker processes, wraps the stream of kept documents
    in :func:`clean_source` instead.
    """
    return build_filters(config.clean.filters)


def run(config: Config, *, fresh: bool = False) -> dict[str, dict[str, Any]]:
    """Run the corpus stage for every configured source, in config order, and return the manifests by source.

    Sources finished by an earlier run with the same fingerprint are skipped (their manifest
    is returned as written); the others are cleaned again.

    Args:
        config: The run configuration.
        fresh: Whether to rebuild sources whose output was made from another config, other
            inputs or other package versions. Default: false, which raises instead.

    Raises:
        StaleOutputError: Some finished sources no longer match and ``fresh`` is false.
        SourceError: A source could not be read to the end (see :func:`clean_source`).
    """
    if not config.sources:
        raise ValueError("the config lists no sources; add at least one entry under 'sources:'")
    steps = build_steps(config)
    store = corpus_store(config)
    planned = plan_fingerprints(config, steps)
    plan = store.reconcile(planned, fresh=fresh)

    results = {}
    for position, name in enumerate(config.sources):
        if name in plan.done:
            logger.info("source %s: finished by an earlier run with the same fingerprint; skipped", name)
            if any(later in plan.todo for later in list(config.sources)[position + 1 :]):
                load_indexes(config.clean_dir / name, steps)
            results[name] = read_manifest(config.clean_dir / name)
            continue

        results[name] = clean_source(name, config, steps, store=store, fingerprint=planned[name])
        counts = results[name]["counts"]
        logger.info(
            "source %s: kept %d of %d documents, rejected %d",
            name,
            counts["documents_out"],
            counts["documents_in"],
            counts["documents_rejected"],
        )
    return results


def clean_source(
    name: str,
    config: Config,
    steps: list[Filter] | None = None,
    *,
    store: UnitStore | None = None,
    fingerprint: Fingerprint | None = None,
) -> dict[str, Any]:
    """Read, filter and write one source as one unit of the corpus store; return its manifest.

    Args:
        name: Source name, a key of ``config.sources``.
        config: The run configuration.
        steps: Steps shared with the other sources of the run. Default: ``None``, which
            builds them from ``config`` for this source alone.
        store: The corpus unit store. Default: :func:`corpus_store` of ``config``.
        fingerprint: The source's fingerprint. Default: computed as :func:`run` does for a
            run of this source alone.

    Raises:
        SourceError: The source could not be read to the end. The documents read before
            the error are written with a manifest that records ``complete: false`` and the
            error, but no completion marker, so the next run deletes them and reads the
            source again.
    """
    started = time.perf_counter()
    steps = build_steps(config) if steps is None else steps
    store = corpus_store(config) if store is None else store
    if fingerprint is None:
        fingerprint = plan_fingerprints(config, steps)[name]
    for step in steps:
        step.reset_stats()
    marks = index_marks(steps)

    with store.unit(name, fingerprint) as unit:
        documents_writer = PartitionedWriter(open_path=unit.path, folder=name, prefix="documents")
        rejects_writer = PartitionedWriter(open_path=unit.path, folder=f"{name}/rejects", prefix="rejects")
        trail = TrailWriter(open_path=unit.path, relative=f"{name}/{TRAIL_FOLDER}/trail-00000.parquet")
        read_stats = FilterStats()
        documents_out = characters_out = 0
        seconds = {"read": 0.0, "write": 0.0}
        error: SourceError | None = None

        workers = config.workers or os.cpu_count() or 1
        reader = get_reader(name)(config.sources[name], raw_dir=config.raw_dir, workers=workers)
        records = _timed(reader, seconds)
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
            trail.close()

        counts = _counts(read_stats, documents_out, characters_out, steps)
        manifest: dict[str, Any] = {
            "source": name,
            "complete": error is None,
            "error": None if error is None else str(error),
            "inputs": _describe_inputs(name, config, fingerprint),
            "config": manifest_config(config, name),
            "packages": package_versions(),
            "counts": counts,
            "outputs": _describe_outputs(documents_writer, rejects_writer, trail),
            "seconds": {
                **{key: round(value, 3) for key, value in seconds.items()},
                "steps": [round(step.stats.seconds, 3) for step in steps],
                "total": round(time.perf_counter() - started, 3),
            },
        }
        unit.write_json(f"{name}/{MANIFEST_FILE}", manifest, volatile=True)
        if error is None:
            write_indexes(unit, name, steps, marks)
            unit.counts.update({key: counts[key] for key in UNIT_COUNTS})
        else:
            unit.keep_unfinished()

    if error is not None:
        raise error
    return manifest


def _counts(read_stats: FilterStats, documents_out: int, characters_out: int, steps: list[Filter]) -> dict[str, Any]:
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


def _describe_inputs(name: str, config: Config, fingerprint: Fingerprint) -> list[dict[str, object]]:
    """Return ``path``, ``bytes`` and ``sha256`` of every file the source read.

    A local source's files were hashed for its fingerprint; a downloaded source's files are
    hashed here, after the reader fetched them.
    """
    if config.sources[name].path is not None:
        return [
            {"path": label, "bytes": digest.bytes, "sha256": digest.sha256}
            for label, digest in sorted(fingerprint.inputs.items())
        ]
    return describe_files(input_files(name, config.sources[name], config.raw_dir))


def _describe_outputs(
    documents_writer: PartitionedWriter, rejects_writer: PartitionedWriter, trail: TrailWriter
) -> list[dict[str, object]]:
    """Return ``file`` (relative to the source folder), ``rows`` and ``sha256`` of every Parquet file written."""
    files = [
        *zip(documents_writer.files, documents_writer.paths, documents_writer.rows, strict=True),
        *zip(rejects_writer.files, rejects_writer.paths, rejects_writer.rows, strict=True),
    ]
    if trail.path is not None:
        files.append((trail.relative, trail.path, trail.rows))
    return [
        {"file": relative.partition("/")[2], "rows": rows, "sha256": sha256_file(path)}
        for relative, path, rows in files
    ]
