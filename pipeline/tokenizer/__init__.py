"""Tokenizer stage: train a lossless tokenizer on the cleaned corpus and encode text with it.

- :mod:`~pipeline.tokenizer.stage`: the stage itself, ``make tokenizer``;
- :mod:`~pipeline.tokenizer.model`: the Hugging Face BPE tokenizer and its training;
- :mod:`~pipeline.tokenizer.spm`: the SentencePiece backend;
- :mod:`~pipeline.tokenizer.encoding`: :func:`encode`, the one function that encodes text
  the way the shards stage does, with or without MeCab, and :func:`load_tokenizer`;
- :mod:`~pipeline.tokenizer.training_data`: hold-out, sampling and the training stream;
- :mod:`~pipeline.tokenizer.report`: the quality report;
- :mod:`~pipeline.tokenizer.transformers_files`: the files ``transformers`` reads.
"""

from pipeline.tokenizer.encoding import (
    SETTINGS_FILE,
    TOKENIZER_FILE,
    TokenizerSettings,
    encode,
    load_tokenizer,
    tokenizer_settings,
)
from pipeline.tokenizer.model import add_post_processor, build_tokenizer, special_token_id, train
from pipeline.tokenizer.stage import run

__all__ = [
    "SETTINGS_FILE",
    "TOKENIZER_FILE",
    "TokenizerSettings",
    "add_post_processor",
    "build_tokenizer",
    "encode",
    "load_tokenizer",
    "run",
    "special_token_id",
    "tokenizer_settings",
    "train",
]
