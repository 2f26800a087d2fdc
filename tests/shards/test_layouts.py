from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from pipeline.shards.encoded import EncodedBatch
from pipeline.shards.layouts import PackedLayout, SpecialTokens, WindowLayout
from pipeline.shards.schema import shard_schema

PAD, CLS, SEP = 0, 2, 4


def encoded(*documents: list[int], global_tokens: tuple[int, ...] = ()) -> EncodedBatch:
    tokens = np.array([token for document in documents for token in document], dtype=np.uint16)
    return EncodedBatch(
        ids=[f"t/{index}" for index in range(len(documents))],
        sources=["t"] * len(documents),
        lengths=np.array([len(document) for document in documents], dtype=np.int64),
        tokens=tokens,
        global_mask=np.isin(tokens, global_tokens),
    )


def special(*, cls_global: bool = False, sep_global: bool = False) -> SpecialTokens:
    return SpecialTokens(pad=PAD, cls=CLS, sep=SEP, cls_global=cls_global, sep_global=sep_global)


def test_window_rows() -> None:
    layout = WindowLayout(max_len=6, special=special(), dtype=np.dtype(np.uint16))

    block = layout.add(encoded([10, 11, 12, 13, 14], [], [20, 21, 22, 23]), first_document=7)

    assert block.input_ids.tolist() == [
        [CLS, 10, 11, 12, 13, SEP],
        [CLS, 14, SEP, PAD, PAD, PAD],
        [CLS, SEP, PAD, PAD, PAD, PAD],
        [CLS, 20, 21, 22, 23, SEP],
    ]
    assert block.index_columns["document_index"].to_pylist() == [7, 7, 8, 9]
    assert block.index_columns["window_index"].to_pylist() == [0, 1, 0, 0]
    assert block.row_tokens.tolist() == [6, 3, 2, 6]
    assert block.document_padding.tolist() == [3, 4, 0]


def test_window_rows_continue_numbering() -> None:
    layout = WindowLayout(max_len=6, special=special(), dtype=np.dtype(np.uint16))
    layout.add(encoded([10, 11, 12, 13, 14]), first_document=0)

    block = layout.add(encoded([20]), first_document=1)

    assert block.document_rows.tolist() == [2]
    assert block.document_offsets.tolist() == [1]


def test_window_global_mask() -> None:
    layout = WindowLayout(max_len=6, special=special(cls_global=True), dtype=np.dtype(np.uint16))

    block = layout.add(encoded([10, 11, 12, 13, 14], global_tokens=(11, 14)), first_document=0)

    assert block.global_mask.tolist() == [
        [True, False, True, False, False, False],
        [True, True, False, False, False, False],
    ]
    assert block.document_global.tolist() == [4]


def test_window_sep_global() -> None:
    layout = WindowLayout(max_len=6, special=special(sep_global=True), dtype=np.dtype(np.uint16))

    block = layout.add(encoded([10, 11]), first_document=0)

    assert block.global_mask.tolist() == [[False, False, False, True, False, False]]


def test_window_rejects_short_rows() -> None:
    with pytest.raises(ValueError, match="at least 3"):
        WindowLayout(max_len=2, special=special(), dtype=np.dtype(np.uint16))


def test_packed_rows_across_batches() -> None:
    layout = PackedLayout(max_len=4, special=special(sep_global=True), dtype=np.dtype(np.uint16))

    first = layout.add(encoded([10, 11, 12], [20], global_tokens=(20,)), first_document=0)
    second = layout.add(encoded([30, 31, 32, 33, 34]), first_document=2)
    third = layout.add(encoded([40]), first_document=3)
    last = layout.finish()

    assert first.input_ids.tolist() == [[10, 11, 12, SEP]]
    assert second.input_ids.tolist() == [[20, SEP, 30, 31], [32, 33, 34, SEP]]
    assert len(third) == 0
    assert last is not None
    assert last.input_ids.tolist() == [[40, SEP, PAD, PAD]]
    assert first.index_columns["document_indices"].to_pylist() == [[0]]
    assert second.index_columns["document_indices"].to_pylist() == [[1, 2], [2]]
    assert second.index_columns["document_offsets"].to_pylist() == [[0, 2], [0]]
    assert last.index_columns["document_indices"].to_pylist() == [[3]]
    assert last.row_tokens.tolist() == [2]
    assert second.global_mask.tolist() == [[True, True, False, False], [False, False, False, True]]


def test_packed_document_positions() -> None:
    layout = PackedLayout(max_len=4, special=special(), dtype=np.dtype(np.uint16))

    first = layout.add(encoded([10, 11, 12], [20]), first_document=0)
    second = layout.add(encoded([30, 31, 32, 33, 34]), first_document=2)

    assert first.document_rows.tolist() == [0, 1]
    assert first.document_offsets.tolist() == [0, 0]
    assert second.document_rows.tolist() == [1]
    assert second.document_offsets.tolist() == [2]
    assert second.document_windows.tolist() == [2]


def test_packed_finish_on_row_boundary() -> None:
    layout = PackedLayout(max_len=4, special=special(), dtype=np.dtype(np.uint16))
    layout.add(encoded([10, 11, 12]), first_document=0)

    assert layout.finish() is None


def test_record_batch_types() -> None:
    layout = WindowLayout(max_len=6, special=special(), dtype=np.dtype(np.uint16))
    block = layout.add(encoded([10, 11]), first_document=0)

    batch = block.to_record_batch(shard_schema("window", 6, np.dtype(np.uint16)))

    assert batch.schema.field("input_ids").type == pa.list_(pa.uint16(), 6)
    assert batch.schema.field("global_mask").type == pa.list_(pa.bool_(), 6)
