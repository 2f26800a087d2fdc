"""Train a small sparse-attention Transformer on the shards, on CPU.

Each token attends to the tokens within ``--window`` positions and to every global token
(``global_mask``); global tokens attend to every token. Positions enter through rotary
embeddings on queries and keys. ``--objective mlm`` trains masked-language modelling on
window-layout shards with :class:`pipeline.data.MaskedLanguageModelCollator`.
``--objective causal`` trains next-token prediction on packed shards. There the causal mask
also applies to global tokens, so they attend to every earlier token.

    python -m examples.train_sparse --shards outputs/shards/train --objective mlm --steps 200

The model takes each batch exactly as :class:`pipeline.data.ShardLoader` yields it.
"""

from __future__ import annotations

import argparse
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from pipeline.data import IGNORE_INDEX, MaskedLanguageModelCollator, ShardIterableDataset, ShardLoader

logger = logging.getLogger("train_sparse")


@dataclass(frozen=True)
class ModelConfig:
    """Size of the model.

    Args:
        vocab_size: Vocabulary size.
        dim: Width of the residual stream. Default: 64.
        layers: Transformer blocks. Default: 2.
        heads: Attention heads; ``dim`` must divide evenly. Default: 4.
        window: Tokens on each side that every token attends to. Default: 8.
        causal: Whether a token attends only to itself and earlier tokens. Default: False.
    """

    vocab_size: int
    dim: int = 64
    layers: int = 2
    heads: int = 4
    window: int = 8
    causal: bool = False


def sparse_attention_mask(
    global_mask: torch.Tensor, attention_mask: torch.Tensor, *, window: int, causal: bool
) -> torch.Tensor:
    """Return a ``[batch, 1, length, length]`` bool mask, true where query ``i`` may attend to key ``j``.

    NOTE: the pattern is applied as a mask on dense scores, so memory grows with ``length**2``;
    a block-sparse kernel would be needed for long rows.
    """
    length = global_mask.shape[1]
    positions = torch.arange(length)
    local = (positions[:, None] - positions[None, :]).abs() <= window
    allowed = local[None] | global_mask[:, None, :] | global_mask[:, :, None]
    allowed = allowed & attention_mask[:, None, :]
    if causal:
        allowed = allowed & (positions[None, :] <= positions[:, None])
    # Every query keeps its own position, so a padding query never has an empty row.
    allowed = allowed | torch.eye(length, dtype=torch.bool)
    return allowed[:, None]


def rotary_tables(length: int, head_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the cosine and sine tables of rotary embeddings, each ``[length, head_dim / 2]``."""
    frequencies = 10000.0 ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    angles = torch.arange(length, dtype=torch.float32)[:, None] * frequencies[None, :]
    return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate each pair of channels of ``x`` (``[batch, heads, length, head_dim]``) by its position's angle."""
    even, odd = x[..., 0::2], x[..., 1::2]
    return torch.stack([even * cos - odd * sin, even * sin + odd * cos], dim=-1).flatten(-2)


class Block(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.heads = config.heads
        self.attention_norm = nn.LayerNorm(config.dim)
        self.qkv = nn.Linear(config.dim, 3 * config.dim, bias=False)
        self.output = nn.Linear(config.dim, config.dim, bias=False)
        self.mlp_norm = nn.LayerNorm(config.dim)
        self.mlp = nn.Sequential(
            nn.Linear(config.dim, 4 * config.dim), nn.GELU(), nn.Linear(4 * config.dim, config.dim)
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        batch, length, dim = x.shape
        qkv = self.qkv(self.attention_norm(x)).view(batch, length, 3, self.heads, dim // self.heads)
        query, key, value = qkv.permute(2, 0, 3, 1, 4)
        query, key = apply_rotary(query, cos, sin), apply_rotary(key, cos, sin)
        attended = F.scaled_dot_product_attention(query, key, value, attn_mask=mask)
        x = x + self.output(attended.transpose(1, 2).reshape(batch, length, dim))
        return x + self.mlp(self.mlp_norm(x))


class SparseTransformer(nn.Module):
    """Token embedding, sparse-attention blocks and an output head tied to the embedding, plus a bias."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.dim % config.heads or (config.dim // config.heads) % 2:
            raise ValueError(f"dim {config.dim} must split into {config.heads} heads of even width")
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.dim)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.layers))
        self.norm = nn.LayerNorm(config.dim)
        self.output_bias = nn.Parameter(torch.zeros(config.vocab_size))
        nn.init.normal_(self.embedding.weight, std=0.02)

    def forward(self, input_ids: torch.Tensor, global_mask: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Return the final hidden states ``[batch, length, dim]``; :meth:`logits` maps them to the vocabulary."""
        config = self.config
        mask = sparse_attention_mask(global_mask, attention_mask, window=config.window, causal=config.causal)
        cos, sin = rotary_tables(input_ids.shape[1], config.dim // config.heads)
        x = self.embedding(input_ids)
        for block in self.blocks:
            x = block(x, mask, cos, sin)
        return self.norm(x)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden @ self.embedding.weight.T + self.output_bias


def batch_loss(model: SparseTransformer, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Return the mean cross-entropy: of ``labels`` for MLM, of the next token for causal models.

    Only positions that have a target go through the output layer, which for MLM is about one
    token in seven.
    """
    hidden = model(batch["input_ids"], batch["global_mask"], batch["attention_mask"])
    if model.config.causal:
        has_target = batch["attention_mask"][:, 1:]
        hidden, targets = hidden[:, :-1][has_target], batch["input_ids"][:, 1:][has_target]
    else:
        selected = batch["labels"] != IGNORE_INDEX
        hidden, targets = hidden[selected], batch["labels"][selected]
    return F.cross_entropy(model.logits(hidden), targets)


def train(
    shards: Path,
    *,
    objective: str,
    steps: int,
    batch_size: int = 16,
    learning_rate: float = 3e-3,
    seed: int = 0,
    workers: int = 0,
    threads: int | None = None,
    log_every: int = 10,
    model_config: dict[str, int] | None = None,
) -> list[float]:
    """Train for ``steps`` batches of the split folder ``shards`` and return the loss of each step.

    ``threads`` sets torch's intra-op threads for the run and restores them afterwards; one
    thread avoids the slowdown of spinning OpenMP threads on a busy machine.
    """
    if objective not in ("mlm", "causal"):
        raise ValueError(f"unknown objective {objective!r}; supported objectives: mlm, causal")
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _train(shards, objective, steps, batch_size, learning_rate, seed, workers, log_every, model_config)
    finally:
        torch.set_num_threads(previous_threads)


def _train(
    shards: Path,
    objective: str,
    steps: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    workers: int,
    log_every: int,
    model_config: dict[str, int] | None,
) -> list[float]:
    torch.manual_seed(seed)
    dataset = ShardIterableDataset(shards, batch_size=batch_size, seed=seed)
    manifest = dataset.manifest
    if not len(dataset):
        raise ValueError(f"{shards} contains no rows; point --shards at a split folder with data")
    expected_layout = "window" if objective == "mlm" else "packed"
    if manifest["layout"] != expected_layout:
        logger.warning(
            "objective %s expects %s shards, but %s has layout %s",
            objective,
            expected_layout,
            shards,
            manifest["layout"],
        )
    collator = MaskedLanguageModelCollator.from_manifest(manifest, seed=seed) if objective == "mlm" else None
    loader = ShardLoader(dataset, num_workers=workers)
    model = SparseTransformer(
        ModelConfig(vocab_size=manifest["vocab_size"], causal=objective == "causal", **(model_config or {}))
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)

    losses: list[float] = []
    epoch = 0
    while len(losses) < steps:
        for batch in loader:
            if collator is not None:
                batch = collator(batch)
            loss = batch_loss(model, batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            if len(losses) % log_every == 0:
                logger.info("step %d: loss %.4f (perplexity %.1f)", len(losses), losses[-1], math.exp(losses[-1]))
            if len(losses) == steps:
                break
        epoch += 1
        dataset.set_epoch(epoch)
    return losses


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shards", type=Path, required=True, help="split folder, such as outputs/shards/train")
    parser.add_argument(
        "--objective", choices=["mlm", "causal"], default="mlm", help="mlm: window shards; causal: packed"
    )
    parser.add_argument("--steps", type=int, default=200, help="optimizer steps (default: 200)")
    parser.add_argument("--batch-size", type=int, default=16, help="rows per batch (default: 16)")
    parser.add_argument("--learning-rate", type=float, default=3e-3, help="AdamW learning rate (default: 3e-3)")
    parser.add_argument("--dim", type=int, default=64, help="model width (default: 64)")
    parser.add_argument("--layers", type=int, default=2, help="Transformer blocks (default: 2)")
    parser.add_argument("--heads", type=int, default=4, help="attention heads (default: 4)")
    parser.add_argument("--window", type=int, default=8, help="local attention radius in tokens (default: 8)")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes (default: 0)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights, shuffling and masking (default: 0)")
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    train(
        arguments.shards,
        objective=arguments.objective,
        steps=arguments.steps,
        batch_size=arguments.batch_size,
        learning_rate=arguments.learning_rate,
        seed=arguments.seed,
        workers=arguments.workers,
        threads=arguments.threads,
        model_config={
            "dim": arguments.dim,
            "layers": arguments.layers,
            "heads": arguments.heads,
            "window": arguments.window,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
