"""Benchmark tokenizer training: the pipeline's stream against bare ``tokenizers``, MeCab against plain.

Builds the cleaned corpus of the shared Livedoor and WikiText samples once, with MeCab
morpheme ends, then times alternating runs and reports medians:

1. streaming: the tokenizer stage's training path (choose documents from the Parquet
   files, stream them, train) against the bare ``tokenizers`` BPE trainer given the same
   texts already in memory, with the same normalizer, pre-tokenizer and settings;
2. MeCab boundaries: training on morpheme-marked text against plain training, with the
   characters per token of each tokenizer on the held-out documents.

Usage::

    PYTHONPATH=. python bench/bench_tokenizer.py [--repeats 3] [--vocab-size 8000]
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import statistics
import tempfile
import time
from pathlib import Path

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

from pipeline import corpus
from pipeline.config import SPECIAL_TOKENS, Config, parse_config
from pipeline.parquet import clean_files
from pipeline.tokenizer.encoding import TokenizerSettings, attach_settings
from pipeline.tokenizer.model import train
from pipeline.tokenizer.report import source_report
from pipeline.tokenizer.stage import training_texts
from pipeline.tokenizer.training_data import SourcePlan, iter_chosen_texts, plan_training

SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpora"


def build_corpus(root: Path, vocab_size: int) -> Config:
    config = parse_config(
        {
            "corpora_dir": str(root / "corpora"),
            "outputs_dir": str(root / "outputs"),
            "sources": {
                "livedoor": {"path": str(SHARED / "livedoor" / "ldcc-sample.tar.gz")},
                "wikitext": {"path": str(SHARED / "wikitext" / "wikitext-2-raw")},
            },
            "segment": {"mecab": True},
            "tokenizer": {"vocab_size": vocab_size, "holdout_fraction": 0.1},
        }
    )
    corpus.run(config)
    return config


def plans_for(config: Config) -> list[SourcePlan]:
    files = {name: clean_files(config.clean_dir, [name]) for name in config.sources}
    settings = config.tokenizer
    return plan_training(
        files,
        max_characters=settings.max_characters,
        source_weights=settings.source_weights,
        holdout_fraction=settings.holdout_fraction,
        report_documents=settings.report_documents,
    )


def train_streaming(config: Config, settings: TokenizerSettings) -> Tokenizer:
    """Train the way the tokenizer stage does, planning included."""
    plans = plans_for(config)
    documents = sum(plan.training_documents for plan in plans)
    return train(
        training_texts(config, plans, settings),
        vocab_size=config.tokenizer.vocab_size,
        min_frequency=config.tokenizer.min_frequency,
        length=documents,
        show_progress=False,
    )


def train_bare(texts: list[str], config: Config) -> Tokenizer:
    """Train the bare ``tokenizers`` BPE trainer on texts in memory."""
    tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    trainer = trainers.BpeTrainer(
        vocab_size=config.tokenizer.vocab_size,
        min_frequency=config.tokenizer.min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer, length=len(texts))
    return tokenizer


def timed(function, *arguments):
    started = time.perf_counter()
    result = function(*arguments)
    return time.perf_counter() - started, result


def characters_per_token(tokenizer: Tokenizer, settings: TokenizerSettings, config: Config) -> dict[str, float]:
    attach_settings(tokenizer, settings)
    values = {}
    for plan in plans_for(config):
        batches = iter_chosen_texts(plan.files, plan.report_rows, batch_size=1000, with_ends=True)
        values[plan.source] = float(source_report(tokenizer, batches)["characters_per_token"])  # type: ignore[arg-type]
    return values


def summary(label: str, times: list[float]) -> str:
    return f"{label}: median {statistics.median(times):.2f} s ({', '.join(f'{value:.2f}' for value in times)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per setting (default: 3)")
    parser.add_argument("--vocab-size", type=int, default=8000, help="vocabulary size (default: 8000)")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory() as folder:
        config = build_corpus(Path(folder), arguments.vocab_size)
        plain = TokenizerSettings(mecab=False)
        mecab = dataclasses.replace(plain, mecab=True)
        texts = [text for batch in training_texts(config, plans_for(config), plain) for text in batch]
        characters = sum(len(text) for text in texts)
        print(f"{len(texts)} training documents, {characters} characters, vocab_size {arguments.vocab_size}")

        times: dict[str, list[float]] = {"streaming": [], "bare": [], "mecab": [], "plain": []}
        tokenizers: dict[str, Tokenizer] = {}
        for _ in range(arguments.repeats):
            seconds, _ = timed(train_streaming, config, plain)
            times["streaming"].append(seconds)
            seconds, _ = timed(train_bare, texts, config)
            times["bare"].append(seconds)
            seconds, tokenizers["mecab"] = timed(train_streaming, config, mecab)
            times["mecab"].append(seconds)
            seconds, tokenizers["plain"] = timed(train_streaming, config, plain)
            times["plain"].append(seconds)

        for label, values in times.items():
            print(summary(label, values))
        medians = {label: statistics.median(values) for label, values in times.items()}
        print(f"streaming / bare in-memory time ratio: {medians['streaming'] / medians['bare']:.2f}")
        print(f"MeCab-boundary / plain time ratio: {medians['mecab'] / medians['plain']:.2f}")
        for label, settings in (("mecab", mecab), ("plain", plain)):
            ratios = characters_per_token(tokenizers[label], settings, config)
            print(
                f"{label} characters per token on held-out documents: "
                + ", ".join(f"{k} {v:.3f}" for k, v in ratios.items())
            )


if __name__ == "__main__":
    main()
