"""Files and Arrow schemas of the shards, shared by the writer, the verifier and the loaders.

The shards stage works in units, one per cleaned Parquet file, named ``<source>-<file stem>``
(such as ``livedoor-documents-00000``). ``<outputs_dir>/shards/`` contains:

- ``<unit>.done.json``: the completion marker of each unit (see :mod:`pipeline.units`);
- ``<unit>.summary.json``: each unit's counts per split, from which the manifests are built;
- ``train/`` and ``validation/``, the two split folders.

Each split folder contains:

- ``<unit>-shard-NNNNN.arrow``: Arrow IPC stream files of one unit's rows, each a few large
  record batches, numbered from 0 within the unit.
- ``<unit>-documents.arrow``: the documents of one unit, in the order they were written.
- ``documents.arrow``: the documents tables of all units, concatenated in unit order.
- ``manifest.json``: settings, per-source statistics, the units in order, and each shard's
  unit, rows, tokens and SHA-256. The shards in manifest order form the split's rows.

Shard columns. ``input_ids`` and ``global_mask`` are fixed-size lists, so the values buffer of
a record batch is a ``[rows, max_len]`` array that numpy reads in place:

======================  ====================================  ====================================
column                  type                                  meaning
======================  ====================================  ====================================
``input_ids``           fixed_size_list<uint16>[max_len]      token ids; ``uint32`` when the
                                                              vocabulary has over 65,536 tokens
``global_mask``         fixed_size_list<bool>[max_len]        true where the token is global
``document_index``      int32 (window layout)                 row of the document in its
                                                              unit's documents table
``window_index``        int32 (window layout)                 row number inside its document
``document_indices``    list<int32> (packed layout)           documents with tokens in the row
``document_offsets``    list<int32> (packed layout)           position in the row of each of
                                                              those documents' first token here
======================  ====================================  ====================================

Window rows are ``[CLS]``, up to ``max_len - 2`` content tokens, ``[SEP]``, then ``[PAD]``.
Packed rows are a stream of documents, each followed by ``[SEP]``, cut every ``max_len``
tokens. A document piece at offset 0 whose index equals the previous row's last index
continues that document. Each unit packs its own documents, so only the last packed row of
each unit is padded and no row contains documents of two units.

Document indices in the shards count within the unit, so that a unit's shards do not change
when another unit changes. Each shard's manifest entry has ``first_document``, the row in the
split's ``documents.arrow`` of its unit's first document: add it to get a split-wide index.

Documents table columns: ``id`` (string), ``source`` (string), ``tokens`` (int64, content
tokens without ``[CLS]``/``[SEP]``), ``row`` (int64, row number of its first token) and
``offset`` (int32, position of that token in the row). ``row`` counts within the unit in
``<unit>-documents.arrow`` and across the split, in manifest order, in ``documents.arrow``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

MANIFEST_FILE = "manifest.json"
SUMMARY_SUFFIX = ".summary.json"
DOCUMENTS_FILE = "documents.arrow"
SPLITS = ("train", "validation")
LAYOUTS = ("window", "packed")
FORMAT = "arrow-ipc-stream"

DOCUMENTS_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("source", pa.string()),
        ("tokens", pa.int64()),
        ("row", pa.int64()),
        ("offset", pa.int32()),
    ]
)


def token_dtype(vocab_size: int) -> np.dtype:
    """Return the narrowest unsigned integer type that can store every token id."""
    return np.dtype(np.uint16) if vocab_size <= 1 << 16 else np.dtype(np.uint32)


def shard_schema(layout: str, max_len: int, dtype: np.dtype) -> pa.Schema:
    """Return the Arrow schema of the shards of one layout (``window`` or ``packed``)."""
    fields = [
        ("input_ids", pa.list_(pa.from_numpy_dtype(dtype), max_len)),
        ("global_mask", pa.list_(pa.bool_(), max_len)),
    ]
    if layout == "window":
        fields += [("document_index", pa.int32()), ("window_index", pa.int32())]
    elif layout == "packed":
        fields += [("document_indices", pa.list_(pa.int32())), ("document_offsets", pa.list_(pa.int32()))]
    else:
        raise ValueError(f"unknown shard layout {layout!r}; supported layouts: {', '.join(LAYOUTS)}")
    return pa.schema(fields)


def row_bytes(max_len: int, dtype: np.dtype) -> int:
    """Return the bytes one row takes in the ``input_ids`` and ``global_mask`` columns."""
    return max_len * dtype.itemsize + -(-max_len // 8)


def unit_shard_file(unit: str, index: int) -> str:
    """Return the file name, inside a split folder, of a unit's shard number ``index``."""
    return f"{unit}-shard-{index:05d}.arrow"


def unit_documents_file(unit: str) -> str:
    """Return the file name, inside a split folder, of a unit's documents table."""
    return f"{unit}-documents.arrow"
