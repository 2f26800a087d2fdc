from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from pipeline.config import Config
from pipeline.data import ShardDataset, ShardIterableDataset, ShardLoader, ShardReader
from tests.shards.helpers import read_split


def arrow_rows(folder) -> tuple[np.ndarray, np.ndarray]:
    table = read_split(folder)
    max_len = len(table.column("input_ids")[0])
    ids = table.column("input_ids").combine_chunks().flatten().to_numpy().reshape(-1, max_len)
    mask = table.column("global_mask").combine_chunks().flatten().to_numpy(zero_copy_only=False)
    return ids, mask.reshape(-1, max_len)


def row_indices(batches) -> list[int]:
    return [int(index) for batch in batches for index in batch["row_index"]]


def test_sample_matches_arrow(shared_run: Config) -> None:
    folder = shared_run.shards_dir / "train"
    ids, mask = arrow_rows(folder)
    dataset = ShardDataset(folder, shuffle=False)

    for index in (0, 1, 7, len(dataset) - 1):
        sample = dataset[index]
        assert sample["input_ids"].tolist() == ids[index].tolist()
        assert sample["global_mask"].tolist() == mask[index].tolist()
        assert sample["attention_mask"].tolist() == (ids[index] != 0).tolist()
        assert int(sample["row_index"]) == index
    assert len(dataset) == len(ids)


def test_sample_types(shared_run: Config) -> None:
    sample = ShardDataset(shared_run.shards_dir / "train")[0]

    assert sample["input_ids"].dtype == torch.int64
    assert sample["global_mask"].dtype == torch.bool
    assert sample["attention_mask"].dtype == torch.bool
    assert sample["input_ids"].shape == (64,)


def test_batch_equals_samples(packed_run: Config) -> None:
    dataset = ShardDataset(packed_run.shards_dir / "train", seed=3)

    batch = dataset[[5, 900, 3, 5]]

    for position, index in enumerate([5, 900, 3, 5]):
        for key in ("input_ids", "global_mask", "attention_mask", "row_index"):
            assert torch.equal(batch[key][position], dataset[index][key])


def test_mask_unaligned_rows(shared_run: Config, tmp_path) -> None:
    import shutil

    from pipeline import shards
    from pipeline.config import parse_config

    config = parse_config(
        {
            "corpora_dir": str(shared_run.corpora_dir),
            "outputs_dir": str(tmp_path / "outputs"),
            "sources": {"livedoor": {}},
            "shards": {"max_len": 61, "global_mask": ["cls", "headings", "sentence_end"]},
        }
    )
    shutil.copytree(shared_run.tokenizer_dir, config.tokenizer_dir)
    shards.run(config)
    folder = config.shards_dir / "train"
    ids, mask = arrow_rows(folder)
    rows = np.array([0, 3, 101, len(ids) - 1, 2])

    batch = ShardDataset(folder, shuffle=False)[rows.tolist()]

    assert batch["global_mask"].numpy().tolist() == mask[rows].tolist()
    assert batch["input_ids"].numpy().tolist() == ids[rows].tolist()


def test_shuffle_seeded(shared_run: Config) -> None:
    folder = shared_run.shards_dir / "train"
    first = ShardDataset(folder, seed=1)
    again = ShardDataset(folder, seed=1)
    other_seed = ShardDataset(folder, seed=2)

    order = first[list(range(50))]["row_index"].tolist()
    first.set_epoch(1)

    assert again[list(range(50))]["row_index"].tolist() == order
    assert other_seed[list(range(50))]["row_index"].tolist() != order
    assert first[list(range(50))]["row_index"].tolist() != order
    assert sorted(first[list(range(len(first)))]["row_index"].tolist()) == list(range(len(first)))


def test_memory_mapped(shared_run: Config) -> None:
    reader = ShardReader(shared_run.shards_dir / "train")

    # The token arrays are views into the mapped files, not copies.
    assert all(not ids.flags.owndata for ids in reader._ids)
    assert all(not ids.flags.writeable for ids in reader._ids)


def test_root_folder_names_split(shared_run: Config) -> None:
    with pytest.raises(FileNotFoundError, match="contains the split folders train, validation"):
        ShardDataset(shared_run.shards_dir)


@pytest.mark.parametrize("kind", ["map", "iterable"])
def test_ranks_and_workers_cover_rows(packed_run: Config, kind: str) -> None:
    folder = packed_run.shards_dir / "train"
    seen: list[int] = []
    for rank in (0, 1):
        if kind == "map":
            dataset: ShardDataset | ShardIterableDataset = ShardDataset(folder, rank=rank, world_size=2, seed=5)
            loader = DataLoader(dataset, batch_size=16, num_workers=2)
        else:
            dataset = ShardIterableDataset(folder, batch_size=16, rank=rank, world_size=2, seed=5)
            loader = DataLoader(dataset, batch_size=None, num_workers=2)
        seen += row_indices(loader)

    rows = ShardReader(folder).rows
    assert len(seen) == rows
    assert sorted(seen) == list(range(rows))


def test_iterable_keeps_epoch_order(packed_run: Config) -> None:
    folder = packed_run.shards_dir / "train"
    expected = ShardDataset(folder, rank=1, world_size=2, seed=5)[list(range(100))]["row_index"].tolist()

    dataset = ShardIterableDataset(folder, batch_size=10, rank=1, world_size=2, seed=5)
    delivered = row_indices(DataLoader(dataset, batch_size=None, num_workers=2))

    assert delivered[:100] == expected


def test_drop_last_equal_shares(packed_run: Config) -> None:
    folder = packed_run.shards_dir / "train"
    lengths = [len(ShardDataset(folder, rank=rank, world_size=3, drop_last=True)) for rank in range(3)]

    assert lengths == [ShardReader(folder).rows // 3] * 3


@pytest.mark.parametrize("kind", ["map", "iterable"])
def test_resume_mid_epoch(shared_run: Config, kind: str) -> None:
    folder = shared_run.shards_dir / "train"

    def build() -> ShardLoader:
        if kind == "map":
            return ShardLoader(ShardDataset(folder, seed=9), batch_size=32, num_workers=2)
        return ShardLoader(ShardIterableDataset(folder, batch_size=32, seed=9), num_workers=2)

    uninterrupted = row_indices(build())
    interrupted = build()
    consumed = []
    for step, batch in enumerate(interrupted):
        consumed.append(batch)
        if step == 6:
            break
    state = interrupted.state_dict()

    resumed = build()
    resumed.load_state_dict(state)
    rest = row_indices(resumed)

    assert state["position"] == 7 * 32
    assert row_indices(consumed) + rest == uninterrupted


def test_resume_other_seed_rejected(shared_run: Config) -> None:
    folder = shared_run.shards_dir / "train"
    state = ShardDataset(folder, seed=1).state_dict(samples_seen=10)

    with pytest.raises(ValueError, match="seed=1"):
        ShardDataset(folder, seed=2).load_state_dict(state)


def test_range_index_is_slice(shared_run: Config) -> None:
    dataset = ShardDataset(shared_run.shards_dir / "train", seed=4)

    by_range = dataset[range(10, 42)]
    by_list = dataset[list(range(10, 42))]

    for key in ("input_ids", "global_mask", "attention_mask", "row_index"):
        assert torch.equal(by_range[key], by_list[key])


def test_batch_pickles_as_one_buffer(shared_run: Config) -> None:
    import pickle

    batch = ShardDataset(shared_run.shards_dir / "train")[[0, 1, 2]]
    restored = pickle.loads(pickle.dumps(batch))
    extended = pickle.loads(pickle.dumps({**batch, "labels": batch["input_ids"] + 1}))

    storages = {value.untyped_storage().data_ptr() for value in restored.values()}
    assert len(storages) == 1
    assert all(torch.equal(restored[key], batch[key]) for key in batch)
    assert torch.equal(extended["labels"], batch["input_ids"] + 1)


def test_loader_rejects_persistent_workers(shared_run: Config) -> None:
    with pytest.raises(ValueError, match="persistent_workers"):
        ShardLoader(ShardDataset(shared_run.shards_dir / "train"), num_workers=1, persistent_workers=True)


def test_rank_from_distributed(shared_run: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch.distributed as dist

    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "get_rank", lambda: 1)
    monkeypatch.setattr(dist, "get_world_size", lambda: 2)
    folder = shared_run.shards_dir / "train"

    dataset = ShardDataset(folder, seed=3)

    assert (dataset.order.rank, dataset.order.world_size) == (1, 2)
    assert len(dataset) == ShardReader(folder).rows // 2


def test_invalid_rank(shared_run: Config) -> None:
    with pytest.raises(ValueError, match="rank 2 of 2"):
        ShardDataset(shared_run.shards_dir / "train", rank=2, world_size=2)
