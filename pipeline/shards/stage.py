"""Shards stage: encode every cleaned document and write train and validation shards.

Each batch of documents goes through these steps:

1. read the id, source, text and heading columns from Parquet;
2. encode the texts with :func:`pipeline.tokenizer.encode` and mark global content tokens;
3. assign each document to a split by a hash of its id;
4. cut rows with the configured layout and append them to that split's shards.

The steps run one after another in the calling thread. ``encode_batch`` already keeps every
core busy with its own threads, so Python work running beside it in a second thread only
competes with them. On 2 cores, encoding in a background thread made the stage up to twice
as slow.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from tokenizers import Tokenizer
from tqdm import tqdm

from pipeline.config import Config
from pipeline.parquet import clean_files, count_rows
from pipeline.shards.encoded import COLUMNS, DocumentColumns, EncodedBatch
from pipeline.shards.layouts import PackedLayout, SpecialTokens, WindowLayout
from pipeline.shards.masks import GlobalMasker
from pipeline.shards.schema import MANIFEST_FILE, SPLITS, sha256_file, token_dtype
from pipeline.shards.writer import SplitWriter
from pipeline.tokenizer import TOKENIZER_FILE, encode, load_tokenizer, special_token_id

logger = logging.getLogger(__name__)


def validation_mask(document_ids: list[str], fraction: float) -> np.ndarray:
    """Return, per document, whether its id hashes into the validation split.

    The first 8 bytes of BLAKE2b(id) read as an unsigned integer, divided by 2**64, fall below
    ``fraction`` for validation documents, so a document keeps its split across runs, machines
    and corpus sizes.
    """
    if fraction <= 0.0:
        return np.zeros(len(document_ids), dtype=bool)
    digests = b"".join(hashlib.blake2b(document_id.encode(), digest_size=8).digest() for document_id in document_ids)
    values = np.frombuffer(digests, dtype=">u8").astype(np.float64) / 2.0**64
    return values < fraction


def encode_columns(
    tokenizer: Tokenizer, masker: GlobalMasker, columns: DocumentColumns, dtype: np.dtype
) -> EncodedBatch:
    """Encode a batch and concatenate its content token ids and global mask."""
    # A tokenizer trained without MeCab ignores the morpheme ends.
    encodings = encode(tokenizer, columns.texts, morpheme_ends=columns.morpheme_ends)
    lengths = np.fromiter((len(encoding) for encoding in encodings), dtype=np.int64, count=len(encodings))
    tokens = np.fromiter(
        itertools.chain.from_iterable(encoding.ids for encoding in encodings), dtype=dtype, count=int(lengths.sum())
    )
    return EncodedBatch(
        ids=columns.ids,
        sources=columns.sources,
        lengths=lengths,
        tokens=tokens,
        global_mask=masker.content_mask(columns, encodings, tokens, lengths),
    )


def iter_columns(files: list[Path], batch_size: int) -> Iterator[DocumentColumns]:
    for file in files:
        for batch in pq.ParquetFile(file).iter_batches(batch_size=batch_size, columns=COLUMNS):
            yield DocumentColumns.from_record_batch(batch)


def run(config: Config) -> Path:
    """Write ``<outputs_dir>/shards/train`` and ``.../validation``; return the shards folder."""
    settings = config.shards
    tokenizer_path = config.tokenizer_dir / TOKENIZER_FILE
    tokenizer = load_tokenizer(tokenizer_path)
    # A literal "[SEP]" in a document is text, not a row boundary.
    tokenizer.encode_special_tokens = True
    files = clean_files(config.clean_dir, config.sources)
    if not files:
        raise FileNotFoundError(f"no cleaned documents under {config.clean_dir}; run `make corpus` first")

    policies = settings.policies
    vocab_size = tokenizer.get_vocab_size()
    dtype = token_dtype(vocab_size)
    special_ids = {
        token: special_token_id(tokenizer, token) for token in ("[PAD]", "[UNK]", "[CLS]", "[MASK]", "[SEP]")
    }
    special = SpecialTokens(
        pad=special_ids["[PAD]"],
        cls=special_ids["[CLS]"],
        sep=special_ids["[SEP]"],
        cls_global="cls" in policies,
        sep_global="sep" in policies,
    )
    masker = GlobalMasker.for_tokenizer(tokenizer, policies)
    manifest_settings = {
        "layout": settings.layout,
        "max_len": settings.max_len,
        "dtype": dtype.name,
        "vocab_size": vocab_size,
        "special_ids": special_ids,
        "tokenizer_sha256": sha256_file(tokenizer_path),
        "global_mask": list(policies),
        "validation_fraction": settings.validation_fraction,
    }

    root = config.shards_dir
    # Files of the single-folder layout that preceded the train/validation split.
    for stale in [*root.glob("shard-*.arrow*"), root / MANIFEST_FILE]:
        stale.unlink(missing_ok=True)
    layout_class = WindowLayout if settings.layout == "window" else PackedLayout
    writers = {
        split: SplitWriter(
            folder=root / split,
            layout=layout_class(max_len=settings.max_len, special=special, dtype=dtype),
            settings=manifest_settings,
            rows_per_shard=settings.rows_per_shard,
            bytes_per_shard=settings.bytes_per_shard,
        )
        for split in SPLITS
    }

    with tqdm(total=count_rows(files), desc="shards", unit=" docs") as progress:
        for columns in iter_columns(files, settings.batch_size):
            encoded = encode_columns(tokenizer, masker, columns, dtype)
            validation = validation_mask(encoded.ids, settings.validation_fraction)
            writers["train"].add(encoded.select(~validation))
            writers["validation"].add(encoded.select(validation))
            progress.update(len(encoded))

    for split, writer in writers.items():
        manifest = writer.close()
        if split == "validation" and settings.validation_fraction > 0 and not manifest["documents"]:
            logger.warning(
                "validation: no document hashed below validation_fraction %s; raise it for a validation split",
                settings.validation_fraction,
            )
        logger.info(
            "%s: wrote %d documents in %d rows (%d tokens), %d shards, to %s",
            split,
            manifest["documents"],
            manifest["rows"],
            manifest["tokens"],
            len(manifest["shards"]),
            writer.folder,
        )
    return root
