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
