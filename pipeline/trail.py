"""The filter trail of a corpus run, and ``--explain``, which reads it back for one document.

``<corpora_dir>/clean/<source>/trail/trail-00000.parquet`` has one row per event, in the
order documents were read: a step that changed a document, or the step that rejected it.
Steps that left a document unchanged write nothing, so the file stays small. Columns:

- ``id`` (string): the document id;
- ``step`` (int16): position of the step in the manifest's ``counts.steps`` (0 is ``read``);
- ``name`` (string): the step name, such as ``nfkc`` or ``exact_dedup``;
- ``action`` (string): ``changed`` or ``rejected``;
- ``characters_before``, ``characters_after`` (int32): text length before and after the
  step; ``characters_after`` is null for a rejection;
- ``lines_before``, ``lines_after`` (int32): line counts, likewise;
- ``reason`` (string): the rejection reason; null for a change.

The trail records what each step did, not the intermediate texts. The kept text is in the
documents files, and a rejected document's text, as it reached the rejecting step, is in
``rejects/``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.config import Config
from pipeline.document import Document
from pipeline.manifest import read_manifest

TRAIL_FOLDER = "trail"
TRAIL_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("step", pa.int16()),
        ("name", pa.string()),
        ("action", pa.string()),
        ("characters_before", pa.int32()),
        ("characters_after", pa.int32()),
        ("lines_before", pa.int32()),
        ("lines_after", pa.int32()),
        ("reason", pa.string()),
    ]
)
ROWS_PER_GROUP = 4096
"""Events buffered, at most, before a row group is written."""


class UnknownDocumentError(LookupError):
    """A document id that the last corpus run did not see; the message shows the expected form."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class TrailWriter:
    """Write trail events to one Parquet file, opened on the first event.

    Args:
        open_path: Called once with ``relative`` on the first event; returns the path to
            write at, such as :meth:`pipeline.units.UnitWriter.path`.
        relative: The file's path relative to the stage folder.
    """

    def __init__(self, *, open_path: Callable[[str], Path], relative: str) -> None:
        self.open_path = open_path
        self.relative = relative
        self.path: Path | None = None
        self.rows = 0
        self._pending: dict[str, list[Any]] = {name: [] for name in TRAIL_SCHEMA.names}
        self._writer: pq.ParquetWriter | None = None

    def changed(self, step: int, name: str, before: Document, after: Document) -> None:
        self._add(step, name, "changed", before, after, None)

    def rejected(self, step: int, name: str, document: Document, reason: str) -> None:
        self._add(step, name, "rejected", document, None, reason)

    def close(self) -> None:
        """Flush and finish the file; without events there is no file."""
        self._flush()
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _add(
        self, step: int, name: str, action: str, before: Document, after: Document | None, reason: str | None
    ) -> None:
        row = {
            "id": before.id,
            "step": step,
            "name": name,
            "action": action,
            "characters_before": len(before.text),
            "characters_after": None if after is None else len(after.text),
            "lines_before": before.text.count("\n") + 1,
            "lines_after": None if after is None else after.text.count("\n") + 1,
            "reason": reason,
        }
        for column, value in row.items():
            self._pending[column].append(value)
        if len(self._pending["id"]) >= ROWS_PER_GROUP:
            self._flush()

    def _flush(self) -> None:
        if not self._pending["id"]:
            return
        table = pa.Table.from_pydict(self._pending, schema=TRAIL_SCHEMA)
        self._pending = {name: [] for name in TRAIL_SCHEMA.names}
        if self._writer is None:
            self.path = self.open_path(self.relative)
            self._writer = pq.ParquetWriter(self.path, TRAIL_SCHEMA, compression="zstd")
        self._writer.write_table(table)
        self.rows += table.num_rows


def explain(config: Config, document_id: str) -> str:
    """Describe what each step of the last corpus run did to one document, as lines of text.

    The source is the part of ``document_id`` before the first ``/``. Reads the manifest,
    the trail and the documents or rejects files of that source; runs nothing again.

    Raises:
        FileNotFoundError: The source was not cleaned yet.
        UnknownDocumentError: The id has no source prefix, names a source missing from the
            config, or is in no file of the last run.
    """
    source, _, native = document_id.partition("/")
    if not native or source not in config.sources:
        raise UnknownDocumentError(
            f"document id {document_id!r} must have the form <source>/<name> with a source of this config "
            f"({', '.join(config.sources)}), such as livedoor/it-life-hack-6292880"
        )

    folder = config.clean_dir / source
    manifest = read_manifest(folder)
    steps = manifest["counts"]["steps"]
    events = _read_rows(sorted((folder / TRAIL_FOLDER).glob("*.parquet")), document_id)
    kept = _read_rows(sorted(folder.glob("*.parquet")), document_id)
    rejected = _read_rows(sorted((folder / "rejects").glob("*.parquet")), document_id)
    if not events and not kept and not rejected:
        raise UnknownDocumentError(
            f"document {document_id} not found in {folder}: it is in neither the documents, the rejects nor "
            "the filter trail of the last run; ids have the form <source>/<name>, such as livedoor/it-life-hack-6292880"
        )

    by_step = {int(event["step"]): event for event in events}
    lines = [f"document {document_id} (source {source}, {folder})"]
    reached = True
    for index, step in enumerate(steps):
        name = step["step"]
        event = by_step.get(index)
        if not reached:
            status = "not reached"
        elif event is None and index == 0:
            status = "kept"
        elif event is None:
            status = "unchanged" if step.get("sources") is None or source in step["sources"] else "not applicable"
        elif event["action"] == "changed":
            status = (
                f"changed: {event['characters_before']} -> {event['characters_after']} characters, "
                f"{event['lines_before']} -> {event['lines_after']} lines"
            )
        else:
            status = f"rejected: {event['reason']}"
            reached = False
        lines.append(f"  {index:2d} {name:<22} {status}")

    if kept:
        lines.append(f"result: kept, {len(kept[0]['text'])} characters, in {folder}")
    for row in rejected:
        lines.append(f"result: rejected by {row['filter']}: {row['reason']} (stored in {folder / 'rejects'})")
    return "\n".join(lines)


def _read_rows(files: list[Path], document_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for file in files:
        table = pq.read_table(file, filters=[("id", "==", document_id)])
        rows.extend(table.to_pylist())
    return rows
