from __future__ import annotations

import json

import pytest
import torch
from torch.utils.data import DataLoader

from pipeline.config import Config
from pipeline.data import ShardDataset


def test_dataloader_batch_shape(shared_run: Config) -> None:
    loader = DataLoader(
        ShardDataset(shared_run.shards_dir), batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(0)
    )

    batch = next(iter(loader))

    assert batch["input_ids"].shape == (8, 64)
    assert batch["input_ids"].dtype == torch.int64
    assert batch["global_mask"].shape == (8, 64)
    assert batch["global_mask"].dtype == torch.bool


def test_items_match_arrow(shared_run: Config) -> None:
    import pyarrow as pa

    dataset = ShardDataset(shared_run.shards_dir)
    manifest = json.loads((shared_run.shards_dir / "manifest.json").read_text())
    with pa.ipc.open_stream(pa.memory_map(str(shared_run.shards_dir / manifest["shards"][0]["file"]))) as reader:
        table = reader.read_all()

    for index in (0, 1, 7, len(dataset) - 1):
        row = table.slice(index, 1).to_pylist()[0]
        item = dataset[index]
        assert item["input_ids"].tolist() == row["input_ids"]
        assert item["global_mask"].tolist() == row["global_mask"]
    assert len(dataset) == manifest["rows"]


def test_out_of_range_index(shared_run: Config) -> None:
    dataset = ShardDataset(shared_run.shards_dir)

    with pytest.raises(IndexError):
        dataset[len(dataset)]


def test_missing_folder_says_how(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="make shards"):
        ShardDataset(tmp_path)
