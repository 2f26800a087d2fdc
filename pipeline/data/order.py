"""Sample order of an epoch: seeded shuffling, then a disjoint share per distributed rank.

The order of epoch ``e`` is a permutation of all rows drawn from ``numpy.random.default_rng``
seeded with ``[seed, e]``, so every rank and every worker derives the same permutation without
communicating. Rank ``r`` of ``world_size`` takes positions ``r, r + world_size, ...``, so the
ranks' shares are disjoint, cover every row, and differ in length by at most one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


def resolve_rank(rank: int | None, world_size: int | None) -> tuple[int, int]:
    """Return ``(rank, world_size)``, defaulting to ``torch.distributed`` when it is initialized, else ``(0, 1)``."""
    if rank is None or world_size is None:
        import torch.distributed as dist

        initialized = dist.is_available() and dist.is_initialized()
        if rank is None:
            rank = dist.get_rank() if initialized else 0
        if world_size is None:
            world_size = dist.get_world_size() if initialized else 1
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, world_size) and world_size at least 1, got rank {rank} of {world_size}")
    return rank, world_size


@dataclass
class EpochOrder:
    """Epoch order of the rows one rank reads, and its position in that order.

    Args:
        rows: Rows in the split.
        seed: Shuffle seed.
        shuffle: Whether to permute rows; ``False`` keeps the shard order.
        rank: This rank.
        world_size: Number of ranks.
        drop_last: Whether every rank gets ``rows // world_size`` samples, so all ranks take the
            same number of steps. Up to ``world_size - 1`` rows of each epoch are then left out.
        epoch: Current epoch.
        position: Samples of this rank's epoch order already consumed.
    """

    rows: int
    seed: int
    shuffle: bool
    rank: int
    world_size: int
    drop_last: bool
    epoch: int = 0
    position: int = 0

    def __post_init__(self) -> None:
        self._cached: tuple[int, np.ndarray] | None = None

    def indices(self) -> np.ndarray:
        """Return this rank's rows for the current epoch, all of them, consumed or not."""
        if self._cached is not None and self._cached[0] == self.epoch:
            return self._cached[1]
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(self.rows)
        else:
            order = np.arange(self.rows, dtype=np.int64)
        if self.drop_last:
            order = order[: self.rows // self.world_size * self.world_size]
        indices = order[self.rank :: self.world_size]
        self._cached = (self.epoch, indices)
        return indices

    def remaining(self) -> np.ndarray:
        """Return the rows of the current epoch not yet consumed, in order."""
        return self.indices()[self.position :]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.position = 0

    def state_dict(self, samples_seen: int) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "position": self.position + samples_seen,
            "seed": self.seed,
            "shuffle": self.shuffle,
            "rows": self.rows,
            "rank": self.rank,
            "world_size": self.world_size,
            "drop_last": self.drop_last,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key in ("seed", "shuffle", "rows", "rank", "world_size", "drop_last"):
            if state[key] != getattr(self, key):
                raise ValueError(
                    f"cannot resume: the saved state has {key}={state[key]!r} but this dataset has "
                    f"{getattr(self, key)!r}; build the dataset with the settings it was saved with"
                )
        if not 0 <= state["position"] <= len(self.indices()):
            raise ValueError(f"cannot resume: position {state['position']} is outside the epoch")
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])
