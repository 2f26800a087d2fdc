"""Row layouts: cut the content tokens of encoded documents into ``[rows, max_len]`` arrays.

Both layouts work on a whole :class:`~pipeline.shards.encoded.EncodedBatch` with numpy index
arithmetic, never looping over documents in Python, and both keep every content token.

- :class:`WindowLayout`: each document becomes ``ceil(tokens / (max_len - 2))`` rows (at least
  one) of ``[CLS]``, content, ``[SEP]``, then ``[PAD]``.
- :class:`PackedLayout`: documents, each followed by ``[SEP]``, form one stream that is cut
  into full rows. The tail of a batch waits for the next batch, and
  :meth:`PackedLayout.finish` pads the last row. The shards stage uses one layout per unit,
  so the last row of each unit is padded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from pipeline.shards.arrow import to_arrow
from pipeline.shards.encoded import EncodedBatch


@dataclass(frozen=True)
class SpecialTokens:
    """Ids of the special tokens the layouts insert, and which of them are global.

    Args:
        pad: Id of ``[PAD]``.
        cls: Id of ``[CLS]``.
        sep: Id of ``[SEP]``.
        cls_global: Whether ``[CLS]`` tokens are global (policy ``cls``).
        sep_global: Whether ``[SEP]`` tokens are global (policy ``sep``).
    """

    pad: int
    cls: int
    sep: int
    cls_global: bool
    sep_global: bool


@dataclass
class RowBlock:
    """Finished rows plus what the documents table and the manifest need about them.

    Args:
        input_ids: ``[rows, max_len]`` token ids.
        global_mask: ``[rows, max_len]`` global mask.
        index_columns: Layout-specific Arrow columns, one value per row.
        row_tokens: Non-padding tokens per row.
        document_rows: For each document added in this call, the split-wide row of its first
            token.
        document_offsets: For each such document, the position of that token in its row.
        document_windows: For each such document, the rows that contain its tokens.
        document_global: For each such document, its global tokens, special tokens included.
        document_padding: For each such document, the ``[PAD]`` tokens of its rows.
    """

    input_ids: np.ndarray
    global_mask: np.ndarray
    index_columns: dict[str, pa.Array]
    row_tokens: np.ndarray
    document_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    document_offsets: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    document_windows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    document_global: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    document_padding: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.input_ids)

    def to_record_batch(self, schema: pa.Schema) -> pa.RecordBatch:
        """Build the Arrow record batch; numeric buffers are handed to Arrow without Python lists."""
        max_len = self.input_ids.shape[1]
        columns = [
            pa.FixedSizeListArray.from_arrays(to_arrow(self.input_ids.reshape(-1)), max_len),
            pa.FixedSizeListArray.from_arrays(to_arrow(self.global_mask.reshape(-1)), max_len),
            *(self.index_columns[name] for name in schema.names[2:]),
        ]
        return pa.RecordBatch.from_arrays(columns, schema=schema)


def _exclusive_cumsum(values: np.ndarray) -> np.ndarray:
    result = np.zeros(len(values), dtype=np.int64)
    np.cumsum(values[:-1], out=result[1:])
    return result


def _count_per_document(flags: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Count the true values of a per-token boolean array within each document's tokens."""
    # Global tokens are few, so locating them is cheaper than a running sum over every token.
    document = np.searchsorted(np.cumsum(lengths), np.flatnonzero(flags), side="right")
    return np.bincount(document, minlength=len(lengths)).astype(np.int64)


class WindowLayout:
    """Cut each document into padded ``[CLS] ... [SEP]`` rows.

    Args:
        max_len: Tokens per row, ``[CLS]`` and ``[SEP]`` included; at least 3.
        special: Special token ids and their global flags.
        dtype: Token id type.
    """

    def __init__(self, *, max_len: int, special: SpecialTokens, dtype: np.dtype) -> None:
        if max_len < 3:
            raise ValueError(f"max_len must be at least 3 for the window layout, got {max_len}")
        self.max_len = max_len
        self.special = special
        self.dtype = dtype
        self.rows = 0

    def add(self, batch: EncodedBatch, first_document: int) -> RowBlock:
        """Return the rows of ``batch``, whose first document has index ``first_document``."""
        max_len, width = self.max_len, self.max_len - 2
        lengths = batch.lengths
        documents = len(lengths)
        rows_per_document = np.maximum(1, -(-lengths // width))
        rows = int(rows_per_document.sum())
        first_row = _exclusive_cumsum(rows_per_document)
        row_document = np.repeat(np.arange(documents), rows_per_document)
        row_length = np.full(rows, width, dtype=np.int64)
        row_length[first_row + rows_per_document - 1] = lengths - (rows_per_document - 1) * width

        # Row r contains the next row_length[r] tokens of the batch, and a boolean-mask assignment
        # fills true positions in row-major order, so one assignment lays out every document.
        content = np.arange(width) < row_length[:, None]
        input_ids = np.full((rows, max_len), self.special.pad, dtype=self.dtype)
        global_mask = np.zeros((rows, max_len), dtype=bool)
        input_ids[:, 1 : width + 1][content] = batch.tokens
        global_mask[:, 1 : width + 1][content] = batch.global_mask

        every_row = np.arange(rows)
        input_ids[:, 0] = self.special.cls
        input_ids[every_row, row_length + 1] = self.special.sep
        global_mask[:, 0] = self.special.cls_global
        global_mask[every_row, row_length + 1] = self.special.sep_global

        specials_global = rows_per_document * (int(self.special.cls_global) + int(self.special.sep_global))
        block = RowBlock(
            input_ids=input_ids,
            global_mask=global_mask,
            index_columns={
                "document_index": to_arrow((first_document + row_document).astype(np.int32)),
                "window_index": to_arrow((every_row - first_row[row_document]).astype(np.int32)),
            },
            row_tokens=row_length + 2,
            document_rows=self.rows + first_row,
            document_offsets=np.ones(documents, dtype=np.int32),
            document_windows=rows_per_document,
            document_global=_count_per_document(batch.global_mask, lengths) + specials_global,
            document_padding=rows_per_document * max_len - lengths - 2 * rows_per_document,
        )
        self.rows += rows
        return block

    def finish(self) -> RowBlock | None:
        """Return nothing: every window row is complete when its document is added."""
        return None


class PackedLayout:
    """Concatenate documents, each followed by ``[SEP]``, into full rows.

    A document cut at a row end continues at offset 0 of the next row. Rows are complete
    except the one :meth:`finish` returns, which is padded with ``[PAD]``.

    Args:
        max_len: Tokens per row.
        special: Special token ids and their global flags; ``[CLS]`` is not used.
        dtype: Token id type.
    """

    def __init__(self, *, max_len: int, special: SpecialTokens, dtype: np.dtype) -> None:
        self.max_len = max_len
        self.special = special
        self.dtype = dtype
        self.rows = 0
        # Tokens of the incomplete last row, and the documents that have tokens in it.
        self._carry_ids = np.zeros(0, dtype=dtype)
        self._carry_mask = np.zeros(0, dtype=bool)
        self._carry_documents = np.zeros(0, dtype=np.int64)
        self._carry_starts = np.zeros(0, dtype=np.int64)

    def add(self, batch: EncodedBatch, first_document: int) -> RowBlock:
        """Return the rows completed by ``batch``, whose first document has index ``first_document``."""
        max_len = self.max_len
        lengths = batch.lengths
        documents = len(lengths)

        # Stream of this batch: each document's tokens, then [SEP].
        pieces = lengths + 1
        piece_starts = _exclusive_cumsum(pieces)
        is_sep = np.zeros(int(pieces.sum()), dtype=bool)
        is_sep[piece_starts + lengths] = True
        stream_ids = np.empty(len(is_sep), dtype=self.dtype)
        stream_mask = np.empty(len(is_sep), dtype=bool)
        stream_ids[~is_sep] = batch.tokens
        stream_mask[~is_sep] = batch.global_mask
        stream_ids[is_sep] = self.special.sep
        stream_mask[is_sep] = self.special.sep_global

        carried = len(self._carry_ids)
        ids = np.concatenate([self._carry_ids, stream_ids])
        mask = np.concatenate([self._carry_mask, stream_mask])
        item_documents = np.concatenate([self._carry_documents, first_document + np.arange(documents)])
        item_starts = np.concatenate([self._carry_starts, carried + piece_starts])
        complete = len(ids) // max_len
        block = self._rows(ids, mask, item_documents, item_starts, complete)

        new_starts = carried + piece_starts
        new_ends = new_starts + pieces
        block.document_rows = self.rows + new_starts // max_len
        block.document_offsets = (new_starts % max_len).astype(np.int32)
        block.document_windows = (new_ends - 1) // max_len - new_starts // max_len + 1
        block.document_global = _count_per_document(batch.global_mask, lengths) + int(self.special.sep_global)
        block.document_padding = np.zeros(documents, dtype=np.int64)

        cut = complete * max_len
        item_ends = np.append(item_starts[1:], len(ids))
        carried_items = item_ends > cut
        self._carry_ids = ids[cut:].copy()
        self._carry_mask = mask[cut:].copy()
        self._carry_documents = item_documents[carried_items]
        self._carry_starts = np.maximum(item_starts[carried_items] - cut, 0)
        self.rows += complete
        return block

    def finish(self) -> RowBlock | None:
        """Return the last, padded row, or ``None`` when the stream ended on a row boundary."""
        if not len(self._carry_ids):
            return None
        padding = self.max_len - len(self._carry_ids)
        ids = np.concatenate([self._carry_ids, np.full(padding, self.special.pad, dtype=self.dtype)])
        mask = np.concatenate([self._carry_mask, np.zeros(padding, dtype=bool)])
        block = self._rows(ids, mask, self._carry_documents, self._carry_starts, 1)
        block.row_tokens = np.array([len(self._carry_ids)], dtype=np.int64)
        self._carry_ids = np.zeros(0, dtype=self.dtype)
        self.rows += 1
        return block

    def _rows(
        self, ids: np.ndarray, mask: np.ndarray, item_documents: np.ndarray, item_starts: np.ndarray, complete: int
    ) -> RowBlock:
        """Cut the first ``complete`` rows from a stream whose document pieces start at ``item_starts``."""
        max_len = self.max_len
        item_ends = np.append(item_starts[1:], len(ids))
        first_row = item_starts // max_len
        last_row = np.minimum((item_ends - 1) // max_len, complete - 1)
        segments = np.maximum(0, last_row - first_row + 1)
        segment_item = np.repeat(np.arange(len(item_starts)), segments)
        segment_row = first_row[segment_item] + np.arange(len(segment_item)) - _exclusive_cumsum(segments)[segment_item]
        segment_offset = np.maximum(item_starts[segment_item] - segment_row * max_len, 0)
        list_offsets = np.zeros(complete + 1, dtype=np.int32)
        np.cumsum(np.bincount(segment_row, minlength=complete), out=list_offsets[1:])

        offsets = to_arrow(list_offsets)
        return RowBlock(
            input_ids=ids[: complete * max_len].reshape(complete, max_len),
            global_mask=mask[: complete * max_len].reshape(complete, max_len),
            index_columns={
                "document_indices": pa.ListArray.from_arrays(
                    offsets, to_arrow(item_documents[segment_item].astype(np.int32))
                ),
                "document_offsets": pa.ListArray.from_arrays(offsets, to_arrow(segment_offset.astype(np.int32))),
            },
            row_tokens=np.full(complete, max_len, dtype=np.int64),
        )
