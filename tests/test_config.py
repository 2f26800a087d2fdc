from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import ConfigError, load_config, parse_config
from tests.conftest import REPOSITORY


def test_defaults() -> None:
    config = parse_config({})

    assert config.corpora_dir == Path("corpora")
    assert config.outputs_dir == Path("outputs")
    assert config.tokenizer.vocab_size == 20000
    assert config.shards.max_len == 128


def test_shipped_configs_load() -> None:
    for path in sorted((REPOSITORY / "configs").glob("*.yaml")):
        config = load_config(path)
        assert config.sources, path


def test_unknown_key_lists_supported() -> None:
    with pytest.raises(ConfigError, match=r"supported keys: .*max_len"):
        parse_config({"shards": {"max_length": 64}})


def test_unknown_source_lists_supported() -> None:
    with pytest.raises(ConfigError, match="supported sources: livedoor, wikitext, jawiki"):
        parse_config({"sources": {"livedor": {}}})


def test_wrong_type_named() -> None:
    with pytest.raises(ConfigError, match=r"tokenizer\.vocab_size must be of type int"):
        parse_config({"tokenizer": {"vocab_size": "big"}})


def test_bool_is_not_int() -> None:
    with pytest.raises(ConfigError, match=r"shards\.max_len must be an integer"):
        parse_config({"shards": {"max_len": True}})


def test_invalid_policy_lists_supported() -> None:
    with pytest.raises(ConfigError, match="supported values: cls, headings"):
        parse_config({"shards": {"global_mask": ["everything"]}})


def test_max_len_below_three() -> None:
    with pytest.raises(ConfigError, match="max_len must be at least 3"):
        parse_config({"shards": {"max_len": 2}})


def test_vocab_below_specials_and_bytes() -> None:
    with pytest.raises(ConfigError, match="vocab_size must be at least 261"):
        parse_config({"tokenizer": {"vocab_size": 4}})


def test_missing_file_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.yaml not found"):
        load_config(tmp_path / "missing.yaml")


def test_invalid_yaml_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("sources: [unclosed\n")

    with pytest.raises(ConfigError, match=r"bad\.yaml could not be read as YAML"):
        load_config(path)
