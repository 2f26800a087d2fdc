"""Units of the corpus stage: one per source, fingerprinted so that a change redoes what it affects.

Each source is one unit of :class:`~pipeline.units.UnitStore` in ``<corpora_dir>/clean``,
with the marker ``clean/<source>.done.json``. A source's fingerprint (see
:mod:`pipeline.fingerprint`) holds:

- config: ``sources.<name>`` without ``rows_per_shard`` (which only the shards stage
  reads), ``clean`` and ``segment``. With a cross-source step such as ``exact_dedup`` it
  also contains ``earlier_sources``, the fingerprint digests of the sources before it in
  config order, because their documents decide which of its documents are duplicates;
- inputs: the files under ``sources.<name>.path``, hashed on every run. A downloaded source
  (no ``path``) is identified by its address, dataset and expected digest in the config;
  the download itself checks the file's SHA-256;
- packages: the libraries that shape the cleaned text.

So changing one source redoes that source and the sources after it when deduplication
spans sources, and leaves the sources before it alone.

Deduplication across a skipped source: a cross-source step stores the index entries each
source added in ``clean/<source>/index/NN-<step>.parquet``. When a rerun skips a finished
source, its entries are loaded back, so the sources after it are deduplicated exactly as in
an uninterrupted run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from pipeline.config import Config
from pipeline.filters import Filter
from pipeline.filters.dedup import CrossSourceIndex
from pipeline.fingerprint import FileDigest, Fingerprint, make_fingerprint
from pipeline.manifest import input_files, source_settings
from pipeline.unit_commit import UnitWriter
from pipeline.units import UnitStore

INDEX_FOLDER = "index"
CORPUS_OUTPUTS = (
    "*/*.parquet",
    "*/rejects/*.parquet",
    f"*/{INDEX_FOLDER}/*.parquet",
    "*/trail/*.parquet",
    "*/manifest.json",
)
"""Glob patterns, relative to ``clean/``, of every file the corpus stage writes."""

CORPUS_PACKAGES = (
    "pipeline",
    "pyarrow",
    "numpy",
    "ftfy",
    "datasketch",
    "defusedxml",
    "mwparserfromhell",
    "fugashi",
    "unidic-lite",
)
"""Packages whose versions go into a source's fingerprint."""


def corpus_store(config: Config) -> UnitStore:
    """Return the unit store of ``<corpora_dir>/clean``."""
    return UnitStore(config.clean_dir, config_key="corpora_dir", outputs=CORPUS_OUTPUTS)


def plan_fingerprints(config: Config, steps: Sequence[Filter]) -> dict[str, Fingerprint]:
    """Fingerprint every configured source, in config order, as the module docstring describes."""
    spans_sources = any(isinstance(step, CrossSourceIndex) for step in steps)
    earlier: dict[str, str] = {}
    planned = {}
    for name, source in config.sources.items():
        parts: dict[str, Any] = {
            f"sources.{name}": source_settings(source),
            "clean": config.clean,
            "segment": config.segment,
        }
        if spans_sources:
            parts["earlier_sources"] = dict(earlier)
        inputs = input_files(name, source, config.raw_dir) if source.path is not None else []
        planned[name] = make_fingerprint(config=parts, inputs=inputs, packages=CORPUS_PACKAGES)
        earlier[name] = planned[name].digest
    return planned


def index_marks(steps: Sequence[Filter]) -> dict[int, int]:
    """Return the index size of every cross-source step, keyed by its position (1 is the first step)."""
    return {
        position: step.index_size()
        for position, step in enumerate(steps, start=1)
        if isinstance(step, CrossSourceIndex)
    }


def write_indexes(writer: UnitWriter, name: str, steps: Sequence[Filter], marks: Mapping[int, int]) -> None:
    """Write the index entries each cross-source step added since ``marks`` into the source's unit."""
    for position, start in marks.items():
        step = steps[position - 1]
        assert isinstance(step, CrossSourceIndex)
        path = writer.path(f"{name}/{INDEX_FOLDER}/{position:02d}-{step.name}.parquet")
        pq.write_table(step.index_rows(start), path, compression="zstd")


def load_indexes(folder: Path, steps: Sequence[Filter]) -> None:
    """Load the index entries a finished source stored in ``folder`` back into the cross-source steps.

    Raises:
        FileNotFoundError: An index file is missing, so the source must be cleaned again.
    """
    for position, step in enumerate(steps, start=1):
        if not isinstance(step, CrossSourceIndex):
            continue
        path = folder / INDEX_FOLDER / f"{position:02d}-{step.name}.parquet"
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} not found, so the sources after {folder.name} cannot be deduplicated against it; "
                "rerun with --fresh to clean it again"
            )
        step.load_index_rows(pq.read_table(path))


def finished_documents(config: Config, sources: Sequence[str]) -> dict[str, dict[str, FileDigest]]:
    """Return the cleaned documents files of each source, read from its completion marker.

    Keys of the inner mapping are paths relative to ``<corpora_dir>/clean``, such as
    ``livedoor/documents-00000.parquet``, in file order. Values are the size and SHA-256 the
    marker recorded, so a later stage can fingerprint the files without reading them. Only
    sizes are checked here, because the corpus stage checks the SHA-256 on its next run.

    Raises:
        FileNotFoundError: A source has no completion marker (the corpus stage has not run,
            was interrupted or failed on it), or a file changed size since it was written.
    """
    store = corpus_store(config)
    markers = {name: store.marker(name) for name in sources}
    missing = [name for name, marker in markers.items() if marker is None]
    if len(missing) == len(sources):
        raise FileNotFoundError(
            f"no finished corpus output under {config.clean_dir} for sources {', '.join(sources)}; "
            "run `make corpus` first"
        )
    if missing:
        raise FileNotFoundError(
            f"sources {', '.join(missing)} have no completion marker in {config.clean_dir}, so the corpus stage "
            "did not finish them; run `make corpus` first"
        )

    result = {}
    for name, marker in markers.items():
        assert marker is not None
        documents = re.compile(rf"{re.escape(name)}/documents-\d+\.parquet")
        files = {}
        for key, record in sorted(marker["files"].items()):
            if not documents.fullmatch(key):
                continue
            path = config.clean_dir / key
            size = path.stat().st_size if path.is_file() else None
            if size != record["bytes"]:
                raise FileNotFoundError(
                    f"{path} is missing or changed size since the corpus stage wrote it; run `make corpus` again"
                )
            files[key] = FileDigest(bytes=int(record["bytes"]), sha256=str(record["sha256"]))
        result[name] = files
    return result
