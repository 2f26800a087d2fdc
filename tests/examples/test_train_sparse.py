from __future__ import annotations

import statistics

import torch

from examples.train_sparse import sparse_attention_mask, train
from pipeline.config import Config

TINY = {"dim": 32, "layers": 1, "heads": 2, "window": 4}
# The first loss is near ln(4000) = 8.3 nats; learning token frequencies alone takes it below 7.8.


def test_mlm_loss_falls(shared_run: Config) -> None:
    losses = train(
        shared_run.shards_dir / "train",
        objective="mlm",
        steps=40,
        batch_size=8,
        learning_rate=1e-2,
        threads=1,
        model_config=TINY,
    )

    assert len(losses) == 40
    assert statistics.mean(losses[-10:]) < losses[0] - 0.5


def test_causal_loss_falls(packed_run: Config) -> None:
    losses = train(
        packed_run.shards_dir / "train",
        objective="causal",
        steps=30,
        batch_size=8,
        learning_rate=1e-2,
        model_config=TINY,
    )

    assert statistics.mean(losses[-10:]) < losses[0] - 0.5


def test_attention_pattern() -> None:
    global_mask = torch.tensor([[True, False, False, False, False, False]])
    attention_mask = torch.tensor([[True, True, True, True, True, False]])

    allowed = sparse_attention_mask(global_mask, attention_mask, window=1, causal=False)[0, 0]

    assert allowed[0].tolist() == [True, True, True, True, True, False]
    assert allowed[:, 0].tolist() == [True] * 6
    assert allowed[3].tolist() == [True, False, True, True, True, False]
    assert allowed[5].tolist() == [True, False, False, False, True, True]


def test_causal_pattern() -> None:
    global_mask = torch.tensor([[False, False, True, False]])
    attention_mask = torch.ones(1, 4, dtype=torch.bool)

    allowed = sparse_attention_mask(global_mask, attention_mask, window=0, causal=True)[0, 0]

    assert allowed.tolist() == [
        [True, False, False, False],
        [False, True, False, False],
        [True, True, True, False],
        [False, False, True, True],
    ]
