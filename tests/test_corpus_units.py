"""Corpus units: reruns skip finished sources, a change redoes exactly the sources it affects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from pipeline import cli, corpus
from pipeline.config import DEFAULT_FILTERS, Config
from pipeline.sources import SourceError
from pipeline.units import StaleOutputError
from tests import hostile
from tests.killing import snapshot

pytestmark = pytest.mark.timeout(60)

BODY = "A paragraph long enough for the quality rules, written twice in two different corpus formats."
OTHER = "Another paragraph, about rivers and bridges, long enough to pass every quality rule of the chain."
NO_DEDUP = [name for name in DEFAULT_FILTERS if name != "exact_dedup"]
NEAR_DEDUP = [*NO_DEDUP, {"near_dedup": {"threshold": 0.5}}]


def write_sources(root: Path, livedoor_body: str = BODY, wikitext_body: str = OTHER) -> dict[str, Any]:
    """Write a Livedoor folder with one article and a WikiText file with one article; return ``sources``."""
    article = root / "livedoor" / "text" / "cat" / "cat-1.txt"
    article.parent.mkdir(parents=True, exist_ok=True)
    article.write_text(f"http://example.com/1\n2020-01-01T00:00:00+0900\nShared Title\n{livedoor_body}\n")
    wikitext = root / "wikitext" / "wiki.train.raw"
    wikitext.parent.mkdir(parents=True, exist_ok=True)
    wikitext.write_text(f" = Shared Title = \n {wikitext_body} \n")
    return {"livedoor": {"path": str(article.parents[2])}, "wikitext": {"path": str(wikitext.parent)}}


def modification_times(clean: Path) -> dict[str, int]:
    return {path.relative_to(clean).as_posix(): path.stat().st_mtime_ns for path in clean.rglob("*") if path.is_file()}


def rewritten(before: dict[str, int], after: dict[str, int]) -> set[str]:
    """Return the top-level names (source folders and markers) with a file that was written again."""
    return {key.split("/")[0] for key in before.keys() | after.keys() if before.get(key) != after.get(key)}


def reject_reasons(config: Config, source: str) -> list[str]:
    files = sorted((config.clean_dir / source / "rejects").glob("*.parquet"))
    return [row["reason"] for file in files for row in pq.read_table(file).to_pylist()]


def test_rerun_skips_finished_sources(tmp_path: Path, make_config) -> None:
    config = make_config(write_sources(tmp_path))
    corpus.run(config)
    before = modification_times(config.clean_dir)

    results = corpus.run(config)

    assert modification_times(config.clean_dir) == before
    assert results["wikitext"]["counts"]["documents_out"] == 1


def test_marker_records_counts(tmp_path: Path, make_config) -> None:
    config = make_config(write_sources(tmp_path))

    corpus.run(config)

    marker = json.loads((config.clean_dir / "livedoor.done.json").read_text())
    assert marker["counts"] == {"documents_in": 1, "documents_out": 1, "documents_rejected": 0}
    assert marker["files"]["livedoor/manifest.json"] == {"volatile": True}
    assert "livedoor/index/14-exact_dedup.parquet" in marker["files"]


def test_changed_later_source_redoes_only_it(tmp_path: Path, make_config) -> None:
    config = make_config(write_sources(tmp_path))
    corpus.run(config)
    before = modification_times(config.clean_dir)
    write_sources(tmp_path, wikitext_body=OTHER + " One more sentence.")

    corpus.run(config, fresh=True)

    assert rewritten(before, modification_times(config.clean_dir)) == {"wikitext", "wikitext.done.json"}


def test_changed_earlier_source_redoes_later(tmp_path: Path, make_config) -> None:
    config = make_config(write_sources(tmp_path))
    corpus.run(config)
    before = modification_times(config.clean_dir)
    write_sources(tmp_path, livedoor_body=BODY + " One more sentence.")

    corpus.run(config, fresh=True)

    assert rewritten(before, modification_times(config.clean_dir)) == {
        "livedoor",
        "livedoor.done.json",
        "wikitext",
        "wikitext.done.json",
    }


def test_without_dedup_sources_independent(tmp_path: Path, make_config) -> None:
    config = make_config(write_sources(tmp_path), clean={"filters": NO_DEDUP})
    corpus.run(config)
    before = modification_times(config.clean_dir)
    write_sources(tmp_path, livedoor_body=BODY + " One more sentence.")

    corpus.run(config, fresh=True)

    assert rewritten(before, modification_times(config.clean_dir)) == {"livedoor", "livedoor.done.json"}


def test_changed_input_rejected_with_reason(tmp_path: Path, make_config) -> None:
    config = make_config(write_sources(tmp_path))
    corpus.run(config)
    before = snapshot(config.clean_dir)
    write_sources(tmp_path, wikitext_body=OTHER + " One more sentence.")

    with pytest.raises(StaleOutputError) as raised:
        corpus.run(config)

    message = str(raised.value)
    assert f"unit wikitext: input file {tmp_path / 'wikitext' / 'wiki.train.raw'} changed" in message
    assert "unit livedoor" not in message
    assert "Rerun with --fresh" in message
    assert snapshot(config.clean_dir) == before


def test_changed_config_names_key(tmp_path: Path, make_config) -> None:
    sources = write_sources(tmp_path)
    corpus.run(make_config(sources))

    with pytest.raises(StaleOutputError) as raised:
        corpus.run(make_config(sources, clean={"filters": [*DEFAULT_FILTERS, "near_dedup"]}))

    assert set(raised.value.stale) == {"livedoor", "wikitext"}
    assert any("config key clean.filters changed" in line for line in raised.value.stale["livedoor"])


def test_moved_output_folder_keeps_bytes(tmp_path: Path, make_config) -> None:
    sources = write_sources(tmp_path / "input")
    first = make_config(sources, workers=1)
    corpus.run(first)
    second = make_config(sources, workers=2, corpora_dir=str(tmp_path / "elsewhere"))

    corpus.run(second)

    assert snapshot(second.clean_dir) == snapshot(first.clean_dir)


@pytest.mark.parametrize(
    ("filters", "wikitext_body", "reason"),
    [
        (list(DEFAULT_FILTERS), BODY, "exact duplicate of livedoor/cat-1"),
        (NEAR_DEDUP, BODY.replace("twice", "two times"), "near duplicate of livedoor/cat-1"),
    ],
    ids=["exact", "near"],
)
def test_dedup_after_skipped_source(
    tmp_path: Path, make_config, filters: list[Any], wikitext_body: str, reason: str
) -> None:
    config = make_config(write_sources(tmp_path, wikitext_body=wikitext_body), clean={"filters": filters})
    corpus.run(config)
    reference = snapshot(config.clean_dir)
    # As if the run had been killed before the marker of wikitext was written.
    (config.clean_dir / "wikitext.done.json").unlink()

    corpus.run(config)

    assert reason in reject_reasons(config, "wikitext")[0]
    assert snapshot(config.clean_dir) == reference


def test_failed_source_has_no_marker(tmp_path: Path, make_config) -> None:
    archive = hostile.write_tar(tmp_path / "ldcc.tar.gz", hostile.articles(40))
    whole = archive.read_bytes()
    archive.write_bytes(whole[: len(whole) // 2])
    config = make_config({"livedoor": {"path": str(archive)}})

    with pytest.raises(SourceError):
        corpus.run(config)

    folder = config.clean_dir / "livedoor"
    assert not (config.clean_dir / "livedoor.done.json").exists()
    assert json.loads((folder / "manifest.json").read_text())["complete"] is False
    assert pq.read_metadata(folder / "documents-00000.parquet").num_rows > 0
    assert not list(folder.rglob("*.tmp"))


def test_failed_source_redone_on_rerun(tmp_path: Path, make_config) -> None:
    archive = hostile.write_tar(tmp_path / "ldcc.tar.gz", hostile.articles(40))
    whole = archive.read_bytes()
    archive.write_bytes(whole[: len(whole) // 2])
    config = make_config({"livedoor": {"path": str(archive)}})
    with pytest.raises(SourceError):
        corpus.run(config)
    archive.write_bytes(whole)

    results = corpus.run(config)

    assert (config.clean_dir / "livedoor.done.json").exists()
    assert results["livedoor"]["complete"] is True
    assert results["livedoor"]["counts"]["documents_in"] == 40


def test_cli_fresh_rebuilds_stale_source(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config_file = tmp_path / "config.yaml"
    data = {"corpora_dir": str(tmp_path / "corpora"), "sources": write_sources(tmp_path)}
    config_file.write_text(json.dumps(data))
    assert cli.main(["corpus", "--config", str(config_file)]) == 0
    write_sources(tmp_path, wikitext_body=OTHER + " One more sentence.")

    stale_code = cli.main(["corpus", "--config", str(config_file)])
    fresh_code = cli.main(["corpus", "--config", str(config_file), "--fresh"])

    assert stale_code == 2
    assert "unit wikitext: input file" in caplog.text
    assert fresh_code == 0
