"""Check written shards against their manifests: ``python -m pipeline verify --config FILE``.

For each split folder, every file listed in ``manifest.json`` must exist with the recorded
SHA-256. Every shard must have:

- the layout's schema and the recorded row and non-padding token counts;
- token ids below the vocabulary size and no global ``[PAD]`` token;
- document indices inside its unit's documents table;
- in the window layout, ``[CLS]`` as the first token of every row.

The first failure raises :class:`ShardError` naming the shard and, for row checks, the row.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from pipeline.atomic import sha256_file
from pipeline.shards.schema import DOCUMENTS_FILE, MANIFEST_FILE, SPLITS, shard_schema


class ShardError(ValueError):
    """A shard or manifest that does not match; the message names the file and row."""


def verify_split(folder: Path) -> dict[str, Any]:
    """Verify one split folder and return its manifest.

    Raises:
        ShardError: The first mismatch found, with the file name and the row inside the shard.
    """
    manifest_path = folder / MANIFEST_FILE
    if not manifest_path.exists():
        raise ShardError(f"{manifest_path} not found; run `python -m pipeline shards` first")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ShardError(f"{manifest_path} is not valid JSON: {error}; rerun the shards stage") from None

    documents = manifest["documents_file"]
    _check_checksum(folder / DOCUMENTS_FILE, documents["sha256"])
    max_len = int(manifest["max_len"])
    expected_schema = shard_schema(manifest["layout"], max_len, np.dtype(manifest["dtype"]))
    if "units" not in manifest:
        raise ShardError(f"{manifest_path} lists no units, so an earlier version wrote it; rerun the shards stage")
    unit_documents = {unit["name"]: unit["documents"] for unit in manifest["units"]}
    for shard in manifest["shards"]:
        path = folder / shard["file"]
        _check_checksum(path, shard["sha256"])
        _check_rows(path, shard, manifest, expected_schema, unit_documents[shard["unit"]])
    return manifest


def verify(root: Path, *, tokenizer_path: Path | None = None) -> list[dict[str, Any]]:
    """Verify the ``train`` and ``validation`` folders under the shards folder ``root``.

    Args:
        root: The shards folder.
        tokenizer_path: The current ``tokenizer.json``. When given and present, its SHA-256
            must equal the one the manifests record, so shards encoded with an older
            tokenizer fail. Default: ``None``, which skips that check.
    """
    manifests = [verify_split(root / split) for split in SPLITS]
    if tokenizer_path is not None and tokenizer_path.exists():
        current = sha256_file(tokenizer_path)
        for split, manifest in zip(SPLITS, manifests, strict=True):
            if manifest["tokenizer_sha256"] != current:
                recorded = manifest["tokenizer_sha256"]
                raise ShardError(
                    f"{root / split / MANIFEST_FILE} was written with tokenizer SHA-256 {recorded}, "
                    f"but {tokenizer_path} now has {current}; rerun the shards stage with --fresh"
                )
    return manifests


def _check_checksum(path: Path, expected: str) -> None:
    if not path.exists():
        raise ShardError(f"{path} is listed in the manifest but missing; rerun the shards stage")
    actual = sha256_file(path)
    if actual != expected:
        raise ShardError(f"{path}: SHA-256 {actual} differs from the manifest's {expected}; the file changed")


def _check_rows(
    path: Path, shard: dict[str, Any], manifest: dict[str, Any], expected_schema: pa.Schema, documents: int
) -> None:
    """Check the rows of one shard whose unit has ``documents`` documents."""
    special = manifest["special_ids"]
    pad, cls = special["[PAD]"], special["[CLS]"]
    rows = tokens = 0
    with pa.ipc.open_stream(pa.memory_map(str(path))) as reader:
        if not reader.schema.equals(expected_schema):
            raise ShardError(f"{path}: schema {reader.schema} differs from the expected {expected_schema}")
        for batch in reader:
            ids = batch.column("input_ids").flatten().to_numpy().reshape(batch.num_rows, -1)
            mask = batch.column("global_mask").flatten().to_numpy(zero_copy_only=False).reshape(batch.num_rows, -1)
            checks = [
                (
                    (ids >= manifest["vocab_size"]).any(axis=1),
                    f"token id at or above vocab_size {manifest['vocab_size']}",
                ),
                ((mask & (ids == pad)).any(axis=1), "[PAD] token marked global"),
            ]
            if manifest["layout"] == "window":
                checks.append((ids[:, 0] != cls, "first token is not [CLS]"))
                indices = batch.column("document_index").to_numpy()
                checks.append((indices >= documents, f"document_index outside the {documents} documents of its unit"))
            else:
                column = batch.column("document_indices")
                outside = column.flatten().to_numpy() >= documents
                row_of_value = np.repeat(np.arange(batch.num_rows), np.diff(column.offsets.to_numpy()))
                bad_rows = np.zeros(batch.num_rows, dtype=bool)
                bad_rows[row_of_value[outside]] = True
                checks.append((bad_rows, f"document_indices outside the {documents} documents of its unit"))
            for bad, reason in checks:
                if bad.any():
                    raise ShardError(f"{path}: row {rows + int(np.argmax(bad))}: {reason}")
            rows += batch.num_rows
            tokens += int(np.count_nonzero(ids != pad))

    if rows != shard["rows"]:
        raise ShardError(f"{path}: {rows} rows, but the manifest lists {shard['rows']}")
    if tokens != shard["tokens"]:
        raise ShardError(f"{path}: {tokens} non-padding tokens, but the manifest lists {shard['tokens']}")
