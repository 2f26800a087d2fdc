"""Build each split's ``manifest.json`` and ``documents.arrow`` from the finished units.

Both files describe the whole split, so they change whenever any unit does; no unit owns
them. The shards stage deletes them before it touches a unit and writes them again, each
atomically, after every unit is done, from the units' summaries and completion markers. A
run killed in between leaves no manifest, so no reader sees a manifest that lists a file that
is missing or that belongs to another config.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from pipeline.atomic import atomic_path, sha256_file, write_json_atomic
from pipeline.shards.arrow import numpy_values, to_arrow
from pipeline.shards.schema import DOCUMENTS_FILE, DOCUMENTS_SCHEMA, FORMAT, MANIFEST_FILE, unit_documents_file
from pipeline.shards.writer import SourceStats


def remove_split_files(root: Path, splits: Sequence[str]) -> None:
    """Delete the split-wide manifest and documents table of each split, if present."""
    for split in splits:
        for name in (MANIFEST_FILE, DOCUMENTS_FILE):
            (root / split / name).unlink(missing_ok=True)


def write_split(
    root: Path,
    split: str,
    *,
    settings: Mapping[str, Any],
    units: Sequence[str],
    summaries: Mapping[str, Mapping[str, Any]],
    markers: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """Write ``documents.arrow`` and then ``manifest.json`` of one split; return the manifest.

    Args:
        root: Shards folder.
        split: ``train`` or ``validation``.
        settings: Manifest fields shared by both splits (layout, tokenizer, policies, ...).
        units: Unit names in the order their rows form the split.
        summaries: Each unit's summary, keyed by split and then as
            :meth:`pipeline.shards.writer.UnitSplitWriter.close` returns it.
        markers: Each unit's completion marker, for the size and SHA-256 of its files.
    """
    folder = root / split
    folder.mkdir(parents=True, exist_ok=True)
    unit_entries: list[dict[str, Any]] = []
    shard_entries: list[dict[str, Any]] = []
    sources: dict[str, SourceStats] = {}
    documents = rows = 0
    for unit in units:
        summary = summaries[unit][split]
        files = markers[unit]["files"]
        unit_entries.append(
            {
                "name": unit,
                "documents": summary["documents"],
                "rows": summary["rows"],
                "first_document": documents,
                "first_row": rows,
            }
        )
        for shard in summary["shards"]:
            record = files[f"{split}/{shard['file']}"]
            shard_entries.append(
                {
                    **shard,
                    "unit": unit,
                    "first_document": documents,
                    "bytes": record["bytes"],
                    "sha256": record["sha256"],
                }
            )
        for name, counts in summary["sources"].items():
            sources.setdefault(name, SourceStats()).add(SourceStats(**counts))
        documents += summary["documents"]
        rows += summary["rows"]

    documents_entry = _write_documents(folder, unit_entries)
    total_windows = sum(stats.windows for stats in sources.values())
    manifest = {
        "format": FORMAT,
        **settings,
        "split": split,
        "documents": documents,
        "rows": rows,
        "tokens": sum(shard["tokens"] for shard in shard_entries),
        "sources": {name: stats.to_manifest(total_windows) for name, stats in sorted(sources.items())},
        "documents_file": documents_entry,
        "units": unit_entries,
        "shards": shard_entries,
    }
    write_json_atomic(folder / MANIFEST_FILE, manifest)
    return manifest


def _write_documents(folder: Path, units: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Concatenate the units' documents tables, shifting ``row`` to count across the split."""
    path = folder / DOCUMENTS_FILE
    with (
        atomic_path(path) as temporary,
        pa.OSFile(str(temporary), "wb") as sink,
        pa.ipc.new_stream(sink, DOCUMENTS_SCHEMA) as writer,
    ):
        for unit in units:
            with pa.ipc.open_stream(pa.memory_map(str(folder / unit_documents_file(unit["name"])))) as reader:
                for batch in reader:
                    shifted = numpy_values(batch.column("row")) + unit["first_row"]
                    columns = [*batch.columns[:3], to_arrow(shifted.astype(np.int64)), batch.column("offset")]
                    writer.write_batch(pa.RecordBatch.from_arrays(columns, schema=DOCUMENTS_SCHEMA))
    return {"file": DOCUMENTS_FILE, "rows": sum(unit["documents"] for unit in units), "sha256": sha256_file(path)}
