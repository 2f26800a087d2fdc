"""The segment and tokenizer config sections: defaults and errors that name the key."""

from __future__ import annotations

import pytest

from pipeline.config import ConfigError, parse_config


def test_defaults() -> None:
    config = parse_config({})

    assert config.segment.mecab is False
    assert config.tokenizer.backend == "hf_bpe"
    assert config.tokenizer.resolved_pre_tokenizer == "byte_level"
    assert config.tokenizer.max_characters is None


def test_sentencepiece_defaults_to_metaspace() -> None:
    config = parse_config({"tokenizer": {"backend": "sentencepiece_unigram"}})

    assert config.tokenizer.resolved_pre_tokenizer == "metaspace"


def test_unknown_backend_lists_supported() -> None:
    with pytest.raises(ConfigError, match=r"tokenizer\.backend: invalid value 'wordpiece'; supported values: hf_bpe"):
        parse_config({"tokenizer": {"backend": "wordpiece"}})


def test_unknown_pre_tokenizer_lists_supported() -> None:
    with pytest.raises(ConfigError, match=r"supported values: byte_level, metaspace"):
        parse_config({"tokenizer": {"pre_tokenizer": "whitespace"}})


def test_byte_level_with_sentencepiece_rejected() -> None:
    with pytest.raises(ConfigError, match=r"not supported by backend sentencepiece_bpe; supported values: metaspace"):
        parse_config({"tokenizer": {"backend": "sentencepiece_bpe", "pre_tokenizer": "byte_level"}})


def test_vocab_counts_added_tokens() -> None:
    with pytest.raises(ConfigError, match=r"vocab_size must be at least 263"):
        parse_config({"tokenizer": {"vocab_size": 262, "extra_special_tokens": ["[A]"], "user_tokens": ["<b>"]}})


def test_duplicate_token_named() -> None:
    with pytest.raises(ConfigError, match=r"token '\[CLS\]' is listed twice"):
        parse_config({"tokenizer": {"extra_special_tokens": ["[CLS]"]}})


def test_empty_token_rejected() -> None:
    with pytest.raises(ConfigError, match=r"must not contain an empty string"):
        parse_config({"tokenizer": {"user_tokens": [""]}})


def test_weight_for_unknown_source_named() -> None:
    with pytest.raises(
        ConfigError, match=r"source_weights\.jawiki names no configured source; configured sources: livedoor"
    ):
        parse_config({"sources": {"livedoor": {}}, "tokenizer": {"source_weights": {"jawiki": 2}}})


def test_weight_must_be_positive() -> None:
    with pytest.raises(ConfigError, match=r"source_weights\.livedoor must be greater than 0"):
        parse_config({"sources": {"livedoor": {}}, "tokenizer": {"source_weights": {"livedoor": 0}}})


def test_max_characters_positive() -> None:
    with pytest.raises(ConfigError, match=r"max_characters must be at least 1"):
        parse_config({"tokenizer": {"max_characters": 0}})


def test_holdout_fraction_range() -> None:
    with pytest.raises(ConfigError, match=r"holdout_fraction must be at least 0 and below 1"):
        parse_config({"tokenizer": {"holdout_fraction": 1.0}})


def test_mecab_must_be_bool() -> None:
    with pytest.raises(ConfigError, match=r"segment\.mecab must be of type bool"):
        parse_config({"segment": {"mecab": "yes"}})


def test_chunk_length_minimum() -> None:
    with pytest.raises(ConfigError, match=r"segment\.max_chunk_characters must be at least 100"):
        parse_config({"segment": {"max_chunk_characters": 10}})
