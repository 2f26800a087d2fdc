"""Parquet storage of documents: the schema of ``<corpora_dir>/clean/<source>/*.parquet``.

One row per document:

- ``id`` (string): ``"<source>/<native id>"``, unique across sources.
- ``source`` (string): source name.
- ``title`` (string): article title.
- ``text`` (string): lines joined by ``"\n"``.
- ``headings`` (list<struct<start: int32, end: int32, level: int8>>): heading spans in
  characters; level 1 is the title, 2 a section, 3 a subsection.
- ``metadata`` (map<string, string>): source fields such as URL, date and category.
- ``morpheme_ends`` (list<int32>): character offsets where MeCab morphemes end; empty when
  the text was not segmented.

Reject files under ``rejects/`` add ``filter`` and ``reason`` string columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.document import Document, Heading

HEADING_TYPE = pa.struct([("start", pa.int32()), ("end", pa.int32()), ("level", pa.int8())])
DOCUMENT_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("source", pa.string()),
        ("title", pa.string()),
        ("text", pa.string()),
        ("headings", pa.list_(HEADING_TYPE)),
        ("metadata", pa.map_(pa.string(), pa.string())),
        ("morpheme_ends", pa.list_(pa.int32())),
    ]
)
REJECT_SCHEMA = DOCUMENT_SCHEMA.append(pa.field("filter", pa.string())).append(pa.field("reason", pa.string()))


def documents_to_table(documents: Sequence[Document], extra: dict[str, list[object]] | None = None) -> pa.Table:
    """Convert documents to an Arrow table with :data:`DOCUMENT_SCHEMA` (plus ``extra`` columns)."""
    columns: dict[str, list[object]] = {
        "id": [document.id for document in documents],
        "source": [document.source for document in documents],
        "title": [document.title for document in documents],
        "text": [document.text for document in documents],
        "headings": [
            [{"start": h.start, "end": h.end, "level": h.level} for h in document.headings] for document in documents
        ],
        "metadata": [sorted(document.metadata.items()) for document in documents],
        "morpheme_ends": [list(document.morpheme_ends) for document in documents],
    }
    schema = DOCUMENT_SCHEMA
    if extra:
        schema = REJECT_SCHEMA
        columns.update(extra)
    return pa.Table.from_pydict(columns, schema=schema)


def table_to_documents(table: pa.Table | pa.RecordBatch) -> list[Document]:
    """Convert rows with :data:`DOCUMENT_SCHEMA` back to documents."""
    rows = table.select(DOCUMENT_SCHEMA.names).to_pylist()
    return [
        Document(
            id=row["id"],
            source=row["source"],
            title=row["title"],
            text=row["text"],
            headings=tuple(Heading(**heading) for heading in row["headings"]),
            metadata=dict(row["metadata"]),
            morpheme_ends=tuple(row["morpheme_ends"]),
        )
        for row in rows
    ]


def clean_files(clean_dir: Path, sources: Iterable[str]) -> list[Path]:
    """List the cleaned Parquet files of the given sources, in source then file-name order."""
    files: list[Path] = []
    for source in sources:
        files.extend(sorted((clean_dir / source).glob("*.parquet")))
    return files


def iter_document_batches(files: Iterable[Path], *, batch_size: int) -> Iterator[list[Document]]:
    """Stream documents from Parquet files in batches of at most ``batch_size``."""
    for file in files:
        for batch in pq.ParquetFile(file).iter_batches(batch_size=batch_size):
            yield table_to_documents(batch)


def iter_texts(files: Iterable[Path], *, batch_size: int) -> Iterator[list[str]]:
    """Stream only the ``text`` column, in batches of at most ``batch_size`` strings."""
    for file in files:
        for batch in pq.ParquetFile(file).iter_batches(batch_size=batch_size, columns=["text"]):
            yield batch.column(0).to_pylist()


def count_rows(files: Iterable[Path]) -> int:
    """Return the total number of rows, read from the Parquet footers alone."""
    return sum(pq.ParquetFile(file).metadata.num_rows for file in files)
