"""Hostile and mistaken config files: every error names the key and what to do."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.config import (
    MAX_CONFIG_VALUES,
    SPECIAL_TOKENS,
    ConfigError,
    check_source_paths,
    load_config,
    parse_config,
)
from tests.conftest import REPOSITORY

pytestmark = pytest.mark.timeout(30)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# Unknown keys.


def test_unknown_source_key_named() -> None:
    with pytest.raises(ConfigError) as error:
        parse_config({"sources": {"livedoor": {"pth": "x.tar.gz"}}})

    message = str(error.value)
    assert "sources.livedoor: unknown key 'pth'" in message
    assert "supported keys: path, url" in message


def test_unknown_top_level_key_named() -> None:
    with pytest.raises(
        ConfigError, match=r"config: unknown key 'output_dir'; supported keys: corpora_dir, outputs_dir"
    ):
        parse_config({"output_dir": "out"})


def test_duplicate_key_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "shards:\n  max_len: 128\n  max_len: 64\n")

    with pytest.raises(ConfigError) as error:
        load_config(path)

    message = str(error.value)
    assert "duplicate key 'max_len'; keep one of its values" in message
    assert "line 3" in message


# Wrong types.


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"clean": ["nfkc"]}, "clean must be a mapping, got list"),
        ({"sources": {"wikitext": {"splits": "train"}}}, "sources.wikitext.splits must be a list, got str"),
        ({"workers": 1.5}, "workers must be of type int, got float"),
        ({"tokenizer": {"vocab_size": 2.0e4}}, "tokenizer.vocab_size must be of type int, got float"),
        ({"shards": {"max_len": "128"}}, "shards.max_len must be of type int, got str"),
        ({"sources": {"livedoor": {"path": 5}}}, "sources.livedoor.path must be a path string, got 5"),
        ({"sources": {"livedoor": {"path": ""}}}, "sources.livedoor.path must be a path string, got ''"),
        ({"sources": {"livedoor": {"path": "a\0b"}}}, "sources.livedoor.path must not contain a NUL character"),
        ({"sources": {"livedoor": {"options": []}}}, "sources.livedoor.options must be a mapping, got list"),
    ],
    ids=[
        "section",
        "list",
        "float-workers",
        "float-vocab",
        "string-int",
        "int-path",
        "empty-path",
        "nul-path",
        "options",
    ],
)
def test_wrong_type_named(data: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(data)

    assert expected in str(error.value)


def test_top_level_list_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "- corpora_dir: x\n")

    with pytest.raises(ConfigError, match=r"config\.yaml must be a mapping, got list"):
        load_config(path)


def test_python_tag_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    path = write(tmp_path, f'workers: !!python/object/apply:os.system ["touch {marker}"]\n')

    with pytest.raises(ConfigError, match="could not be read as YAML"):
        load_config(path)

    assert not marker.exists()


def test_non_utf8_file_named(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes("workers: 1 # コメント\n".encode("shift_jis"))

    with pytest.raises(ConfigError, match=r"config\.yaml could not be read as YAML"):
        load_config(path)


def test_folder_as_config_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="could not be read as YAML"):
        load_config(tmp_path)


# Alias expansion.


def test_alias_bomb_rejected_fast(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    path = write(tmp_path, "\n".join(lines) + "\nclean:\n  filters: *a8\n")

    started = time.monotonic()
    with pytest.raises(ConfigError) as error:
        load_config(path)

    assert f"more than {MAX_CONFIG_VALUES} values once YAML aliases are expanded" in str(error.value)
    assert time.monotonic() - started < 5


def test_recursive_alias_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "clean:\n  filters: &loop [nfkc, *loop]\n")

    with pytest.raises(ConfigError, match="YAML aliases"):
        load_config(path)


# Values out of range.


@pytest.mark.parametrize("max_len", [-1, 0, 2])
def test_max_len_below_three_named(max_len: int) -> None:
    with pytest.raises(ConfigError, match=rf"shards\.max_len must be at least 3 .*got {max_len}"):
        parse_config({"shards": {"max_len": max_len}})


def test_max_len_three_accepted() -> None:
    assert parse_config({"shards": {"max_len": 3}}).shards.max_len == 3


def test_max_len_over_arrow_limit() -> None:
    with pytest.raises(ConfigError, match=r"shards\.max_len must be at most 2147483647"):
        parse_config({"shards": {"max_len": 2**31}})


@pytest.mark.parametrize("vocab_size", [-5, 0, len(SPECIAL_TOKENS) - 1, len(SPECIAL_TOKENS), 260])
def test_vocab_below_specials_named(vocab_size: int) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config({"tokenizer": {"vocab_size": vocab_size}})

    message = str(error.value)
    assert "tokenizer.vocab_size must be at least 261" in message
    assert "the special and user tokens and the 256 byte tokens" in message
    assert f"got {vocab_size}" in message


def test_vocab_smallest_accepted() -> None:
    assert parse_config({"tokenizer": {"vocab_size": 261}}).tokenizer.vocab_size == 261


def test_vocab_over_uint32_named() -> None:
    with pytest.raises(ConfigError, match=r"tokenizer\.vocab_size must be at most 4294967296"):
        parse_config({"tokenizer": {"vocab_size": 2**32 + 1}})


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"tokenizer": {"min_frequency": -1}}, "tokenizer.min_frequency must be at least 1, got -1"),
        ({"tokenizer": {"batch_size": 0}}, "tokenizer.batch_size must be at least 1, got 0"),
        ({"workers": -2}, "workers must be 0 (one per core) or more, got -2"),
        (
            {"sources": {"livedoor": {"max_document_bytes": 0}}},
            "sources.livedoor.max_document_bytes must be at least 1",
        ),
        ({"sources": {"livedoor": {"max_archive_bytes": -1}}}, "sources.livedoor.max_archive_bytes must be at least 1"),
        ({"sources": {"wikitext": {"splits": []}}}, "sources.wikitext.splits must list at least one split"),
    ],
    ids=["min-frequency", "tokenizer-batch", "workers", "document-limit", "archive-limit", "splits"],
)
def test_out_of_range_named(data: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(data)

    assert expected in str(error.value)


# Paths that do not exist.


def test_missing_source_path_named(tmp_path: Path) -> None:
    config = parse_config({"sources": {"livedoor": {"path": str(tmp_path / "ldcc.tar.gz")}}})

    with pytest.raises(ConfigError) as error:
        check_source_paths(config)

    message = str(error.value)
    assert f"sources.livedoor.path: {tmp_path / 'ldcc.tar.gz'} does not exist" in message
    assert "remove the key to download the corpus" in message


def test_relative_path_names_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = parse_config({"sources": {"wikitext": {"path": "corpora/missing"}}})

    with pytest.raises(ConfigError, match=rf"relative paths start at {tmp_path}"):
        check_source_paths(config)


def test_cli_missing_path_writes_nothing(tmp_path: Path) -> None:
    path = write(
        tmp_path, f"corpora_dir: {tmp_path / 'corpora'}\nsources:\n  livedoor:\n    path: {tmp_path / 'gone.tar.gz'}\n"
    )

    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "corpus", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPOSITORY)},
    )

    assert result.returncode == 2
    assert "sources.livedoor.path" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "corpora").exists()
