from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from pipeline.config import Config
from pipeline.shards import sha256_file
from pipeline.shards.verify import ShardError, verify, verify_split
from tests.conftest import REPOSITORY
from tests.shards.helpers import read_manifest


@pytest.fixture
def copied(shared_run: Config, tmp_path: Path) -> Path:
    """Return a writable copy of the shared run's train split."""
    folder = tmp_path / "train"
    shutil.copytree(shared_run.shards_dir / "train", folder)
    return folder


def rewrite_shard(folder: Path, change) -> None:
    """Apply ``change`` to the ids and mask of the first shard, rewrite it and its checksum."""
    manifest = read_manifest(folder)
    path = folder / manifest["shards"][0]["file"]
    with pa.ipc.open_stream(pa.memory_map(str(path))) as reader:
        table = reader.read_all().combine_chunks()
    schema = table.schema
    max_len = manifest["max_len"]
    ids = table.column("input_ids").combine_chunks().flatten().to_numpy().reshape(-1, max_len).copy()
    mask = table.column("global_mask").combine_chunks().flatten().to_numpy(zero_copy_only=False)
    mask = mask.reshape(-1, max_len).copy()
    change(ids, mask)
    columns = [
        pa.FixedSizeListArray.from_arrays(pa.array(ids.reshape(-1)), max_len),
        pa.FixedSizeListArray.from_arrays(pa.array(mask.reshape(-1)), max_len),
        *table.columns[2:],
    ]
    # The table still maps the old file, so the new one is written beside it and renamed.
    rewritten = path.with_name(path.name + ".new")
    with pa.OSFile(str(rewritten), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        writer.write_table(pa.Table.from_arrays(columns, schema=schema))
    rewritten.replace(path)
    manifest["shards"][0]["sha256"] = sha256_file(path)
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_written_shards_pass(shared_run: Config, packed_run: Config) -> None:
    manifests = verify(shared_run.shards_dir) + verify(packed_run.shards_dir)

    assert [manifest["split"] for manifest in manifests] == ["train", "validation"] * 2


def test_changed_bytes_fail(copied: Path) -> None:
    path = copied / "livedoor-documents-00000-shard-00000.arrow"
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))

    with pytest.raises(ShardError, match=r"livedoor-documents-00000-shard-00000\.arrow: SHA-256"):
        verify_split(copied)


def test_missing_cls_names_row(copied: Path) -> None:
    def drop_cls(ids: np.ndarray, mask: np.ndarray) -> None:
        ids[17, 0] = 5

    rewrite_shard(copied, drop_cls)

    with pytest.raises(
        ShardError, match=r"livedoor-documents-00000-shard-00000\.arrow: row 17: first token is not \[CLS\]"
    ):
        verify_split(copied)


def test_global_pad_names_row(copied: Path) -> None:
    changed_rows: list[int] = []

    def mark_pad(ids: np.ndarray, mask: np.ndarray) -> None:
        row = int(np.flatnonzero((ids == 0).any(axis=1))[3])
        mask[row, -1] = True
        changed_rows.append(row)

    rewrite_shard(copied, mark_pad)

    with pytest.raises(ShardError, match=rf"row {changed_rows[0]}: \[PAD\] token marked global"):
        verify_split(copied)


def test_id_above_vocabulary(copied: Path) -> None:
    def raise_id(ids: np.ndarray, mask: np.ndarray) -> None:
        ids[3, 5] = 4000

    rewrite_shard(copied, raise_id)

    with pytest.raises(ShardError, match=r"row 3: token id at or above vocab_size 4000"):
        verify_split(copied)


def test_token_count_mismatch(copied: Path) -> None:
    manifest = read_manifest(copied)
    manifest["shards"][0]["tokens"] += 1
    (copied / "manifest.json").write_text(json.dumps(manifest))

    with pytest.raises(ShardError, match="non-padding tokens, but the manifest lists"):
        verify_split(copied)


def test_cli_exit_code(shared_run: Config, tmp_path: Path) -> None:
    outputs = tmp_path / "outputs"
    shutil.copytree(shared_run.shards_dir, outputs / "shards")
    config = tmp_path / "config.yaml"
    config.write_text(f"outputs_dir: {outputs}\n")
    shard = outputs / "shards" / "validation" / "livedoor-documents-00000-shard-00000.arrow"

    command = [sys.executable, "-m", "pipeline", "verify", "--config", str(config)]
    passed = subprocess.run(command, cwd=REPOSITORY, capture_output=True, text=True, check=False)
    shard.write_bytes(shard.read_bytes() + b"\0")
    failed = subprocess.run(command, cwd=REPOSITORY, capture_output=True, text=True, check=False)

    assert passed.returncode == 0, passed.stderr
    assert failed.returncode == 1
    assert "validation/livedoor-documents-00000-shard-00000.arrow" in failed.stderr


def test_manifest_without_units(copied: Path) -> None:
    manifest = read_manifest(copied)
    del manifest["units"]
    (copied / "manifest.json").write_text(json.dumps(manifest))

    with pytest.raises(ShardError, match="lists no units, so an earlier version wrote it"):
        verify_split(copied)


def test_other_tokenizer_fails(shared_run: Config, tmp_path: Path) -> None:
    other = tmp_path / "tokenizer.json"
    other.write_bytes((shared_run.tokenizer_dir / "tokenizer.json").read_bytes() + b"\n")

    with pytest.raises(ShardError, match="rerun the shards stage with --fresh"):
        verify(shared_run.shards_dir, tokenizer_path=other)


def test_current_tokenizer_passes(shared_run: Config) -> None:
    manifests = verify(shared_run.shards_dir, tokenizer_path=shared_run.tokenizer_dir / "tokenizer.json")

    assert len(manifests) == 2
