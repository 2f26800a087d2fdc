"""Memory-mapped access to the rows of one split folder, fetched a batch at a time.

Opening a split maps every shard and reads only the Arrow metadata; the ``input_ids`` and
``global_mask`` values stay in the page cache and numpy views point into them. A fetch gathers
the requested rows with one fancy index per record batch they fall in and writes the result
into one ``uint8`` buffer that the returned tensors view. Tensors that share one storage cross
the ``DataLoader`` worker queue as one shared-memory segment instead of one each.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from pipeline.shards.schema import MANIFEST_FILE, SPLITS


class ShardReader:
    """Rows of the shards of one split folder.

    Args:
        folder: Split folder containing ``manifest.json``, such as ``outputs/shards/train``.
    """

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)
        manifest_path = self.folder / MANIFEST_FILE
        if not manifest_path.exists():
            splits = [split for split in SPLITS if (self.folder / split / MANIFEST_FILE).exists()]
            if splits:
                raise FileNotFoundError(
                    f"{manifest_path} not found; {self.folder} contains the split folders {', '.join(splits)}, "
                    f"so pass {self.folder / splits[0]}"
                )
            raise FileNotFoundError(f"{manifest_path} not found; run `make shards` first")
        self.manifest: dict[str, Any] = json.loads(manifest_path.read_text(encoding="utf-8"))
        self.max_len = int(self.manifest["max_len"])
        self.pad_id = int(self.manifest["special_ids"]["[PAD]"])
        self.rows = int(self.manifest["rows"])
        self._open()

    def _open(self) -> None:
        self._ids: list[np.ndarray] = []
        self._mask_bytes: list[np.ndarray] = []
        self._mask_bit_offsets: list[int] = []
        self._buffers: list[pa.Buffer] = []
        for shard in self.manifest["shards"]:
            with pa.ipc.open_stream(pa.memory_map(str(self.folder / shard["file"]))) as reader:
                for batch in reader:
                    self._add(batch)
        counts = [len(ids) for ids in self._ids]
        self._chunk_starts = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])
        if self._chunk_starts[-1] != self.rows:
            raise ValueError(
                f"{self.folder}: shards contain {self._chunk_starts[-1]} rows but the manifest lists {self.rows}; "
                "run `python -m pipeline verify` and rerun the shards stage"
            )

    def _add(self, batch: pa.RecordBatch) -> None:
        ids = batch.column("input_ids").flatten().to_numpy(zero_copy_only=True)
        self._ids.append(ids.reshape(-1, self.max_len))

        # Booleans are bit-packed in Arrow (least significant bit first); keep the packed bytes.
        values = batch.column("global_mask").flatten()
        buffer = values.buffers()[1]
        assert buffer is not None
        self._buffers.append(buffer)
        self._mask_bytes.append(np.frombuffer(buffer, dtype=np.uint8))
        self._mask_bit_offsets.append(values.offset)

    def __getstate__(self) -> dict[str, Any]:
        # Workers started with spawn reopen the memory maps instead of receiving copies.
        return {"folder": self.folder, "manifest": self.manifest}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.folder = state["folder"]
        self.manifest = state["manifest"]
        self.max_len = int(self.manifest["max_len"])
        self.pad_id = int(self.manifest["special_ids"]["[PAD]"])
        self.rows = int(self.manifest["rows"])
        self._open()

    def fetch(self, rows: np.ndarray) -> dict[str, torch.Tensor]:
        """Return the batch of split-wide row numbers ``rows``.

        Returns:
            ``input_ids`` (int64 ``[batch, max_len]``), ``global_mask`` and ``attention_mask``
            (bool ``[batch, max_len]``; attention is false on ``[PAD]``) and ``row_index``
            (int64 ``[batch]``, the split-wide row numbers).
        """
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= self.rows):
            raise IndexError(f"row out of range for {self.rows} rows in {self.folder}")
        count, max_len = len(rows), self.max_len
        tokens = count * max_len
        buffer = torch.empty(tokens * 10 + count * 8, dtype=torch.uint8)
        input_ids = buffer[: tokens * 8].view(torch.int64).view(count, max_len)
        row_index = buffer[tokens * 8 : tokens * 8 + count * 8].view(torch.int64)
        global_mask = buffer[tokens * 8 + count * 8 : tokens * 9 + count * 8].view(torch.bool).view(count, max_len)
        attention_mask = buffer[tokens * 9 + count * 8 :].view(torch.bool).view(count, max_len)

        ids_out = input_ids.numpy()
        global_out = global_mask.numpy()
        attention_out = attention_mask.numpy()
        row_index.numpy()[:] = rows
        chunks = np.searchsorted(self._chunk_starts, rows, side="right") - 1
        present = np.unique(chunks).tolist()
        for chunk in present:
            selected = slice(None) if len(present) == 1 else chunks == chunk
            local = rows[selected] - self._chunk_starts[chunk]
            gathered = self._ids[chunk][local]
            ids_out[selected] = gathered
            attention_out[selected] = gathered != self.pad_id
            global_out[selected] = self._unpack_mask(chunk, local)
        return {
            "input_ids": input_ids,
            "global_mask": global_mask,
            "attention_mask": attention_mask,
            "row_index": row_index,
        }

    def _unpack_mask(self, chunk: int, local: np.ndarray) -> np.ndarray:
        packed, bit_offset, max_len = self._mask_bytes[chunk], self._mask_bit_offsets[chunk], self.max_len
        if bit_offset % 8 == 0 and max_len % 8 == 0:
            start = bit_offset // 8
            row_bytes = packed[start : start + (len(self._ids[chunk]) * max_len) // 8].reshape(-1, max_len // 8)
            return np.unpackbits(row_bytes[local], axis=1, bitorder="little").view(bool)
        positions = bit_offset + local[:, None] * max_len + np.arange(max_len)
        return ((packed[positions >> 3] >> (positions & 7)) & 1).astype(bool)
