"""The shards open with plain pyarrow and with Hugging Face datasets, without this package."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from datasets import Dataset

from pipeline.config import Config
from tests.shards.helpers import read_manifest


def test_pyarrow_reads_without_copy(shared_run: Config) -> None:
    folder = shared_run.shards_dir / "train"
    shard = folder / read_manifest(folder)["shards"][0]["file"]

    with pa.ipc.open_stream(pa.memory_map(str(shard))) as reader:
        batch = reader.read_next_batch()
        ids = batch.column("input_ids").flatten().to_numpy(zero_copy_only=True).reshape(-1, 64)

    assert ids.dtype == np.uint16
    assert ids.shape == (batch.num_rows, 64)
    assert not ids.flags.owndata
    assert ids[0, 0] == 2


def test_datasets_from_file(shared_run: Config) -> None:
    folder = shared_run.shards_dir / "train"
    manifest = read_manifest(folder)
    shard = folder / manifest["shards"][0]["file"]

    dataset = Dataset.from_file(str(shard))
    row = dataset[0]

    assert len(dataset) == manifest["shards"][0]["rows"]
    assert len(row["input_ids"]) == 64
    assert row["input_ids"][0] == 2
    assert row["global_mask"][0] is True
    assert row["document_index"] == 0


def test_datasets_torch_format(packed_run: Config) -> None:
    folder = packed_run.shards_dir / "train"
    shard = folder / read_manifest(folder)["shards"][0]["file"]

    dataset = Dataset.from_file(str(shard)).with_format("torch", columns=["input_ids", "global_mask"])
    batch = dataset[:4]

    assert tuple(batch["input_ids"].shape) == (4, 64)
    assert tuple(batch["global_mask"].shape) == (4, 64)
