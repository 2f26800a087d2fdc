"""PyTorch datasets over one split of the shards, and a loader that can resume mid-epoch.

Both datasets shuffle in the dataset itself (seed and epoch), give each distributed rank a
disjoint share (see :mod:`pipeline.data.order`), and return batches as dicts of
``input_ids`` (int64), ``global_mask``, ``attention_mask`` (bool) and ``row_index`` (int64).
Use them with a plain ``DataLoader`` without ``shuffle=True``, or with :class:`ShardLoader`,
which also records how many samples it yielded so that :meth:`ShardLoader.state_dict`
resumes exactly where training stopped.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, Sampler, get_worker_info

from pipeline.data.order import EpochOrder, resolve_rank
from pipeline.data.reader import ShardReader

Batch = dict[str, torch.Tensor]


class _ShardOrderMixin:
    reader: ShardReader
    order: EpochOrder

    def _setup(
        self,
        folder: Path | str,
        *,
        seed: int,
        shuffle: bool,
        rank: int | None,
        world_size: int | None,
        drop_last: bool,
    ) -> None:
        self.reader = ShardReader(folder)
        rank, world_size = resolve_rank(rank, world_size)
        self.order = EpochOrder(
            rows=self.reader.rows, seed=seed, shuffle=shuffle, rank=rank, world_size=world_size, drop_last=drop_last
        )
        # Computed now so that forked DataLoader workers inherit the order instead of recomputing it.
        self.order.indices()

    @property
    def manifest(self) -> dict[str, Any]:
        return self.reader.manifest

    def set_epoch(self, epoch: int) -> None:
        """Start epoch ``epoch`` from its beginning; call before creating the epoch's iterator."""
        self.order.set_epoch(epoch)
        self.order.indices()

    def state_dict(self, samples_seen: int = 0) -> dict[str, Any]:
        """Return the resume state after ``samples_seen`` more samples of this rank were consumed."""
        return self.order.state_dict(samples_seen)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a state returned by :meth:`state_dict`; call before creating an iterator."""
        self.order.load_state_dict(state)


class ShardDataset(_ShardOrderMixin, Dataset[Batch]):
    """Map-style dataset over the remaining samples of this rank's current epoch.

    Index ``i`` is the ``i``-th remaining sample of the epoch order, so a ``DataLoader`` must
    not shuffle again. ``dataset[i]`` returns one sample with ``[max_len]`` tensors.
    ``dataset[[i, j, ...]]`` and ``dataset[range(i, j)]`` return a whole batch with
    ``[batch, max_len]`` tensors, fetched with one fancy index. ``__getitems__`` gathers the
    same way but returns a list of samples, which is what ``DataLoader(batch_size=...)`` expects.

    Args:
        folder: Split folder, such as ``outputs/shards/train``.
        seed: Shuffle seed. Default: 0.
        shuffle: Whether to permute rows each epoch. Default: True.
        rank: Distributed rank. Default: from ``torch.distributed`` if initialized, else 0.
        world_size: Number of ranks. Default: from ``torch.distributed`` if initialized, else 1.
        drop_last: Give every rank ``rows // world_size`` samples so all take the same number of
            steps, leaving out up to ``world_size - 1`` rows per epoch. Default: False.
    """

    def __init__(
        self,
        folder: Path | str,
        *,
        seed: int = 0,
        shuffle: bool = True,
        rank: int | None = None,
        world_size: int | None = None,
        drop_last: bool = False,
    ) -> None:
        self._setup(folder, seed=seed, shuffle=shuffle, rank=rank, world_size=world_size, drop_last=drop_last)

    def __len__(self) -> int:
        return len(self.order.remaining())

    def __getitem__(self, index: int | Sequence[int] | np.ndarray | range) -> Batch:
        remaining = self.order.remaining()
        if isinstance(index, range) and index.step == 1 and 0 <= index.start <= index.stop <= len(remaining):
            # Consecutive positions of the epoch order: a slice, no index array to build.
            return self.reader.fetch(remaining[index.start : index.stop])
        positions = np.asarray(index, dtype=np.int64)
        if positions.size and (positions.min() < -len(remaining) or positions.max() >= len(remaining)):
            raise IndexError(f"index {index} out of range for {len(remaining)} samples")
        batch = self.reader.fetch(remaining[positions.reshape(-1)])
        if positions.ndim == 0:
            return {key: value[0] for key, value in batch.items()}
        return batch

    def __getitems__(self, indices: Sequence[int]) -> list[Batch]:
        batch = self[list(indices)]
        return [{key: value[row] for key, value in batch.items()} for row in range(len(indices))]


class ShardIterableDataset(_ShardOrderMixin, IterableDataset[Batch]):
    """Iterable dataset that yields whole batches of this rank's remaining samples.

    The remaining epoch order is cut into batches of ``batch_size`` (the last one may be
    smaller), and ``DataLoader`` worker ``w`` of ``n`` yields batches ``w, w + n, ...``. A
    ``DataLoader`` returns worker outputs round-robin, so it delivers the batches in epoch
    order and every sample exactly once. Use ``DataLoader(dataset, batch_size=None)``.

    Args:
        folder: Split folder, such as ``outputs/shards/train``.
        batch_size: Samples per batch. Default: 32.
        seed: Shuffle seed. Default: 0.
        shuffle: Whether to permute rows each epoch. Default: True.
        rank: Distributed rank. Default: from ``torch.distributed`` if initialized, else 0.
        world_size: Number of ranks. Default: from ``torch.distributed`` if initialized, else 1.
        drop_last: Give every rank ``rows // world_size`` samples so all take the same number of
            steps, leaving out up to ``world_size - 1`` rows per epoch. Default: False.
    """

    def __init__(
        self,
        folder: Path | str,
        *,
        batch_size: int = 32,
        seed: int = 0,
        shuffle: bool = True,
        rank: int | None = None,
        world_size: int | None = None,
        drop_last: bool = False,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.batch_size = batch_size
        self._setup(folder, seed=seed, shuffle=shuffle, rank=rank, world_size=world_size, drop_last=drop_last)

    def __len__(self) -> int:
        """Return the number of batches left in this rank's epoch."""
        return -(-len(self.order.remaining()) // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        remaining = self.order.remaining()
        worker = get_worker_info()
        worker_id, workers = (0, 1) if worker is None else (worker.id, worker.num_workers)
        for start in range(worker_id * self.batch_size, len(remaining), workers * self.batch_size):
            yield self.reader.fetch(remaining[start : start + self.batch_size])


class _RangeSampler(Sampler[range]):
    """Yield ``range(start, start + batch_size)`` over a dataset's current length.

    A ``range`` pickles in a few bytes, where ``BatchSampler`` sends a list of ints to the
    worker for every batch.
    """

    def __init__(self, dataset: ShardDataset, batch_size: int) -> None:
        self.dataset = dataset
        self.batch_size = batch_size

    def __len__(self) -> int:
        return -(-len(self.dataset) // self.batch_size)

    def __iter__(self) -> Iterator[range]:
        length = len(self.dataset)
        for start in range(0, length, self.batch_size):
            yield range(start, min(start + self.batch_size, length))


class ShardLoader(DataLoader):
    """``DataLoader`` over a shard dataset that counts the samples it yields, for exact resume.

    For a :class:`ShardDataset`, batches of ``batch_size`` consecutive indices are fetched
    whole through ``dataset[range(start, stop)]``. For a :class:`ShardIterableDataset`, the dataset's
    own ``batch_size`` applies. Other keyword arguments go to ``DataLoader``.

    Args:
        dataset: A :class:`ShardDataset` or :class:`ShardIterableDataset`.
        batch_size: Samples per batch for a :class:`ShardDataset`; must be ``None`` or equal to
            the dataset's own for a :class:`ShardIterableDataset`. Default: 32 or the dataset's.
    """

    def __init__(self, dataset: ShardDataset | ShardIterableDataset, *, batch_size: int | None = None, **kwargs: Any):
        if kwargs.get("persistent_workers"):
            raise ValueError(
                "persistent_workers=True keeps each worker's copy of the dataset, so set_epoch and "
                "load_state_dict would not reach it; leave persistent_workers off"
            )
        if isinstance(dataset, ShardIterableDataset):
            if batch_size not in (None, dataset.batch_size):
                raise ValueError(
                    f"batch_size {batch_size} differs from the dataset's {dataset.batch_size}; "
                    "set it on ShardIterableDataset"
                )
            super().__init__(dataset, batch_size=None, **kwargs)
        else:
            sampler = _RangeSampler(dataset, batch_size or 32)
            super().__init__(dataset, batch_size=None, sampler=sampler, **kwargs)
        self.samples_yielded = 0

    def __iter__(self) -> Iterator[Batch]:  # type: ignore[override]
        self.samples_yielded = 0
        for batch in super().__iter__():
            self.samples_yielded += len(batch["input_ids"])
            yield batch

    def state_dict(self) -> dict[str, Any]:
        """Return the state that resumes right after the last batch this loader yielded."""
        return self.dataset.state_dict(self.samples_yielded)  # type: ignore[attr-defined]

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume from :meth:`state_dict`; the next iterator starts at the saved sample."""
        self.dataset.load_state_dict(state)  # type: ignore[attr-defined]
        self.samples_yielded = 0
