"""Loader throughput for ``[32, 512]`` batches through a ``DataLoader`` with 2 workers.

    python -m bench.bench_loader [--config configs/shared.yaml] [--repeat 20] [--runs 3]

Writes window shards with ``max_len`` 512 from the corpus of ``--config`` repeated ``--repeat``
times (prepared as in :mod:`bench.bench_shards`), copies their ``input_ids`` into one flat
``uint16`` file, and times one epoch of each contender, alternating, ``--runs`` times:

- reference: a dataset whose item ``i`` is ``torch.from_numpy(memmap[32 * i : 32 * (i + 1)]
  .astype(int64))``, read through ``DataLoader(batch_size=None)``: contiguous rows, ids only;
- ``ShardIterableDataset`` (shuffled, whole batches per worker);
- ``ShardDataset`` through ``ShardLoader`` (shuffled, ``dataset[indices]`` per batch);
- ``ShardDataset`` through ``DataLoader(batch_size=32)`` (``__getitems__`` plus ``default_collate``);
- Hugging Face ``datasets``: ``Dataset.from_file`` on the same shards, ``with_format("torch")``,
  ``DataLoader(batch_size=32, shuffle=True)``; only the first ``--datasets-batches`` batches are
  timed, because it is slow.

Every contender yields ``input_ids`` of the same shape; this pipeline's also yield
``global_mask``, ``attention_mask`` and ``row_index``, and ``datasets`` also yields ``global_mask``.
Throughput counts ``input_ids`` tokens (padding included) per second of wall time, worker start
included. The score is each median against the reference's median (target: at least 0.5).
CPU seconds per million tokens add this process and its joined workers; their ratio (reference
over contender) is less sensitive to other load on the machine than wall time is.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import platform
import resource
import statistics
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from bench.bench_shards import REPOSITORY, prepare
from pipeline import shards
from pipeline.data import ShardDataset, ShardIterableDataset, ShardLoader, ShardReader

BATCH, MAX_LEN, WORKERS = 32, 512, 2


class Result(NamedTuple):
    """One timed pass: tokens per second, seconds to the first batch, batches, CPU seconds per million tokens."""

    speed: float
    first_batch: float
    batches: int
    cpu_per_million: float


class MemmapSlices(Dataset[torch.Tensor]):
    """Item ``i`` is rows ``[32 i, 32 (i + 1))`` of a flat ``uint16`` file, as int64."""

    def __init__(self, path: Path) -> None:
        self.ids = np.memmap(path, dtype=np.uint16, mode="r").reshape(-1, MAX_LEN)

    def __len__(self) -> int:
        return -(-len(self.ids) // BATCH)

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.from_numpy(self.ids[index * BATCH : (index + 1) * BATCH].astype(np.int64))


def write_flat_ids(folder: Path, path: Path) -> int:
    """Copy the ``input_ids`` of a split into one flat file and return its rows."""
    reader = ShardReader(folder)
    with path.open("wb") as sink:
        for start in range(0, reader.rows, 4096):
            rows = np.arange(start, min(start + 4096, reader.rows))
            reader.fetch(rows)["input_ids"].numpy().astype(np.uint16).tofile(sink)
    return reader.rows


def cpu_seconds() -> float:
    """Return the CPU time of this process plus that of its finished child processes."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def time_epoch(loader: Iterable, limit: int | None = None) -> Result:
    """Time one pass over ``loader``, or its first ``limit`` batches, worker start and stop included."""
    start, start_cpu = time.perf_counter(), cpu_seconds()
    first = 0.0
    tokens = batches = 0
    iterator = iter(loader)
    for batch in iterator:
        ids = batch if isinstance(batch, torch.Tensor) else batch["input_ids"]
        if not batches:
            first = time.perf_counter() - start
        tokens += ids.numel()
        batches += 1
        if limit is not None and batches == limit:
            break
    # Dropping the iterator joins the workers, so their CPU time reaches RUSAGE_CHILDREN.
    del iterator
    gc.collect()
    seconds = time.perf_counter() - start
    return Result(tokens / seconds, first, batches, (cpu_seconds() - start_cpu) / tokens * 1e6)


def contenders(folder: Path, flat: Path, datasets_batches: int) -> dict[str, Callable[[], Result]]:
    def reference() -> Result:
        return time_epoch(DataLoader(MemmapSlices(flat), batch_size=None, num_workers=WORKERS))

    def iterable() -> Result:
        dataset = ShardIterableDataset(folder, batch_size=BATCH, seed=0)
        return time_epoch(DataLoader(dataset, batch_size=None, num_workers=WORKERS))

    def map_loader() -> Result:
        return time_epoch(ShardLoader(ShardDataset(folder, seed=0), batch_size=BATCH, num_workers=WORKERS))

    def map_getitems() -> Result:
        return time_epoch(DataLoader(ShardDataset(folder, seed=0), batch_size=BATCH, num_workers=WORKERS))

    def hugging_face() -> Result:
        from datasets import Dataset as HuggingFaceDataset
        from datasets import concatenate_datasets

        manifest = json.loads((folder / shards.MANIFEST_FILE).read_text())
        parts = [HuggingFaceDataset.from_file(str(folder / shard["file"])) for shard in manifest["shards"]]
        dataset = concatenate_datasets(parts).with_format("torch", columns=["input_ids", "global_mask"])
        generator = torch.Generator().manual_seed(0)
        loader = DataLoader(dataset, batch_size=BATCH, shuffle=True, num_workers=WORKERS, generator=generator)
        return time_epoch(loader, limit=datasets_batches)

    return {
        "bare numpy.memmap slice (reference)": reference,
        "ShardIterableDataset": iterable,
        "ShardDataset + ShardLoader": map_loader,
        "ShardDataset + DataLoader(batch_size=32)": map_getitems,
        'datasets with_format("torch")': hugging_face,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=REPOSITORY / "configs" / "shared.yaml", help="corpus config")
    parser.add_argument(
        "--workdir", type=Path, default=REPOSITORY / "bench" / "results" / "loader", help="scratch folder"
    )
    parser.add_argument("--repeat", type=int, default=20, help="copies of the corpus (default: 20)")
    parser.add_argument("--runs", type=int, default=3, help="alternating runs per contender (default: 3)")
    parser.add_argument("--datasets-batches", type=int, default=200, help="batches timed for datasets (default: 200)")
    arguments = parser.parse_args(argv)

    logging.disable(logging.INFO)
    workdir = arguments.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    config = prepare(
        arguments.config,
        workdir,
        repeat=arguments.repeat,
        shard_settings={"max_len": MAX_LEN, "validation_fraction": 0.0},
    )
    folder = config.shards_dir / "train"
    if not (folder / shards.MANIFEST_FILE).exists():
        shards.run(config)
    flat = workdir / "input_ids.bin"
    rows = write_flat_ids(folder, flat)

    results: dict[str, list[Result]] = {}
    runners = contenders(folder, flat, arguments.datasets_batches)
    names = list(runners)
    for run in range(arguments.runs):
        # Rotate the starting contender each run, so drift in machine load spreads over all.
        for name in names[run % len(names) :] + names[: run % len(names)]:
            results.setdefault(name, []).append(runners[name]())

    reference = statistics.median(result.speed for result in results[names[0]])
    reference_cpu = statistics.median(result.cpu_per_million for result in results[names[0]])
    print(f"machine: {platform.machine()}, torch {torch.__version__}, python {platform.python_version()}")
    print(f"data: {arguments.config} x{arguments.repeat}, {rows:,} rows of {MAX_LEN}, batches of {BATCH}")
    print(f"{WORKERS} workers, {arguments.runs} alternating runs, load average before: {os.getloadavg()[0]:.1f}")
    print()
    print(
        "| contender | median M tokens/s | min–max | ratio to reference | first batch s | batches "
        "| CPU s per M tokens | CPU ratio |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name in names:
        speeds = [result.speed for result in results[name]]
        median = statistics.median(speeds)
        first = statistics.median(result.first_batch for result in results[name])
        cpu = statistics.median(result.cpu_per_million for result in results[name])
        spread = f"{min(speeds) / 1e6:.1f}–{max(speeds) / 1e6:.1f}"
        print(
            f"| {name} | {median / 1e6:.1f} | {spread} | {median / reference:.3f} | {first:.2f} "
            f"| {results[name][0].batches} | {cpu:.3f} | {reference_cpu / cpu:.3f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
