"""Tokenizer stage: train a lossless byte-level BPE tokenizer from the cleaned corpus.

The tokenizer avoids the usual traps of this recipe:

- NFKC without accent stripping, so が stays が and データ stays データ;
- a byte-level pre-tokenizer with the matching byte-level decoder, so spaces survive decoding,
  ``decode(encode(x)) == NFKC(x)`` for every string, and no input maps to ``[UNK]``;
- the ``[CLS] ... [SEP]`` post-processor takes its ids from the trained vocabulary;
- no truncation inside the tokenizer: the shards stage cuts windows itself, so ``[SEP]`` is
  never cut off.

Writes ``<outputs_dir>/tokenizer/tokenizer.json``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

from tokenizers import Encoding, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from pipeline.config import SPECIAL_TOKENS, Config
from pipeline.parquet import clean_files, count_rows, iter_texts

logger = logging.getLogger(__name__)

TOKENIZER_FILE = "tokenizer.json"


def build_tokenizer() -> Tokenizer:
    """Return an untrained byte-level BPE tokenizer with the NFKC normalizer."""
    tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def add_post_processor(tokenizer: Tokenizer) -> None:
    """Wrap single sequences as ``[CLS] $A [SEP]``, with ids looked up in the vocabulary."""
    cls_id = special_token_id(tokenizer, "[CLS]")
    sep_id = special_token_id(tokenizer, "[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )


def special_token_id(tokenizer: Tokenizer, token: str) -> int:
    """Return the id of a special token, raising if the vocabulary lacks it."""
    token_id = tokenizer.token_to_id(token)
    if token_id is None:
        raise ValueError(f"tokenizer vocabulary has no {token} token; retrain it with `make tokenizer`")
    return token_id


def train(
    texts: Iterator[Sequence[str]], *, vocab_size: int, min_frequency: int, length: int | None = None
) -> Tokenizer:
    """Train a tokenizer from batches of texts.

    Args:
        texts: Batches of document texts, streamed.
        vocab_size: Target vocabulary size, special tokens and byte symbols included.
        min_frequency: Minimum pair count for a merge.
        length: Number of texts, for the progress bar only. Default: unknown.
    """
    tokenizer = build_tokenizer()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=True,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer, length=length)
    add_post_processor(tokenizer)
    return tokenizer


def run(config: Config) -> Path:
    """Train on every cleaned source and save ``tokenizer.json``; return its path."""
    files = clean_files(config.clean_dir, config.sources)
    if not files:
        raise FileNotFoundError(
            f"no cleaned documents under {config.clean_dir} for sources {', '.join(config.sources)}; "
            "run `make corpus` first"
        )

    documents = count_rows(files)
    logger.info(
        "training BPE (vocab_size=%d) on %d documents from %d files", config.tokenizer.vocab_size, documents, len(files)
    )
    tokenizer = train(
        iter_texts(files, batch_size=config.tokenizer.batch_size),
        vocab_size=config.tokenizer.vocab_size,
        min_frequency=config.tokenizer.min_frequency,
        length=documents,
    )

    config.tokenizer_dir.mkdir(parents=True, exist_ok=True)
    path = config.tokenizer_dir / TOKENIZER_FILE
    temporary = path.with_name(path.name + ".tmp")
    tokenizer.save(str(temporary))
    temporary.replace(path)
    logger.info("saved %s with %d tokens", path, tokenizer.get_vocab_size())
    return path


def load_tokenizer(path: Path) -> Tokenizer:
    """Load a saved tokenizer; a missing file raises an error naming the command that creates it."""
    if not path.exists():
        raise FileNotFoundError(f"tokenizer {path} not found; run `make tokenizer` first")
    return Tokenizer.from_file(str(path))


def encode(tokenizer: Tokenizer, texts: list[str]) -> list[Encoding]:
    """Encode texts the way the shards stage does: content tokens only, with offsets.

    Special tokens are added per window by the shards stage, not here.
    """
    return tokenizer.encode_batch(texts, add_special_tokens=False)
