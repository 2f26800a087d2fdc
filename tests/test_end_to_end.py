from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import yaml

from pipeline.config import Config
from pipeline.parquet import DOCUMENT_SCHEMA, clean_files
from tests.conftest import REPOSITORY


def run_cli(*arguments: str, cwd: Path = REPOSITORY) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *arguments], cwd=cwd, capture_output=True, text=True, timeout=240
    )


def test_clean_parquet_schema_and_counts(shared_run: Config) -> None:
    files = clean_files(shared_run.clean_dir, ["livedoor", "wikitext"])
    tables = {file.parent.name: pq.read_table(file) for file in files}

    assert tables["livedoor"].num_rows == 360
    assert tables["wikitext"].num_rows == 31
    for table in tables.values():
        assert table.schema.equals(DOCUMENT_SCHEMA)


def test_clean_headings_point_at_lines(shared_run: Config) -> None:
    for file in clean_files(shared_run.clean_dir, ["livedoor", "wikitext"]):
        for row in pq.read_table(file).to_pylist():
            text = row["text"]
            for heading in row["headings"]:
                line = text[heading["start"] : heading["end"]]
                assert line
                assert "\n" not in line
                assert heading["start"] == 0 or text[heading["start"] - 1] == "\n"
                assert heading["end"] == len(text) or text[heading["end"]] == "\n"
            assert text[: len(row["title"])] == row["title"]


def test_demo_pipeline_via_cli(tmp_path: Path) -> None:
    config = yaml.safe_load((REPOSITORY / "configs" / "demo.yaml").read_text())
    config["corpora_dir"] = str(tmp_path / "corpora")
    config["outputs_dir"] = str(tmp_path / "outputs")
    config_path = tmp_path / "demo.yaml"
    config_path.write_text(yaml.safe_dump(config))

    result = run_cli("all", "--config", str(config_path))

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "outputs" / "tokenizer" / "tokenizer.json").exists()
    assert list((tmp_path / "outputs" / "shards").rglob("*.arrow"))
    assert not (REPOSITORY / "corpora" / "clean" / "never").exists()


def test_missing_source_path_named(tmp_path: Path) -> None:
    config_path = tmp_path / "bad.yaml"
    missing = tmp_path / "nowhere" / "ldcc.tar.gz"
    config_path.write_text(
        yaml.safe_dump({"corpora_dir": str(tmp_path / "c"), "sources": {"livedoor": {"path": str(missing)}}})
    )

    result = run_cli("corpus", "--config", str(config_path))

    assert result.returncode == 2
    assert str(missing) in result.stderr
    assert "sources.livedoor.path" in result.stderr


def test_unknown_config_key_fails(tmp_path: Path) -> None:
    config_path = tmp_path / "bad.yaml"
    config_path.write_text("shards: {max_length: 10}\n")

    result = run_cli("shards", "--config", str(config_path))

    assert result.returncode == 2
    assert "unknown key 'max_length'" in result.stderr


def test_config_without_sources_fails(tmp_path: Path) -> None:
    config_path = tmp_path / "empty.yaml"
    config_path.write_text(f"corpora_dir: {tmp_path / 'c'}\n")

    result = run_cli("corpus", "--config", str(config_path))

    assert result.returncode == 2
    assert "lists no sources" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "c").exists()
