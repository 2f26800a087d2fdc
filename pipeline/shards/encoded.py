"""Columnar batches of documents before and after encoding.

The shards stage needs only the id, source, text, heading spans and morpheme ends of each
document, so it
reads those Parquet columns into :class:`DocumentColumns` instead of building one
:class:`~pipeline.document.Document` per row. Encoded tokens of a whole batch are kept as one
flat array with per-document lengths, which lets the layouts cut rows with numpy alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from pipeline.document import Document
from pipeline.shards.arrow import numpy_values

COLUMNS = ["id", "source", "text", "headings", "morpheme_ends"]
"""Parquet columns of the document schema that the shards stage reads."""


@dataclass(frozen=True)
class DocumentColumns:
    """A batch of documents as columns.

    Args:
        ids: Document ids.
        sources: Source names.
        texts: Document texts.
        heading_offsets: ``[documents + 1]`` offsets into the heading arrays; the headings of
            document ``i`` are ``heading_offsets[i]:heading_offsets[i + 1]``.
        heading_starts: Heading start offsets in characters.
        heading_ends: Heading end offsets in characters, exclusive.
        heading_levels: Heading levels, 1 for the title.
        morpheme_ends: ``Document.morpheme_ends`` per document; empty lists when the corpus
            was not segmented with MeCab.
    """

    ids: list[str]
    sources: list[str]
    texts: list[str]
    heading_offsets: np.ndarray
    heading_starts: np.ndarray
    heading_ends: np.ndarray
    heading_levels: np.ndarray
    morpheme_ends: list[list[int]]

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_record_batch(cls, batch: pa.RecordBatch) -> DocumentColumns:
        """Read the :data:`COLUMNS` of a record batch with the cleaned-document schema."""
        headings = batch.column("headings")
        # The offsets of a sliced list array index into its whole, unsliced child array.
        offsets = numpy_values(headings.offsets)
        first, last = int(offsets[0]), int(offsets[-1])
        values = headings.values
        return cls(
            ids=batch.column("id").to_pylist(),
            sources=batch.column("source").to_pylist(),
            texts=batch.column("text").to_pylist(),
            heading_offsets=offsets - first,
            heading_starts=numpy_values(values.field("start"))[first:last],
            heading_ends=numpy_values(values.field("end"))[first:last],
            heading_levels=numpy_values(values.field("level"))[first:last],
            morpheme_ends=batch.column("morpheme_ends").to_pylist()
            if "morpheme_ends" in batch.schema.names
            else [[] for _ in range(batch.num_rows)],
        )

    @classmethod
    def from_documents(cls, documents: Sequence[Document]) -> DocumentColumns:
        counts = [len(document.headings) for document in documents]
        headings = [heading for document in documents for heading in document.headings]
        return cls(
            ids=[document.id for document in documents],
            sources=[document.source for document in documents],
            texts=[document.text for document in documents],
            heading_offsets=np.concatenate([[0], np.cumsum(counts, dtype=np.int64)]).astype(np.int64),
            heading_starts=np.array([heading.start for heading in headings], dtype=np.int64),
            heading_ends=np.array([heading.end for heading in headings], dtype=np.int64),
            heading_levels=np.array([heading.level for heading in headings], dtype=np.int64),
            morpheme_ends=[list(document.morpheme_ends) for document in documents],
        )


@dataclass(frozen=True)
class EncodedBatch:
    """Content tokens (no special tokens) of a batch of documents, concatenated.

    Args:
        ids: Document ids.
        sources: Source names.
        lengths: Content tokens per document, int64.
        tokens: All content tokens, document after document.
        global_mask: Per content token, true where a content policy marks it global.
    """

    ids: list[str]
    sources: list[str]
    lengths: np.ndarray
    tokens: np.ndarray
    global_mask: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def token_starts(self) -> np.ndarray:
        """Return the position of each document's first token in :attr:`tokens`."""
        starts = np.zeros(len(self.lengths), dtype=np.int64)
        np.cumsum(self.lengths[:-1], out=starts[1:])
        return starts

    def select(self, keep: np.ndarray) -> EncodedBatch:
        """Return the documents where ``keep`` is true, in order."""
        token_keep = np.repeat(keep, self.lengths)
        return EncodedBatch(
            ids=[document_id for document_id, kept in zip(self.ids, keep.tolist(), strict=True) if kept],
            sources=[source for source, kept in zip(self.sources, keep.tolist(), strict=True) if kept],
            lengths=self.lengths[keep],
            tokens=self.tokens[token_keep],
            global_mask=self.global_mask[token_keep],
        )
