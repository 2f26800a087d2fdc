"""Write the rows and documents of one unit (one input Parquet file) in one split.

A :class:`UnitSplitWriter` lays out the documents of one Parquet file that hash into one split,
writes them as ``<unit>-shard-NNNNN.arrow`` files and a ``<unit>-documents.arrow`` table, and
returns a summary with the counts the split manifest needs. Every file is written at a
temporary path that :class:`pipeline.units.UnitWriter` hands out; the unit store renames the
files into place only when the whole unit is complete.

A shard holds at most ``rows_per_shard`` rows and, when a byte limit is set, at most as many
rows as fit in it. Rows are buffered into record batches of about :data:`RECORD_BATCH_BYTES`,
so a loader indexes few, large arrays.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from pipeline.shards.arrow import string_array, to_arrow
from pipeline.shards.encoded import EncodedBatch
from pipeline.shards.layouts import PackedLayout, RowBlock, WindowLayout
from pipeline.shards.schema import DOCUMENTS_SCHEMA, row_bytes, shard_schema, unit_documents_file, unit_shard_file

logger = logging.getLogger(__name__)

RECORD_BATCH_BYTES = 32 << 20
"""Target size in bytes of the ``input_ids`` and ``global_mask`` buffers of one record batch."""

OpenPath = Callable[[str], Path]
"""Return the temporary path at which to write the split-relative file name it is given."""


class ShardWriter:
    """Write rows to numbered Arrow IPC stream files.

    Args:
        open_path: Temporary path for each shard file name.
        prefix: Unit name that starts every shard file name.
        schema: Shard schema.
        rows_per_shard: Maximum rows in one file.
        rows_per_batch: Rows buffered before a record batch is written.
    """

    def __init__(
        self, *, open_path: OpenPath, prefix: str, schema: pa.Schema, rows_per_shard: int, rows_per_batch: int
    ) -> None:
        self.open_path = open_path
        self.prefix = prefix
        self.schema = schema
        self.rows_per_shard = rows_per_shard
        self.rows_per_batch = rows_per_batch
        self.shards: list[dict[str, Any]] = []
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self._sink: pa.OSFile | None = None
        self._writer: pa.ipc.RecordBatchStreamWriter | None = None
        self._rows = 0
        self._tokens = 0

    def write(self, batch: pa.RecordBatch, row_tokens: np.ndarray) -> None:
        """Append rows; ``row_tokens`` counts the non-padding tokens of each row."""
        offset = 0
        while offset < batch.num_rows:
            take = min(batch.num_rows - offset, self.rows_per_shard - self._rows - self._pending_rows)
            self._pending.append(batch.slice(offset, take))
            self._pending_rows += take
            self._tokens += int(row_tokens[offset : offset + take].sum())
            offset += take
            if self._rows + self._pending_rows == self.rows_per_shard:
                self._finish_shard()
            elif self._pending_rows >= self.rows_per_batch:
                self._flush()

    def close(self) -> None:
        self._finish_shard()

    def abort(self) -> None:
        """Close an open shard file without finishing it; the unit store deletes it."""
        if self._sink is not None:
            self._sink.close()
        self._writer = self._sink = None

    def _flush(self) -> None:
        if not self._pending:
            return
        if self._writer is None:
            self._sink = pa.OSFile(str(self.open_path(unit_shard_file(self.prefix, len(self.shards)))), "wb")
            self._writer = pa.ipc.new_stream(self._sink, self.schema)
        table = pa.Table.from_batches(self._pending, schema=self.schema).combine_chunks()
        self._writer.write_table(table)
        self._rows += self._pending_rows
        self._pending = []
        self._pending_rows = 0

    def _finish_shard(self) -> None:
        self._flush()
        if self._writer is None or self._sink is None:
            return
        self._writer.close()
        self._sink.close()
        self.shards.append(
            {"file": unit_shard_file(self.prefix, len(self.shards)), "rows": self._rows, "tokens": self._tokens}
        )
        self._writer = self._sink = None
        self._rows = self._tokens = 0


class DocumentsWriter:
    """Stream the documents table of one unit in one split.

    Args:
        path: Temporary path of the table.
    """

    def __init__(self, path: Path) -> None:
        self._sink = pa.OSFile(str(path), "wb")
        self._writer = pa.ipc.new_stream(self._sink, DOCUMENTS_SCHEMA)
        self.rows = 0

    def write(self, batch: EncodedBatch, block: RowBlock) -> None:
        columns = [
            string_array(batch.ids),
            string_array(batch.sources),
            to_arrow(batch.lengths.astype(np.int64)),
            to_arrow(block.document_rows.astype(np.int64)),
            to_arrow(block.document_offsets.astype(np.int32)),
        ]
        self._writer.write_batch(pa.RecordBatch.from_arrays(columns, schema=DOCUMENTS_SCHEMA))
        self.rows += len(batch)

    def close(self) -> None:
        self._writer.close()
        self._sink.close()

    def abort(self) -> None:
        self._sink.close()


@dataclass
class SourceStats:
    """Counts for one source of one split; ``positions`` counts every token slot, padding included."""

    documents: int = 0
    windows: int = 0
    positions: int = 0
    content_tokens: int = 0
    global_tokens: int = 0
    padding_tokens: int = 0

    def add(self, other: SourceStats) -> None:
        for key, value in asdict(other).items():
            setattr(self, key, getattr(self, key) + value)

    def to_manifest(self, total_windows: int) -> dict[str, Any]:
        positions = max(self.positions, 1)
        return {
            "documents": self.documents,
            "windows": self.windows,
            "windows_share": round(self.windows / max(total_windows, 1), 6),
            "positions": self.positions,
            "content_tokens": self.content_tokens,
            "global_tokens": self.global_tokens,
            "global_share": round(self.global_tokens / positions, 6),
            "padding_tokens": self.padding_tokens,
            "padding_share": round(self.padding_tokens / positions, 6),
        }


@dataclass
class UnitSplitWriter:
    """Lay out, write and count the documents of one unit that belong to one split.

    Args:
        unit: Unit name, the prefix of every file name.
        open_path: Temporary path for each split-relative file name.
        layout: ``window`` or ``packed`` row layout, new for this unit. A packed layout pads
            the last row of the unit, so no row contains documents of two units.
        rows_per_shard: Maximum rows in one shard.
        bytes_per_shard: Maximum bytes of the token and mask columns in one shard, or ``None``.
    """

    unit: str
    open_path: OpenPath
    layout: WindowLayout | PackedLayout
    rows_per_shard: int
    bytes_per_shard: int | None = None
    sources: dict[str, SourceStats] = field(default_factory=dict)

    def __post_init__(self) -> None:
        max_len, dtype = self.layout.max_len, self.layout.dtype
        rows_per_shard = self.rows_per_shard
        if self.bytes_per_shard is not None:
            rows_per_shard = min(rows_per_shard, max(1, self.bytes_per_shard // row_bytes(max_len, dtype)))
        rows_per_batch = max(1, min(rows_per_shard, RECORD_BATCH_BYTES // row_bytes(max_len, dtype)))
        layout_name = "window" if isinstance(self.layout, WindowLayout) else "packed"
        self.schema = shard_schema(layout_name, max_len, dtype)
        self.shards = ShardWriter(
            open_path=self.open_path,
            prefix=self.unit,
            schema=self.schema,
            rows_per_shard=rows_per_shard,
            rows_per_batch=rows_per_batch,
        )
        self.documents = DocumentsWriter(self.open_path(unit_documents_file(self.unit)))
        self._last_source: str | None = None

    def add(self, batch: EncodedBatch) -> None:
        if not len(batch):
            return
        block = self.layout.add(batch, self.documents.rows)
        self.documents.write(batch, block)
        self._count(batch, block)
        self._write(block)

    def close(self) -> dict[str, Any]:
        """Write the last rows and the documents table; return the unit's summary for this split.

        The summary has ``documents``, ``rows`` and ``tokens`` (non-padding), ``sources`` (the
        :class:`SourceStats` fields per source) and ``shards`` (``file``, ``rows`` and
        ``tokens`` of each shard, in order).
        """
        block = self.layout.finish()
        if block is not None:
            padding = int(block.input_ids.size - block.row_tokens.sum())
            if self._last_source is not None:
                self.sources[self._last_source].padding_tokens += padding
                self.sources[self._last_source].positions += padding
            self._write(block)
        self.shards.close()
        self.documents.close()
        return {
            "documents": self.documents.rows,
            "rows": sum(shard["rows"] for shard in self.shards.shards),
            "tokens": sum(shard["tokens"] for shard in self.shards.shards),
            "sources": {name: asdict(stats) for name, stats in sorted(self.sources.items())},
            "shards": self.shards.shards,
        }

    def abort(self) -> None:
        """Close every open file after a failure; the unit store deletes them."""
        self.shards.abort()
        self.documents.abort()

    def _write(self, block: RowBlock) -> None:
        if len(block):
            self.shards.write(block.to_record_batch(self.schema), block.row_tokens)

    def _count(self, batch: EncodedBatch, block: RowBlock) -> None:
        names, codes = np.unique(np.array(batch.sources, dtype=object), return_inverse=True)
        per_document = {
            "windows": block.document_windows,
            "content_tokens": batch.lengths,
            "global_tokens": block.document_global,
            "padding_tokens": block.document_padding,
        }
        # Window rows cover windows * max_len slots; packed documents cover their tokens and [SEP].
        if isinstance(self.layout, WindowLayout):
            per_document["positions"] = block.document_windows * self.layout.max_len
        else:
            per_document["positions"] = batch.lengths + 1
        for code, name in enumerate(names.tolist()):
            stats = self.sources.setdefault(name, SourceStats())
            selected = codes == code
            stats.documents += int(selected.sum())
            for key, values in per_document.items():
                setattr(stats, key, getattr(stats, key) + int(values[selected].sum()))
        self._last_source = batch.sources[-1]
