"""Readers used by the shard and loader tests, written with plain pyarrow."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa


def read_manifest(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


def read_split(folder: Path) -> pa.Table:
    """Return every row of a split folder as one table."""
    manifest = read_manifest(folder)
    tables = []
    for shard in manifest["shards"]:
        with pa.ipc.open_stream(pa.memory_map(str(folder / shard["file"]))) as reader:
            tables.append(reader.read_all())
    return pa.concat_tables(tables).combine_chunks()


def read_documents(folder: Path) -> pa.Table:
    with pa.ipc.open_stream(pa.memory_map(str(folder / "documents.arrow"))) as reader:
        return reader.read_all()


def split_document_index(folder: Path) -> list[int]:
    """Return, per row of a window-layout split, the row of its document in ``documents.arrow``."""
    indices = []
    for shard in read_manifest(folder)["shards"]:
        with pa.ipc.open_stream(pa.memory_map(str(folder / shard["file"]))) as reader:
            column = reader.read_all().column("document_index").to_pylist()
        indices.extend(shard["first_document"] + index for index in column)
    return indices


def split_document_indices(folder: Path) -> list[list[int]]:
    """Return, per row of a packed-layout split, the rows of its documents in ``documents.arrow``."""
    indices = []
    for shard in read_manifest(folder)["shards"]:
        with pa.ipc.open_stream(pa.memory_map(str(folder / shard["file"]))) as reader:
            column = reader.read_all().column("document_indices").to_pylist()
        indices.extend([shard["first_document"] + index for index in row] for row in column)
    return indices
