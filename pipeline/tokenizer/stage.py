"""Tokenizer stage: train on the cleaned corpus, save the tokenizer folder, report its quality.

Writes into ``<outputs_dir>/tokenizer/``:

- ``tokenizer.json``: the tokenizer, loadable with ``tokenizers`` alone;
- ``pipeline_tokenizer.json``: backend, pre-tokenizer and whether texts are encoded morpheme
  by morpheme (see :mod:`pipeline.tokenizer.encoding`);
- ``tokenizer_config.json`` and ``special_tokens_map.json`` for ``transformers``;
- ``sentencepiece.model`` with a SentencePiece backend;
- ``report.json``: the quality report on held-out documents and the training cost.

The folder is one unit, ``tokenizer``, of :class:`~pipeline.units.UnitStore`, with the
marker ``tokenizer.done.json``: the files are written into ``.staging/`` first and appear
together when the unit commits. Its fingerprint contains the ``tokenizer`` and ``segment``
sections, ``shards.max_len`` (written into ``tokenizer_config.json``), the source names in
order, and the cleaned documents files with the size and SHA-256 their corpus markers
recorded, so nothing is hashed again. A rerun with the same fingerprint skips training.
``report.json`` contains timings, so its marker entry records only that it exists.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from tokenizers import Tokenizer
from tqdm import tqdm

from pipeline.config import SPECIAL_TOKENS, Config
from pipeline.corpus_units import finished_documents
from pipeline.fingerprint import FileDigest, Fingerprint, package_versions, to_plain
from pipeline.segment import resolve_workers
from pipeline.tokenizer.encoding import (
    TOKENIZER_FILE,
    TokenizerSettings,
    load_tokenizer,
    morpheme_pieces,
    token_pattern,
)
from pipeline.tokenizer.model import BOUNDARY, train
from pipeline.tokenizer.report import PeakMemory, format_table, source_report
from pipeline.tokenizer.spm import SENTENCEPIECE_FILE, train_sentencepiece
from pipeline.tokenizer.training_data import SourcePlan, iter_chosen_texts, plan_training
from pipeline.tokenizer.transformers_files import write_transformers_files
from pipeline.units import UnitStore

logger = logging.getLogger(__name__)

REPORT_FILE = "report.json"
TOKENIZER_UNIT = "tokenizer"
TOKENIZER_OUTPUTS = ("*.json", "*.model")
"""Glob patterns, relative to the tokenizer folder, of every file this stage writes."""
TOKENIZER_PACKAGES = ("pipeline", "tokenizers", "pyarrow", "sentencepiece", "fugashi", "unidic-lite")
STAGING_FOLDER = ".staging"


def run(config: Config, *, fresh: bool = False) -> Path:
    """Train on every cleaned source, save the tokenizer folder and its report; return ``tokenizer.json``.

    Args:
        config: The run configuration.
        fresh: Whether to retrain when the folder contains a tokenizer made from another
            config or corpus. Default: false, which raises
            :class:`~pipeline.units.StaleOutputError` instead.

    Raises:
        FileNotFoundError: A configured source has no finished corpus output.
    """
    settings = config.tokenizer
    documents_by_source = finished_documents(config, list(config.sources))
    fingerprint = tokenizer_fingerprint(config, documents_by_source)
    store = UnitStore(config.tokenizer_dir, config_key="outputs_dir", outputs=TOKENIZER_OUTPUTS)
    path = config.tokenizer_dir / TOKENIZER_FILE
    unit_plan = store.reconcile({TOKENIZER_UNIT: fingerprint}, fresh=fresh)
    staging = config.tokenizer_dir / STAGING_FOLDER
    shutil.rmtree(staging, ignore_errors=True)
    if not unit_plan.todo:
        logger.info("%s matches the config and the cleaned corpus; training skipped", path)
        return path

    files_by_source = {name: [config.clean_dir / key for key in files] for name, files in documents_by_source.items()}
    if not any(files_by_source.values()):
        raise FileNotFoundError(
            f"no cleaned documents under {config.clean_dir} for sources {', '.join(config.sources)}; "
            "run `make corpus` first"
        )

    plans = plan_training(
        files_by_source,
        max_characters=settings.max_characters,
        source_weights=settings.source_weights,
        holdout_fraction=settings.holdout_fraction,
        report_documents=settings.report_documents,
    )
    documents = sum(plan.training_documents for plan in plans)
    characters = sum(plan.training_characters for plan in plans)
    if not documents:
        raise ValueError(
            "no documents left for training after the hold-out and the character cap; "
            "lower tokenizer.holdout_fraction or raise tokenizer.max_characters"
        )
    encoding_settings = TokenizerSettings(
        backend=settings.backend,
        pre_tokenizer=settings.resolved_pre_tokenizer,
        mecab=config.segment.mecab,
        max_chunk_characters=config.segment.max_chunk_characters,
    )
    logger.info(
        "training %s (%s, vocab_size=%d, MeCab boundaries %s) on %d documents, %d characters",
        settings.backend,
        encoding_settings.pre_tokenizer,
        settings.vocab_size,
        "on" if encoding_settings.mecab else "off",
        documents,
        characters,
    )

    texts = training_texts(config, plans, encoding_settings)
    with PeakMemory() as memory:
        started = time.perf_counter()
        tokenizer, sentencepiece_model = _train_backend(config, texts, encoding_settings, documents)
        seconds = time.perf_counter() - started

    staging.mkdir(parents=True)
    staged = _save(config, staging, tokenizer, encoding_settings, sentencepiece_model)

    loaded = load_tokenizer(staged)
    report = {
        "backend": settings.backend,
        "pre_tokenizer": encoding_settings.pre_tokenizer,
        "mecab": encoding_settings.mecab,
        "vocab_size": loaded.get_vocab_size(),
        "training": {
            "seconds": round(seconds, 3),
            "peak_memory_bytes": memory.peak_bytes,
            "documents": documents,
            "characters": characters,
            "max_characters": settings.max_characters,
        },
        "sources": {
            plan.source: source_report(
                loaded,
                iter_chosen_texts(
                    plan.files, plan.report_rows, batch_size=settings.batch_size, with_ends=encoding_settings.mecab
                ),
            )
            for plan in plans
        },
        "selection": {plan.source: plan.as_dict() for plan in plans},
    }
    (staging / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    with store.unit(TOKENIZER_UNIT, fingerprint) as unit:
        for file in sorted(staging.iterdir()):
            os.replace(file, unit.path(file.name, volatile=file.name == REPORT_FILE))
    staging.rmdir()
    logger.info("saved %s with %d tokens", path, loaded.get_vocab_size())
    for plan in plans:
        if not sum(len(rows) for rows in plan.report_rows):
            logger.warning(
                "%s: no held-out documents, so the report has no figures for it; raise tokenizer.holdout_fraction",
                plan.source,
            )
    logger.info("tokenizer quality on held-out documents:\n%s", format_table(report))
    return path


def tokenizer_fingerprint(config: Config, documents_by_source: dict[str, dict[str, FileDigest]]) -> Fingerprint:
    """Return the fingerprint of the tokenizer unit, described in the module docstring."""
    parts = {
        "tokenizer": config.tokenizer,
        "segment": config.segment,
        "shards.max_len": config.shards.max_len,
        "sources": list(config.sources),
    }
    inputs = {key: digest for files in documents_by_source.values() for key, digest in files.items()}
    return Fingerprint(config=to_plain(parts), inputs=inputs, packages=package_versions(TOKENIZER_PACKAGES))


def training_texts(config: Config, plans: list[SourcePlan], settings: TokenizerSettings) -> Iterator[list[str]]:
    """Stream batches of training texts, with :data:`BOUNDARY` where no merge may span.

    Special and user-defined tokens are cut out of the text, and with MeCab segmentation
    every morpheme boundary is marked. A document without recorded morpheme ends is
    segmented here, in this process.
    """
    tokenizer_config = config.tokenizer
    added_tokens = token_pattern(
        [*SPECIAL_TOKENS, *tokenizer_config.extra_special_tokens, *tokenizer_config.user_tokens]
    )
    warned = False
    for plan in plans:
        for texts, ends in iter_chosen_texts(
            plan.files, plan.training_rows, batch_size=tokenizer_config.batch_size, with_ends=settings.mecab
        ):
            if not settings.mecab:
                yield [added_tokens.sub(BOUNDARY, text) for text in texts]
                continue

            if not warned and any(text and not text_ends for text, text_ends in zip(texts, ends, strict=True)):
                logger.warning(
                    "%s documents have no morpheme boundaries; segmenting them in this process now "
                    "(set segment.mecab before `make corpus` to segment them once, on all cores)",
                    plan.source,
                )
                warned = True
            yield [
                _marked_text(
                    morpheme_pieces(text, text_ends, added_tokens=added_tokens, settings=settings), added_tokens
                )
                for text, text_ends in zip(texts, ends, strict=True)
            ]


def _marked_text(pieces: list[str], added_tokens: re.Pattern[str]) -> str:
    return added_tokens.sub(BOUNDARY, BOUNDARY.join(pieces))


def _train_backend(
    config: Config, texts: Iterator[list[str]], settings: TokenizerSettings, documents: int
) -> tuple[Tokenizer, bytes | None]:
    tokenizer_config = config.tokenizer
    if tokenizer_config.backend == "hf_bpe":
        tokenizer = train(
            texts,
            vocab_size=tokenizer_config.vocab_size,
            min_frequency=tokenizer_config.min_frequency,
            length=documents,
            pre_tokenizer=tokenizer_config.resolved_pre_tokenizer,
            extra_special_tokens=tokenizer_config.extra_special_tokens,
            user_tokens=tokenizer_config.user_tokens,
        )
        return tokenizer, None

    flat = (text for batch in texts for text in batch)
    return train_sentencepiece(
        tqdm(flat, total=documents, desc="sentencepiece", unit=" docs"),
        model_type="bpe" if tokenizer_config.backend == "sentencepiece_bpe" else "unigram",
        vocab_size=tokenizer_config.vocab_size,
        extra_special_tokens=tokenizer_config.extra_special_tokens,
        user_tokens=tokenizer_config.user_tokens,
        threads=resolve_workers(config.workers),
    )


def _save(
    config: Config, folder: Path, tokenizer: Tokenizer, settings: TokenizerSettings, sentencepiece_model: bytes | None
) -> Path:
    path = folder / TOKENIZER_FILE
    tokenizer.save(str(path))

    settings.save(folder)
    write_transformers_files(
        folder, model_max_length=config.shards.max_len, extra_special_tokens=config.tokenizer.extra_special_tokens
    )
    if sentencepiece_model is not None:
        (folder / SENTENCEPIECE_FILE).write_bytes(sentencepiece_model)
    return path
