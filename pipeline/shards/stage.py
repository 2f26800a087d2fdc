"""Shards stage: encode every cleaned document and write train and validation shards.

The stage works in units, one per cleaned Parquet file, through a
:class:`pipeline.units.UnitStore` in the shards folder. A unit's files appear under their
final names, with a completion marker, only once all of them are written, so a rerun after a
crash skips finished units, deletes partial files and redoes the rest. Each unit's
fingerprint covers the ``shards`` config section, ``tokenizer.json`` (and
``pipeline_tokenizer.json`` when present), the unit's Parquet file and the versions of
``tokenizers``, ``pyarrow``, ``numpy`` and ``pipeline``. A changed Parquet file therefore
redoes its own unit only, while a retrained tokenizer or a changed ``shards`` setting redoes
every unit and, without ``fresh``, stops with :class:`pipeline.units.StaleOutputError` instead.

Each batch of a unit's documents goes through these steps:

1. read the id, source, text and heading columns from Parquet;
2. encode the texts with :func:`pipeline.tokenizer.encode` and mark global content tokens;
3. assign each document to a split by a hash of its id;
4. cut rows with the configured layout and append them to the unit's shards of that split.

After the last unit, each split's ``manifest.json`` and ``documents.arrow`` are rebuilt from
the units' summaries (see :mod:`pipeline.shards.assemble`).

The steps run one after another in the calling thread. ``encode_batch`` already keeps every
core busy with its own threads, so Python work running beside it in a second thread only
competes with them. On 2 cores, encoding in a background thread made the stage up to twice
as slow.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from tokenizers import Tokenizer
from tqdm import tqdm

from pipeline.config import Config, ShardsConfig
from pipeline.corpus_units import corpus_store, finished_documents
from pipeline.fingerprint import DigestCache, Fingerprint, make_fingerprint
from pipeline.parquet import count_rows
from pipeline.shards.assemble import remove_split_files, write_split
from pipeline.shards.encoded import COLUMNS, DocumentColumns, EncodedBatch
from pipeline.shards.layouts import PackedLayout, SpecialTokens, WindowLayout
from pipeline.shards.masks import GlobalMasker
from pipeline.shards.schema import MANIFEST_FILE, SPLITS, SUMMARY_SUFFIX, token_dtype
from pipeline.shards.writer import UnitSplitWriter
from pipeline.tokenizer import SETTINGS_FILE, TOKENIZER_FILE, encode, load_tokenizer, special_token_id
from pipeline.unit_commit import UnitWriter
from pipeline.units import UnitStore

logger = logging.getLogger(__name__)

PACKAGES = ("tokenizers", "pyarrow", "numpy", "pipeline")
"""Packages whose versions go into each unit's fingerprint."""

OUTPUT_PATTERNS = (
    f"*{SUMMARY_SUFFIX}",
    "*/*-shard-*.arrow",
    "*/*-documents.arrow",
    # Files of earlier layouts: one folder without splits, then split folders without units.
    "shard-*.arrow",
    "documents.arrow",
    MANIFEST_FILE,
    "*/shard-*.arrow",
)
"""Files in the shards folder that belong to units; one that no marker claims is deleted."""


@dataclass(frozen=True)
class ShardUnit:
    """One cleaned Parquet file and the shards it becomes.

    Args:
        name: Unit name, ``<source>-<file stem>``.
        file: The cleaned Parquet file.
        fingerprint: What the unit's output depends on.
    """

    name: str
    file: Path
    fingerprint: Fingerprint


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


def plan_units(config: Config, cache: DigestCache) -> list[ShardUnit]:
    """List one unit per cleaned Parquet file, in source order, then file-name order."""
    tokenizer_inputs = {TOKENIZER_FILE: config.tokenizer_dir / TOKENIZER_FILE}
    if (config.tokenizer_dir / SETTINGS_FILE).exists():
        tokenizer_inputs[SETTINGS_FILE] = config.tokenizer_dir / SETTINGS_FILE
    units = []
    for source in config.sources:
        for file in _documents_files(config, source):
            # Labels relative to the config's folders, so moving corpora_dir keeps finished units.
            inputs = {**tokenizer_inputs, f"clean/{source}/{file.name}": file}
            fingerprint = make_fingerprint(
                config={"shards": config.shards}, inputs=inputs, packages=PACKAGES, cache=cache
            )
            units.append(ShardUnit(name=f"{source}-{file.stem}", file=file, fingerprint=fingerprint))
    return units


def _documents_files(config: Config, source: str) -> list[Path]:
    """List a source's cleaned Parquet files, only from a finished corpus unit when there is one.

    Once the corpus stage has finished any source, every source must have finished, so the
    partial output of a failed or killed corpus run is never encoded.
    """
    if any(corpus_store(config).marker(name) is not None for name in config.sources):
        return [config.clean_dir / key for key in finished_documents(config, [source])[source]]
    # NOTE: cleaned files written without the corpus stage (by hand or another tool) carry no
    # completion marker, so a partial folder cannot be told apart from a complete one.
    return sorted((config.clean_dir / source).glob("documents-*.parquet"))


class UnitEncoder:
    """Encode the documents of one unit and write its shards in both splits.

    Args:
        tokenizer: The trained tokenizer, with ``encode_special_tokens`` set.
        settings: The ``shards`` config section.
    """

    def __init__(self, tokenizer: Tokenizer, settings: ShardsConfig) -> None:
        self.tokenizer = tokenizer
        self.settings = settings
        self.dtype = token_dtype(tokenizer.get_vocab_size())
        self.special_ids = {
            token: special_token_id(tokenizer, token) for token in ("[PAD]", "[UNK]", "[CLS]", "[MASK]", "[SEP]")
        }
        self.special = SpecialTokens(
            pad=self.special_ids["[PAD]"],
            cls=self.special_ids["[CLS]"],
            sep=self.special_ids["[SEP]"],
            cls_global="cls" in settings.policies,
            sep_global="sep" in settings.policies,
        )
        self.masker = GlobalMasker.for_tokenizer(tokenizer, settings.policies)

    def write(self, unit: ShardUnit, writer: UnitWriter, progress: tqdm) -> None:
        """Write the unit's shards, documents tables and summary through ``writer``."""
        settings = self.settings
        layout_class = WindowLayout if settings.layout == "window" else PackedLayout
        splits: dict[str, UnitSplitWriter] = {}
        try:
            for split in SPLITS:
                splits[split] = UnitSplitWriter(
                    unit=unit.name,
                    open_path=partial(_split_path, writer, split),
                    layout=layout_class(max_len=settings.max_len, special=self.special, dtype=self.dtype),
                    rows_per_shard=settings.rows_per_shard,
                    bytes_per_shard=settings.bytes_per_shard,
                )
            for columns in iter_columns([unit.file], settings.batch_size):
                encoded = encode_columns(self.tokenizer, self.masker, columns, self.dtype)
                validation = validation_mask(encoded.ids, settings.validation_fraction)
                splits["train"].add(encoded.select(~validation))
                splits["validation"].add(encoded.select(validation))
                progress.update(len(encoded))
            summary = {split: split_writer.close() for split, split_writer in splits.items()}
        except BaseException:
            for split_writer in splits.values():
                split_writer.abort()
            raise

        writer.write_json(f"{unit.name}{SUMMARY_SUFFIX}", summary)
        writer.counts["documents"] = sum(summary[split]["documents"] for split in SPLITS)
        for split in SPLITS:
            writer.counts[f"{split}_rows"] = summary[split]["rows"]


def run(config: Config, *, fresh: bool = False) -> Path:
    """Write ``<outputs_dir>/shards/train`` and ``.../validation``; return the shards folder.

    Args:
        config: Pipeline config; the ``shards`` section sets the layout.
        fresh: Whether to rebuild units made with another config, tokenizer or package
            versions instead of raising :class:`pipeline.units.StaleOutputError`. Default: false.
    """
    settings = config.shards
    tokenizer_path = config.tokenizer_dir / TOKENIZER_FILE
    tokenizer = load_tokenizer(tokenizer_path)
    # A literal "[SEP]" in a document is text, not a row boundary.
    tokenizer.encode_special_tokens = True
    units = plan_units(config, DigestCache(None))
    if not units:
        raise FileNotFoundError(f"no cleaned documents under {config.clean_dir}; run `make corpus` first")
    encoder = UnitEncoder(tokenizer, settings)

    root = config.shards_dir
    store = UnitStore(root, config_key="outputs_dir", outputs=OUTPUT_PATTERNS)
    # The split-wide files describe every unit, so they go before any unit changes.
    remove_split_files(root, SPLITS)
    plan = store.reconcile({unit.name: unit.fingerprint for unit in units}, fresh=fresh)
    unfinished = set(plan.todo)
    todo = [unit for unit in units if unit.name in unfinished]
    logger.info("shards: %d of %d units already done, %d to write", len(plan.done), len(units), len(todo))

    with tqdm(total=count_rows([unit.file for unit in todo]), desc="shards", unit=" docs") as progress:
        for unit in todo:
            with store.unit(unit.name, unit.fingerprint) as writer:
                encoder.write(unit, writer, progress)

    names = [unit.name for unit in units]
    summaries = {name: json.loads((root / f"{name}{SUMMARY_SUFFIX}").read_text(encoding="utf-8")) for name in names}
    markers = {name: _marker(store, name) for name in names}
    manifest_settings = {
        "layout": settings.layout,
        "max_len": settings.max_len,
        "dtype": encoder.dtype.name,
        "vocab_size": tokenizer.get_vocab_size(),
        "special_ids": encoder.special_ids,
        "tokenizer_sha256": units[0].fingerprint.inputs[TOKENIZER_FILE].sha256,
        "global_mask": list(settings.policies),
        "validation_fraction": settings.validation_fraction,
    }
    for split in SPLITS:
        manifest = write_split(
            root, split, settings=manifest_settings, units=names, summaries=summaries, markers=markers
        )
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
            root / split,
        )
    return root


def _split_path(writer: UnitWriter, split: str, name: str) -> Path:
    return writer.path(f"{split}/{name}")


def _marker(store: UnitStore, name: str) -> dict[str, Any]:
    marker = store.marker(name)
    if marker is None:
        raise RuntimeError(f"unit {name} in {store.folder} has no completion marker after it was written")
    return marker
