"""PyTorch access to the shards written by :mod:`pipeline.shards`.

Shards are memory-mapped, so opening a dataset reads only the Arrow metadata and each item
touches only its own row. Each item is a dict of ``input_ids`` (int64) and ``global_mask``
(bool) tensors of shape ``[max_len]``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch
from torch.utils.data import Dataset

from pipeline.shards import MANIFEST_FILE


class ShardDataset(Dataset[dict[str, torch.Tensor]]):
    """Map-style dataset over every row of every shard in a folder.

    Args:
        folder: Shards folder containing ``manifest.json``, such as ``outputs/shards``.
    """

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)
        manifest_path = self.folder / MANIFEST_FILE
        if not manifest_path.exists():
            raise FileNotFoundError(f"{manifest_path} not found; run `make shards` first")
        self.manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        self.max_len = int(self.manifest["max_len"])

        self._ids: list[np.ndarray] = []
        self._mask_bits: list[tuple[np.ndarray, int]] = []
        for shard in self.manifest["shards"]:
            with pa.ipc.open_stream(pa.memory_map(str(self.folder / shard["file"]))) as reader:
                for batch in reader:
                    self._add_batch(batch)
        self._row_starts = np.cumsum([0] + [len(ids) for ids in self._ids])

    def _add_batch(self, batch: pa.RecordBatch) -> None:
        ids = batch.column("input_ids").flatten().to_numpy(zero_copy_only=True)
        self._ids.append(ids.reshape(-1, self.max_len))

        # Booleans are bit-packed in Arrow; keep the packed buffer and unpack one row at a time.
        values = batch.column("global_mask").flatten()
        buffer = values.buffers()[1]
        assert buffer is not None
        self._mask_bits.append((np.frombuffer(buffer, dtype=np.uint8), values.offset))

    def __len__(self) -> int:
        return int(self._row_starts[-1])

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"row {index} out of range for {len(self)} rows")
        index %= len(self)
        chunk = int(np.searchsorted(self._row_starts, index, side="right")) - 1
        row = index - int(self._row_starts[chunk])

        input_ids = torch.from_numpy(self._ids[chunk][row].astype(np.int64))
        bits, offset = self._mask_bits[chunk]
        first_bit = offset + row * self.max_len
        packed = bits[first_bit // 8 : (first_bit + self.max_len + 7) // 8 + 1]
        mask = np.unpackbits(packed, bitorder="little")[first_bit % 8 : first_bit % 8 + self.max_len]
        return {"input_ids": input_ids, "global_mask": torch.from_numpy(mask.astype(bool))}
