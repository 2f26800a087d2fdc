"""Shards stage: encode documents into fixed-length rows with a per-token global mask.

Every document becomes one or more rows of ``max_len`` tokens: ``[CLS]``, up to
``max_len - 2`` content tokens, ``[SEP]``, then ``[PAD]``. A document longer than one row
continues in the next row, so no token is dropped. Rows are written as Arrow IPC stream
files, which ``pyarrow``, ``datasets.Dataset.from_file`` and :mod:`pipeline.data` all
memory-map. Schema of ``<outputs_dir>/shards/shard-NNNNN.arrow``:

==================  ==================================  ==========================================
column              type                                meaning
==================  ==================================  ==========================================
``input_ids``       fixed_size_list<uint16>[max_len]    token ids (uint32 when the vocabulary
                                                        has more than 65536 tokens)
``global_mask``     fixed_size_list<bool>[max_len]      true where the token attends globally
``document_id``     string                              id of the source document
``source``          string                              source name
``window_index``    int32                               row number inside its document, from 0
==================  ==================================  ==========================================

``manifest.json`` beside the shards records ``max_len``, the vocabulary size, the SHA-256 of
``tokenizer.json`` and, per shard, its file name, rows, non-padding tokens and SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from tokenizers import Encoding, Tokenizer
from tqdm import tqdm

from pipeline.config import Config
from pipeline.document import Document
from pipeline.parquet import clean_files, count_rows, iter_document_batches
from pipeline.tokenizer import TOKENIZER_FILE, encode, load_tokenizer, special_token_id

logger = logging.getLogger(__name__)

MANIFEST_FILE = "manifest.json"
SENTENCE_END = frozenset("。！？.!?")


def token_dtype(vocab_size: int) -> np.dtype:
    """Return the narrowest unsigned integer type that can store every token id."""
    return np.dtype(np.uint16) if vocab_size <= 1 << 16 else np.dtype(np.uint32)


def shard_schema(max_len: int, dtype: np.dtype) -> pa.Schema:
    return pa.schema(
        [
            ("input_ids", pa.list_(pa.from_numpy_dtype(dtype), max_len)),
            ("global_mask", pa.list_(pa.bool_(), max_len)),
            ("document_id", pa.string()),
            ("source", pa.string()),
            ("window_index", pa.int32()),
        ]
    )


@dataclass(frozen=True)
class Windower:
    """Cut encoded documents into ``[CLS] ... [SEP] [PAD]...`` rows and compute global masks.

    Args:
        max_len: Tokens per row, special tokens included.
        policies: Global-mask policies (``cls``, ``headings``, ``sep``, ``sentence_end``).
        special_ids: Ids of ``[PAD]``, ``[CLS]`` and ``[SEP]`` keyed by token.
        sentence_end_ids: Boolean lookup table over the vocabulary, true for tokens that end
            with sentence-final punctuation.
        dtype: Token id type.
    """

    max_len: int
    policies: frozenset[str]
    special_ids: dict[str, int]
    sentence_end_ids: npt.NDArray[np.bool_]
    dtype: np.dtype

    @classmethod
    def for_tokenizer(cls, tokenizer: Tokenizer, *, max_len: int, policies: Sequence[str]) -> Windower:
        vocab_size = tokenizer.get_vocab_size()
        sentence_end = np.zeros(vocab_size, dtype=bool)
        if "sentence_end" in policies:
            for token_id in range(vocab_size):
                text = tokenizer.decode([token_id], skip_special_tokens=True).rstrip()
                sentence_end[token_id] = bool(text) and text[-1] in SENTENCE_END
        special_ids = {token: special_token_id(tokenizer, token) for token in ("[PAD]", "[CLS]", "[SEP]")}
        return cls(max_len, frozenset(policies), special_ids, sentence_end, token_dtype(vocab_size))

    def windows(self, document: Document, encoding: Encoding) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(input_ids, global_mask)`` arrays of shape ``[rows, max_len]`` for one document."""
        ids = np.asarray(encoding.ids, dtype=self.dtype)
        content_mask = self._content_mask(document, encoding, ids)

        width = self.max_len - 2
        count = len(ids)
        rows = max(1, -(-count // width))
        input_ids = np.full((rows, self.max_len), self.special_ids["[PAD]"], dtype=self.dtype)
        global_mask = np.zeros((rows, self.max_len), dtype=bool)

        padded_ids = np.zeros(rows * width, dtype=self.dtype)
        padded_ids[:count] = ids
        padded_mask = np.zeros(rows * width, dtype=bool)
        padded_mask[:count] = content_mask
        input_ids[:, 1 : width + 1] = padded_ids.reshape(rows, width)
        global_mask[:, 1 : width + 1] = padded_mask.reshape(rows, width)

        # Positions past the content of the last row go back to [PAD] before [SEP] is placed.
        last_row_length = count - (rows - 1) * width
        input_ids[-1, last_row_length + 1 :] = self.special_ids["[PAD]"]
        input_ids[:, 0] = self.special_ids["[CLS]"]
        sep_positions = np.full(rows, width + 1)
        sep_positions[-1] = last_row_length + 1
        input_ids[np.arange(rows), sep_positions] = self.special_ids["[SEP]"]

        global_mask[:, 0] = "cls" in self.policies
        global_mask[np.arange(rows), sep_positions] = "sep" in self.policies
        return input_ids, global_mask

    def _content_mask(self, document: Document, encoding: Encoding, ids: np.ndarray) -> np.ndarray:
        mask = np.zeros(len(ids), dtype=bool)
        if "sentence_end" in self.policies:
            mask |= self.sentence_end_ids[ids]
        if "headings" in self.policies and document.headings and len(ids):
            offsets = np.asarray(encoding.offsets, dtype=np.int64).reshape(-1, 2)
            starts, ends = offsets[:, 0], offsets[:, 1]
            for heading in document.headings:
                # A token overlaps the heading when it ends after its start and starts before its end.
                first = int(np.searchsorted(ends, heading.start, side="right"))
                last = int(np.searchsorted(starts, heading.end, side="left"))
                mask[first:last] = True
        return mask


class ShardWriter:
    """Write rows to numbered Arrow IPC stream files, each renamed into place when complete."""

    def __init__(self, *, folder: Path, schema: pa.Schema, rows_per_shard: int) -> None:
        self.folder = folder
        self.schema = schema
        self.rows_per_shard = rows_per_shard
        self.shards: list[dict[str, object]] = []
        self._sink: pa.OSFile | None = None
        self._writer: pa.ipc.RecordBatchStreamWriter | None = None
        self._rows = 0
        self._tokens = 0

    def write(self, batch: pa.RecordBatch, tokens: int) -> None:
        offset = 0
        while offset < batch.num_rows:
            if self._writer is None:
                self._sink = pa.OSFile(str(self._temporary_path()), "wb")
                self._writer = pa.ipc.new_stream(self._sink, self.schema)
            take = min(batch.num_rows - offset, self.rows_per_shard - self._rows)
            part = batch.slice(offset, take)
            self._writer.write_batch(part)
            self._rows += take
            self._tokens += tokens if take == batch.num_rows else _count_tokens(part)
            offset += take
            if self._rows == self.rows_per_shard:
                self._finish()

    def close(self) -> None:
        self._finish()

    def _finish(self) -> None:
        if self._writer is None or self._sink is None:
            return
        self._writer.close()
        self._sink.close()
        path = self.folder / f"shard-{len(self.shards):05d}.arrow"
        os.replace(self._temporary_path(), path)
        self.shards.append({"file": path.name, "rows": self._rows, "tokens": self._tokens, "sha256": sha256_file(path)})
        self._writer = self._sink = None
        self._rows = self._tokens = 0

    def _temporary_path(self) -> Path:
        return self.folder / f"shard-{len(self.shards):05d}.arrow.tmp"


_PAD_ID_FOR_COUNT = 0


def _count_tokens(batch: pa.RecordBatch) -> int:
    ids = batch.column("input_ids").flatten().to_numpy()
    return int(np.count_nonzero(ids != _PAD_ID_FOR_COUNT))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def run(config: Config) -> Path:
    """Encode every cleaned document into shards and write the manifest; return the shards folder."""
    settings = config.shards
    tokenizer_path = config.tokenizer_dir / TOKENIZER_FILE
    tokenizer = load_tokenizer(tokenizer_path)
    files = clean_files(config.clean_dir, config.sources)
    if not files:
        raise FileNotFoundError(f"no cleaned documents under {config.clean_dir}; run `make corpus` first")

    windower = Windower.for_tokenizer(tokenizer, max_len=settings.max_len, policies=settings.global_mask)
    schema = shard_schema(settings.max_len, windower.dtype)
    if windower.special_ids["[PAD]"] != _PAD_ID_FOR_COUNT:
        raise ValueError("[PAD] must have id 0; retrain the tokenizer with `make tokenizer`")

    folder = config.shards_dir
    folder.mkdir(parents=True, exist_ok=True)
    for stale in [*folder.glob("shard-*.arrow"), *folder.glob("shard-*.arrow.tmp"), folder / MANIFEST_FILE]:
        stale.unlink(missing_ok=True)
    writer = ShardWriter(folder=folder, schema=schema, rows_per_shard=settings.rows_per_shard)

    documents_total = count_rows(files)
    documents = 0
    with tqdm(total=documents_total, desc="shards", unit=" docs") as progress:
        for batch in iter_document_batches(files, batch_size=settings.batch_size):
            encodings = encode(tokenizer, [document.text for document in batch])
            record_batch, tokens = _rows_for_batch(windower, batch, encodings, schema)
            writer.write(record_batch, tokens)
            documents += len(batch)
            progress.update(len(batch))
    writer.close()

    manifest = {
        "format": "arrow-ipc-stream",
        "max_len": settings.max_len,
        "dtype": windower.dtype.name,
        "vocab_size": tokenizer.get_vocab_size(),
        "tokenizer_sha256": sha256_file(tokenizer_path),
        "global_mask": list(settings.global_mask),
        "documents": documents,
        "rows": sum(int(shard["rows"]) for shard in writer.shards),  # type: ignore[call-overload]
        "tokens": sum(int(shard["tokens"]) for shard in writer.shards),  # type: ignore[call-overload]
        "shards": writer.shards,
    }
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    logger.info(
        "wrote %d rows (%d tokens) in %d shards to %s", manifest["rows"], manifest["tokens"], len(writer.shards), folder
    )
    return folder


def _rows_for_batch(
    windower: Windower, documents: list[Document], encodings: list[Encoding], schema: pa.Schema
) -> tuple[pa.RecordBatch, int]:
    id_parts: list[np.ndarray] = []
    mask_parts: list[np.ndarray] = []
    document_ids: list[str] = []
    sources: list[str] = []
    window_indices: list[int] = []
    for document, encoding in zip(documents, encodings, strict=True):
        input_ids, global_mask = windower.windows(document, encoding)
        rows = len(input_ids)
        id_parts.append(input_ids)
        mask_parts.append(global_mask)
        document_ids.extend([document.id] * rows)
        sources.extend([document.source] * rows)
        window_indices.extend(range(rows))

    ids = np.concatenate(id_parts)
    mask = np.concatenate(mask_parts)
    max_len = windower.max_len
    batch = pa.RecordBatch.from_arrays(
        [
            pa.FixedSizeListArray.from_arrays(pa.array(ids.reshape(-1)), max_len),
            pa.FixedSizeListArray.from_arrays(pa.array(mask.reshape(-1)), max_len),
            pa.array(document_ids, pa.string()),
            pa.array(sources, pa.string()),
            pa.array(window_indices, pa.int32()),
        ],
        schema=schema,
    )
    tokens = int(np.count_nonzero(ids != windower.special_ids["[PAD]"]))
    return batch, tokens
