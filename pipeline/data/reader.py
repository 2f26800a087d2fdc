"""Memory-mapped access to the rows of one split folder, fetched a batch at a time.

Opening a split maps every shard and reads only the Arrow metadata. The ``input_ids`` and
``global_mask`` values stay in the page cache, and numpy views point into them. A fetch gathers
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

from pipeline.shards.arrow import numpy_view
from pipeline.shards.schema import MANIFEST_FILE, SPLITS


class Batch(dict[str, torch.Tensor]):
    """A batch whose tensors are views of one ``uint8`` buffer, and which pickles as that buffer.

    Pickling sends the buffer once and rebuilds the views on the other side, so a batch crosses
    a ``DataLoader`` worker queue as one shared-memory transfer instead of one per tensor.
    It is an ordinary ``dict`` otherwise: keys ``input_ids`` (int64 ``[rows, max_len]``),
    ``global_mask`` and ``attention_mask`` (bool ``[rows, max_len]``), ``row_index`` (int64 ``[rows]``).
    """

    def __init__(self, buffer: torch.Tensor, rows: int, max_len: int) -> None:
        input_ids, global_mask, attention_mask, row_index = self.views(buffer, rows, max_len)
        super().__init__(
            input_ids=input_ids, global_mask=global_mask, attention_mask=attention_mask, row_index=row_index
        )
        self._buffer = buffer
        self._shape = (rows, max_len)

    @staticmethod
    def nbytes(rows: int, max_len: int) -> int:
        return rows * max_len * 10 + rows * 8

    @staticmethod
    def views(buffer: torch.Tensor, rows: int, max_len: int) -> tuple[torch.Tensor, ...]:
        """Return ``input_ids``, ``global_mask``, ``attention_mask`` and ``row_index`` as views of ``buffer``."""
        tokens = rows * max_len
        # The int64 parts come first, so their byte offsets stay multiples of 8.
        input_ids = buffer[: tokens * 8].view(torch.int64).view(rows, max_len)
        row_index = buffer[tokens * 8 : tokens * 8 + rows * 8].view(torch.int64)
        global_mask = buffer[tokens * 8 + rows * 8 : tokens * 9 + rows * 8].view(torch.bool).view(rows, max_len)
        attention_mask = buffer[tokens * 9 + rows * 8 :].view(torch.bool).view(rows, max_len)
        return input_ids, global_mask, attention_mask, row_index

    def __reduce__(self) -> tuple[Any, ...]:
        # A copy whose keys were replaced or extended (a collator's output) pickles as a plain dict.
        if self.keys() != {"input_ids", "global_mask", "attention_mask", "row_index"} or any(
            value.untyped_storage().data_ptr() != self._buffer.untyped_storage().data_ptr() for value in self.values()
        ):
            return (dict, (dict(self),))
        return (Batch, (self._buffer, *self._shape))


def _new_buffer(nbytes: int) -> torch.Tensor:
    """Return an uninitialized ``uint8`` tensor, in shared memory inside a ``DataLoader`` worker.

    A worker's output is moved to shared memory when it is queued. Allocating it there first
    saves that copy, which is what ``default_collate`` does for the batches it stacks.
    """
    if torch.utils.data.get_worker_info() is None:
        return torch.empty(nbytes, dtype=torch.uint8)
    storage = torch.UntypedStorage._new_shared(nbytes)
    return torch.empty(0, dtype=torch.uint8).set_(storage)


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
        self._mask_rows: list[np.ndarray | None] = []
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
        ids = numpy_view(batch.column("input_ids").flatten())
        self._ids.append(ids.reshape(-1, self.max_len))

        # Booleans are bit-packed in Arrow (least significant bit first); keep the packed bytes.
        values = batch.column("global_mask").flatten()
        buffer = values.buffers()[1]
        assert buffer is not None
        self._buffers.append(buffer)
        packed = np.frombuffer(buffer, dtype=np.uint8)
        self._mask_bytes.append(packed)
        self._mask_bit_offsets.append(values.offset)
        # When rows start on byte boundaries, each row is a run of max_len / 8 whole bytes.
        if values.offset % 8 == 0 and self.max_len % 8 == 0:
            start = values.offset // 8
            self._mask_rows.append(
                packed[start : start + batch.num_rows * self.max_len // 8].reshape(-1, self.max_len // 8)
            )
        else:
            self._mask_rows.append(None)

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

    def fetch(self, rows: np.ndarray) -> Batch:
        """Return the batch of split-wide row numbers ``rows``.

        Returns:
            ``input_ids`` (int64 ``[batch, max_len]``), ``global_mask`` and ``attention_mask``
            (bool ``[batch, max_len]``; attention is false on ``[PAD]``) and ``row_index``
            (int64 ``[batch]``, the split-wide row numbers).
        """
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= self.rows):
            raise IndexError(f"row out of range for {self.rows} rows in {self.folder}")
        batch = Batch(_new_buffer(Batch.nbytes(len(rows), self.max_len)), len(rows), self.max_len)
        ids_out = batch["input_ids"].numpy()
        global_out = batch["global_mask"].numpy()
        attention_out = batch["attention_mask"].numpy()
        batch["row_index"].numpy()[:] = rows

        chunks = np.searchsorted(self._chunk_starts, rows, side="right") - 1
        if not rows.size or chunks.min() == chunks.max():
            # The common case: every row lies in one record batch, so the outputs are filled in place.
            chunk = int(chunks[0]) if rows.size else 0
            local = rows - self._chunk_starts[chunk]
            gathered = self._ids[chunk][local] if rows.size else np.zeros((0, self.max_len), dtype=np.uint16)
            ids_out[:] = gathered
            np.not_equal(gathered, self.pad_id, out=attention_out)
            global_out[:] = self._unpack_mask(chunk, local)
            return batch

        for chunk in np.unique(chunks).tolist():
            selected = chunks == chunk
            local = rows[selected] - self._chunk_starts[chunk]
            gathered = self._ids[chunk][local]
            ids_out[selected] = gathered
            attention_out[selected] = gathered != self.pad_id
            global_out[selected] = self._unpack_mask(chunk, local)
        return batch

    def _unpack_mask(self, chunk: int, local: np.ndarray) -> np.ndarray:
        row_bytes = self._mask_rows[chunk]
        if row_bytes is not None:
            return np.unpackbits(row_bytes[local], axis=1, bitorder="little").view(bool)
        positions = self._mask_bit_offsets[chunk] + local[:, None] * self.max_len + np.arange(self.max_len)
        packed = self._mask_bytes[chunk]
        return ((packed[positions >> 3] >> (positions & 7)) & 1).astype(bool)
