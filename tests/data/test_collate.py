from __future__ import annotations

import pytest
import torch

from pipeline.config import Config
from pipeline.data import IGNORE_INDEX, MaskedLanguageModelCollator, ShardDataset

SPECIAL = torch.tensor([0, 1, 2, 3, 4])
MASK = 3


@pytest.fixture(scope="module")
def dataset(shared_run: Config) -> ShardDataset:
    return ShardDataset(shared_run.shards_dir / "train", seed=0)


@pytest.fixture(scope="module")
def batch(dataset: ShardDataset) -> dict[str, torch.Tensor]:
    return dataset[list(range(1024))]


def test_specials_never_selected(dataset: ShardDataset, batch: dict[str, torch.Tensor]) -> None:
    collated = MaskedLanguageModelCollator.from_manifest(dataset.manifest, probability=0.5)(batch)
    special = torch.isin(batch["input_ids"], SPECIAL)

    assert (collated["labels"][special] == IGNORE_INDEX).all()
    assert torch.equal(collated["input_ids"][special], batch["input_ids"][special])


def test_labels_hold_originals(dataset: ShardDataset, batch: dict[str, torch.Tensor]) -> None:
    collated = MaskedLanguageModelCollator.from_manifest(dataset.manifest)(batch)
    selected = collated["labels"] != IGNORE_INDEX

    assert torch.equal(collated["labels"][selected], batch["input_ids"][selected])
    assert torch.equal(collated["input_ids"][~selected], batch["input_ids"][~selected])


def test_default_shares(dataset: ShardDataset, batch: dict[str, torch.Tensor]) -> None:
    collated = MaskedLanguageModelCollator.from_manifest(dataset.manifest, seed=4)(batch)
    content = ~torch.isin(batch["input_ids"], SPECIAL)
    selected = collated["labels"] != IGNORE_INDEX
    masked = selected & (collated["input_ids"] == MASK)
    unchanged = selected & (collated["input_ids"] == batch["input_ids"])
    replaced = selected & ~masked & ~unchanged

    # Over ~50,000 content tokens, each share lies within a few standard deviations of its rate.
    assert selected.sum() / content.sum() == pytest.approx(0.15, abs=0.01)
    assert masked.sum() / selected.sum() == pytest.approx(0.8, abs=0.02)
    assert replaced.sum() / selected.sum() == pytest.approx(0.1 * (1 - 1 / 4000), abs=0.015)
    assert unchanged.sum() / selected.sum() == pytest.approx(0.1, abs=0.015)


def test_random_tokens_not_special(dataset: ShardDataset, batch: dict[str, torch.Tensor]) -> None:
    collated = MaskedLanguageModelCollator.from_manifest(dataset.manifest, mask_share=0.0, random_share=1.0)(batch)
    selected = collated["labels"] != IGNORE_INDEX

    assert selected.any()
    assert not torch.isin(collated["input_ids"][selected], SPECIAL).any()
    assert (collated["input_ids"][selected] < 4000).all()


def test_seeded(dataset: ShardDataset, batch: dict[str, torch.Tensor]) -> None:
    first = MaskedLanguageModelCollator.from_manifest(dataset.manifest, seed=7)(batch)
    again = MaskedLanguageModelCollator.from_manifest(dataset.manifest, seed=7)(batch)
    other = MaskedLanguageModelCollator.from_manifest(dataset.manifest, seed=8)(batch)

    assert torch.equal(first["input_ids"], again["input_ids"])
    assert torch.equal(first["labels"], again["labels"])
    assert not torch.equal(first["labels"], other["labels"])


def test_other_keys_pass_through(dataset: ShardDataset, batch: dict[str, torch.Tensor]) -> None:
    collated = MaskedLanguageModelCollator.from_manifest(dataset.manifest)(batch)

    assert collated["global_mask"] is batch["global_mask"]
    assert collated["attention_mask"] is batch["attention_mask"]


def test_invalid_shares() -> None:
    with pytest.raises(ValueError, match="sum of at most 1"):
        MaskedLanguageModelCollator(mask_id=MASK, vocab_size=100, special_ids=[0, 1, 2, 3, 4], mask_share=0.95)
