"""Which cleaned documents train the tokenizer, and the stream that feeds them to a trainer.

A first pass reads the ``id`` and ``text`` columns of every cleaned Parquet file and decides
for each document, from hashes of its id alone, so the choice is the same on every run:

- held out: ``blake2b("holdout:" + id)`` maps to a number in [0, 1); below
  ``holdout_fraction`` the document is kept for the quality report and never trained on;
- sampled: under a ``max_characters`` cap each source gets a share of the cap in proportion
  to its weight. A source smaller than its share keeps all of its text and leaves the rest
  to the others. Each source takes documents in the order of ``blake2b("sample:" + id)``
  until its share is full, skipping a document that would overflow it, so the total never
  exceeds the cap.

Both passes read one Parquet batch at a time. Between them the plan keeps five numbers per
document, so memory does not grow with the length of the texts.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

logger = logging.getLogger(__name__)

_HASH_SCALE = float(1 << 64)
_SCAN_BATCH_ROWS = 10_000


def unit_hash(salt: str, document_id: str) -> float:
    """Map ``salt`` and a document id to a number in [0, 1), the same on every platform."""
    digest = hashlib.blake2b(f"{salt}:{document_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _HASH_SCALE


@dataclass
class SourcePlan:
    """The documents of one source chosen for training and for the report.

    Args:
        source: Source name.
        files: Its cleaned Parquet files, in reading order.
        documents: Documents in all files.
        characters: Characters in all files.
        training_rows: Per file, sorted row numbers of the training documents.
        training_characters: Characters of the training documents.
        report_rows: Per file, sorted row numbers of the held-out documents the report encodes.
        held_out: Documents held out of training.
    """

    source: str
    files: list[Path]
    documents: int = 0
    characters: int = 0
    training_rows: list[np.ndarray] = field(default_factory=list)
    training_characters: int = 0
    report_rows: list[np.ndarray] = field(default_factory=list)
    held_out: int = 0

    @property
    def training_documents(self) -> int:
        return sum(len(rows) for rows in self.training_rows)

    def as_dict(self) -> dict[str, int]:
        return {
            "documents": self.documents,
            "characters": self.characters,
            "training_documents": self.training_documents,
            "training_characters": self.training_characters,
            "held_out_documents": self.held_out,
            "report_documents": sum(len(rows) for rows in self.report_rows),
        }


@dataclass
class _Scan:
    file_index: np.ndarray
    row: np.ndarray
    length: np.ndarray
    sample: np.ndarray
    holdout: np.ndarray


def plan_training(
    files_by_source: dict[str, list[Path]],
    *,
    max_characters: int | None,
    source_weights: dict[str, float],
    holdout_fraction: float,
    report_documents: int,
) -> list[SourcePlan]:
    """Choose the training and report documents of every source (see the module docstring).

    Args:
        files_by_source: Cleaned Parquet files of each source, in reading order.
        max_characters: Cap on training characters over all sources; ``None`` for no cap.
        source_weights: Share of the cap per source; a missing source has weight 1.0.
        holdout_fraction: Share of documents held out of training, in [0, 1).
        report_documents: Held-out documents per source that the report encodes.
    """
    scans = {source: _scan(files) for source, files in files_by_source.items()}
    trainable = {source: scan.holdout >= holdout_fraction for source, scan in scans.items()}
    totals = {source: int(scans[source].length[mask].sum()) for source, mask in trainable.items()}
    budgets = _share_budget(totals, max_characters, source_weights)

    plans = []
    for source, files in files_by_source.items():
        scan, mask = scans[source], trainable[source]
        plan = SourcePlan(source=source, files=files, documents=len(scan.row), characters=int(scan.length.sum()))

        candidates = np.flatnonzero(mask)
        order = candidates[np.argsort(scan.sample[candidates], kind="stable")]
        selected = _fill(order, scan.length, budgets[source])
        plan.training_rows = _rows_per_file(scan, selected, len(files))
        plan.training_characters = int(scan.length[selected].sum())

        held_out = np.flatnonzero(~mask)
        plan.held_out = len(held_out)
        reported = held_out[np.argsort(scan.holdout[held_out], kind="stable")][:report_documents]
        plan.report_rows = _rows_per_file(scan, reported, len(files))
        plans.append(plan)
    return plans


def _scan(files: list[Path]) -> _Scan:
    file_indices, rows, lengths, samples, holdouts = [], [], [], [], []
    for file_index, file in enumerate(files):
        first_row = 0
        for batch in pq.ParquetFile(file).iter_batches(batch_size=_SCAN_BATCH_ROWS, columns=["id", "text"]):
            ids = batch.column(0).to_pylist()
            lengths.append(pc.utf8_length(batch.column(1)).to_numpy(zero_copy_only=False).astype(np.int64))
            samples.append(np.fromiter((unit_hash("sample", i) for i in ids), dtype=np.float64, count=len(ids)))
            holdouts.append(np.fromiter((unit_hash("holdout", i) for i in ids), dtype=np.float64, count=len(ids)))
            file_indices.append(np.full(len(ids), file_index, dtype=np.int32))
            rows.append(np.arange(first_row, first_row + len(ids), dtype=np.int64))
            first_row += len(ids)

    def joined(parts: list[np.ndarray], dtype: type) -> np.ndarray:
        return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)

    return _Scan(
        file_index=joined(file_indices, np.int32),
        row=joined(rows, np.int64),
        length=joined(lengths, np.int64),
        sample=joined(samples, np.float64),
        holdout=joined(holdouts, np.float64),
    )


def _share_budget(
    totals: dict[str, int], max_characters: int | None, source_weights: dict[str, float]
) -> dict[str, float]:
    if max_characters is None:
        return {source: float(total) for source, total in totals.items()}

    budgets = {source: 0.0 for source in totals}
    remaining = float(max_characters)
    active = [source for source, total in totals.items() if total > 0]
    while active:
        weight_sum = sum(source_weights.get(source, 1.0) for source in active)
        shares = {source: remaining * source_weights.get(source, 1.0) / weight_sum for source in active}
        small = [source for source in active if totals[source] <= shares[source]]
        if not small:
            budgets.update(shares)
            break
        for source in small:
            budgets[source] = float(totals[source])
            remaining -= totals[source]
            active.remove(source)
    return budgets


def _fill(order: np.ndarray, lengths: np.ndarray, budget: float) -> np.ndarray:
    # Take documents in order, skipping any that would overflow the budget, so one long
    # document does not end the sample early.
    if lengths[order].sum() <= budget:
        return order
    selected = []
    used = 0
    for index, length in zip(order.tolist(), lengths[order].tolist(), strict=True):
        if used + length <= budget:
            selected.append(index)
            used += length
    return np.asarray(selected, dtype=np.int64)


def _rows_per_file(scan: _Scan, chosen: np.ndarray, file_count: int) -> list[np.ndarray]:
    return [np.sort(scan.row[chosen][scan.file_index[chosen] == index]) for index in range(file_count)]


def iter_chosen_texts(
    files: Sequence[Path], rows_per_file: Sequence[np.ndarray], *, batch_size: int, with_ends: bool
) -> Iterator[tuple[list[str], list[list[int]]]]:
    """Stream the text of the chosen rows of each file, in batches of at most ``batch_size``.

    Args:
        files: Parquet files with the document schema.
        rows_per_file: Sorted row numbers to read from each file.
        batch_size: Rows per Parquet read batch.
        with_ends: Read ``morpheme_ends`` too; otherwise every text gets an empty list.

    Yields:
        ``(texts, morpheme_ends)`` of one batch.
    """
    columns = ["text", "morpheme_ends"] if with_ends else ["text"]
    for file, rows in zip(files, rows_per_file, strict=True):
        if not len(rows):
            continue
        offset = 0
        for batch in pq.ParquetFile(file).iter_batches(batch_size=batch_size, columns=columns):
            first, last = np.searchsorted(rows, [offset, offset + batch.num_rows])
            picked = batch.take(pa.array(rows[first:last] - offset))
            offset += batch.num_rows
            if not picked.num_rows:
                continue
            texts = picked.column(0).to_pylist()
            ends = picked.column(1).to_pylist() if with_ends else [[] for _ in texts]
            yield texts, ends
