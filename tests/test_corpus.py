"""The corpus stage on the real samples: manifests that add up, reruns that repeat, dedup and --explain."""

from __future__ import annotations

import hashlib
import itertools
import json
from importlib import metadata
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

from pipeline import cli, corpus
from pipeline.config import DEFAULT_FILTERS, Config, parse_config
from tests.conftest import LIVEDOOR_SAMPLE, WIKITEXT_SAMPLE, require

# A stricter chain than the default, so that the samples produce rejections in several steps.
STRICT_FILTERS = [
    *DEFAULT_FILTERS,
    {"length": {"min_characters": 1500}},
    {"letter_ratio": {"min_ratio": 0.8}},
    {"near_dedup": {"threshold": 0.5}},
]


def sample_config(root: Path, **clean: Any) -> Config:
    return parse_config(
        {
            "corpora_dir": str(root / "corpora"),
            "sources": {
                "livedoor": {"path": str(require(LIVEDOOR_SAMPLE))},
                "wikitext": {"path": str(require(WIKITEXT_SAMPLE))},
            },
            "clean": clean,
        },
        origin="test config",
    )


@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> Config:
    config = sample_config(tmp_path_factory.mktemp("default"))
    corpus.run(config)
    return config


@pytest.fixture(scope="module")
def strict_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, Config]:
    configs = []
    for name in ("strict-1", "strict-2"):
        config = sample_config(tmp_path_factory.mktemp(name), filters=STRICT_FILTERS)
        corpus.run(config)
        configs.append(config)
    return configs[0], configs[1]


def manifest(config: Config, source: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((config.clean_dir / source / "manifest.json").read_text(encoding="utf-8"))
    return result


def rows(folder: Path, pattern: str) -> list[dict[str, Any]]:
    return [row for file in sorted(folder.glob(pattern)) for row in pq.read_table(file).to_pylist()]


def check_counts_add_up(counts: dict[str, Any]) -> None:
    steps = counts["steps"]
    assert counts["documents_in"] == counts["documents_out"] + counts["documents_rejected"]
    assert counts["documents_rejected"] == sum(step["documents_rejected"] for step in steps)
    for step in steps:
        assert step["documents_in"] == step["documents_out"] + step["documents_rejected"], step["step"]
    for before, after in itertools.pairwise(steps):
        assert before["documents_out"] == after["documents_in"], after["step"]
        assert before["characters_out"] == after["characters_in"], after["step"]
    assert steps[0]["documents_in"] == counts["documents_in"]
    assert steps[0]["characters_in"] == counts["characters_in"]
    assert steps[-1]["documents_out"] == counts["documents_out"]
    assert steps[-1]["characters_out"] == counts["characters_out"]


@pytest.mark.parametrize("source", ["livedoor", "wikitext"])
def test_default_keeps_sample_articles(default_run: Config, source: str) -> None:
    counts = manifest(default_run, source)["counts"]

    # Sample facts: 360 Livedoor articles, 31 WikiText articles, all real and distinct.
    assert counts["documents_out"] == {"livedoor": 360, "wikitext": 31}[source]
    check_counts_add_up(counts)


@pytest.mark.parametrize("source", ["livedoor", "wikitext"])
def test_strict_counts_add_up(strict_runs: tuple[Config, Config], source: str) -> None:
    counts = manifest(strict_runs[0], source)["counts"]

    check_counts_add_up(counts)
    assert counts["documents_rejected"] > 0


@pytest.mark.parametrize("source", ["livedoor", "wikitext"])
def test_counts_match_files(strict_runs: tuple[Config, Config], source: str) -> None:
    config = strict_runs[0]
    counts = manifest(config, source)["counts"]
    folder = config.clean_dir / source

    documents = rows(folder, "documents-*.parquet")
    rejects = rows(folder / "rejects", "rejects-*.parquet")

    assert len(documents) == counts["documents_out"]
    assert sum(len(row["text"]) for row in documents) == counts["characters_out"]
    assert len(rejects) == counts["documents_rejected"]
    by_step = {step["step"]: step["documents_rejected"] for step in counts["steps"]}
    for name in {row["filter"] for row in rejects}:
        assert sum(row["filter"] == name for row in rejects) == by_step[name], name


def test_strict_rejects_several_steps(strict_runs: tuple[Config, Config]) -> None:
    rejected_by = {
        step["step"]
        for source in ("livedoor", "wikitext")
        for step in manifest(strict_runs[0], source)["counts"]["steps"]
        if step["documents_rejected"]
    }

    assert {"length", "letter_ratio"} <= rejected_by


def test_manifest_inputs_hashed(default_run: Config) -> None:
    inputs = manifest(default_run, "livedoor")["inputs"]

    assert inputs == [
        {
            "path": str(LIVEDOOR_SAMPLE),
            "bytes": LIVEDOOR_SAMPLE.stat().st_size,
            "sha256": hashlib.sha256(LIVEDOOR_SAMPLE.read_bytes()).hexdigest(),
        }
    ]


def test_manifest_outputs_hashed(strict_runs: tuple[Config, Config]) -> None:
    folder = strict_runs[0].clean_dir / "livedoor"

    outputs = manifest(strict_runs[0], "livedoor")["outputs"]

    assert {entry["file"] for entry in outputs} == {
        "documents-00000.parquet",
        "rejects/rejects-00000.parquet",
        "trail/trail-00000.parquet",
    }
    for entry in outputs:
        assert entry["sha256"] == hashlib.sha256((folder / entry["file"]).read_bytes()).hexdigest()
        assert entry["rows"] == pq.ParquetFile(folder / entry["file"]).metadata.num_rows


def test_manifest_config_and_packages(default_run: Config) -> None:
    recorded = manifest(default_run, "wikitext")

    assert recorded["config"]["clean"]["filters"] == list(DEFAULT_FILTERS)
    assert recorded["config"]["sources"]["wikitext"]["path"] == str(WIKITEXT_SAMPLE)
    assert recorded["packages"]["pyarrow"] == metadata.version("pyarrow")
    assert recorded["packages"]["ftfy"] == metadata.version("ftfy")
    assert recorded["complete"] is True


@pytest.mark.parametrize("source", ["livedoor", "wikitext"])
def test_rerun_byte_identical(strict_runs: tuple[Config, Config], source: str) -> None:
    first, second = (config.clean_dir / source for config in strict_runs)
    files = sorted(path.relative_to(first) for path in first.rglob("*.parquet"))

    assert files == sorted(path.relative_to(second) for path in second.rglob("*.parquet"))
    for file in files:
        assert (first / file).read_bytes() == (second / file).read_bytes(), file


@pytest.mark.parametrize("source", ["livedoor", "wikitext"])
def test_rerun_same_manifest_counts(strict_runs: tuple[Config, Config], source: str) -> None:
    first, second = (manifest(config, source) for config in strict_runs)

    assert first["counts"] == second["counts"]
    assert first["outputs"] == second["outputs"]
    assert first["inputs"] == second["inputs"]


def write_pair(root: Path, body: str) -> dict[str, Any]:
    """Write one Livedoor article and one WikiText article with the same title and body."""
    article = root / "livedoor" / "text" / "cat" / "cat-1.txt"
    article.parent.mkdir(parents=True)
    article.write_text(f"http://example.com/1\n2020-01-01T00:00:00+0900\nShared Title\n{body}\n", encoding="utf-8")
    wikitext = root / "wikitext" / "wiki.train.raw"
    wikitext.parent.mkdir(parents=True)
    wikitext.write_text(f" = Shared Title = \n {body} \n", encoding="utf-8")
    return {"livedoor": {"path": str(article.parents[2])}, "wikitext": {"path": str(wikitext.parent)}}


BODY = "A paragraph long enough for the quality rules, written twice in two different corpus formats."


def test_dedup_across_sources(tmp_path: Path, make_config) -> None:
    config = make_config(write_pair(tmp_path, BODY))

    results = corpus.run(config)

    assert results["livedoor"]["counts"]["documents_out"] == 1
    rejects = rows(config.clean_dir / "wikitext" / "rejects", "*.parquet")
    assert [(row["filter"], row["reason"]) for row in rejects] == [
        ("exact_dedup", "exact duplicate of livedoor/cat-1 after normalization")
    ]


def test_dedup_follows_config_order(tmp_path: Path, make_config) -> None:
    sources = write_pair(tmp_path, BODY)
    config = make_config({"wikitext": sources["wikitext"], "livedoor": sources["livedoor"]})

    corpus.run(config)

    rejects = rows(config.clean_dir / "livedoor" / "rejects", "*.parquet")
    assert [row["reason"] for row in rejects] == ["exact duplicate of wikitext/train-000000 after normalization"]


def explain_output(config: Config, document_id: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Write ``config`` as YAML, run ``corpus --explain document_id`` and return the exit code and stdout."""
    data = {
        "corpora_dir": str(config.corpora_dir),
        "sources": {name: {"path": str(source.path)} for name, source in config.sources.items()},
        "clean": {"filters": config.clean.filters},
    }
    config_file = config.corpora_dir.parent / "config.yaml"
    config_file.write_text(yaml.safe_dump(data), encoding="utf-8")

    capsys.readouterr()
    code = cli.main(["corpus", "--config", str(config_file), "--explain", document_id])
    return code, capsys.readouterr().out


def test_explain_kept_document(default_run: Config, capsys: pytest.CaptureFixture[str]) -> None:
    code, output = explain_output(default_run, "livedoor/it-life-hack-6306744", capsys)

    assert code == 0
    lines = output.splitlines()
    assert lines[0].startswith("document livedoor/it-life-hack-6306744 (source livedoor")
    boilerplate = next(line for line in lines if "livedoor_boilerplate" in line)
    assert "changed:" in boilerplate
    assert "wikitext_leftovers" in next(line for line in lines if "wikitext_leftovers" in line)
    assert "not applicable" in next(line for line in lines if "wikitext_leftovers" in line)
    assert "unchanged" in next(line for line in lines if "exact_dedup" in line)
    assert lines[-1].startswith("result: kept")


def test_explain_rejected_document(tmp_path: Path, make_config, capsys: pytest.CaptureFixture[str]) -> None:
    config = make_config(write_pair(tmp_path, BODY))
    corpus.run(config)

    code, output = explain_output(config, "wikitext/train-000000", capsys)

    assert code == 0
    assert "exact_dedup" in output
    assert "rejected: exact duplicate of livedoor/cat-1 after normalization" in output
    assert output.splitlines()[-1].startswith("result: rejected by exact_dedup")


def test_explain_unknown_id(
    default_run: Config, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    code, output = explain_output(default_run, "livedoor/no-such-article", capsys)

    assert code == 2
    assert output == ""
    assert "document livedoor/no-such-article not found" in caplog.text


def test_explain_needs_source_prefix(
    default_run: Config, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    code, _ = explain_output(default_run, "it-life-hack-6306744", capsys)

    assert code == 2
    assert "must have the form <source>/<name>" in caplog.text


def test_explain_only_with_corpus(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["shards", "--config", str(tmp_path / "c.yaml"), "--explain", "livedoor/x"])

    assert exit_info.value.code == 2
