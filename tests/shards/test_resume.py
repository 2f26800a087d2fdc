"""Shards stage in units: killed runs resume to the same bytes, and changes redo only what they affect."""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline import shards
from pipeline.atomic import DiskFullError
from pipeline.config import Config, parse_config
from pipeline.shards.writer import ShardWriter
from pipeline.units import MARKER_SUFFIX, StaleOutputError
from tests.killing import run_stage, run_with_fault, snapshot, write_config

pytestmark = pytest.mark.timeout(240)

UNITS = ("wikitext-documents-00000", "wikitext-documents-00001", "wikitext-documents-00002")
SHARD_SETTINGS = {"max_len": 64, "rows_per_shard": 100, "validation_fraction": 0.1}
ONE_THREAD = {"RAYON_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def corpus(shared_run: Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A corpora folder whose WikiText documents are split over three Parquet files, one unit each."""
    corpora = tmp_path_factory.mktemp("units-corpus")
    folder = corpora / "clean" / "wikitext"
    folder.mkdir(parents=True)
    table = pq.read_table(shared_run.clean_dir / "wikitext" / "documents-00000.parquet")
    for index, start in enumerate(range(0, table.num_rows, 11)):
        pq.write_table(table.slice(start, 11), folder / f"documents-{index:05d}.parquet")
    return corpora


def settings(root: Path, corpora: Path, shared_run: Config, **shard_settings: object) -> dict[str, object]:
    """Return config data writing to ``root/outputs``, with the shared run's tokenizer copied there."""
    tokenizer_dir = root / "outputs" / "tokenizer"
    if not tokenizer_dir.exists():
        shutil.copytree(shared_run.tokenizer_dir, tokenizer_dir)
    return {
        "corpora_dir": str(corpora),
        "outputs_dir": str(root / "outputs"),
        "sources": {"wikitext": {}},
        "shards": {**SHARD_SETTINGS, **shard_settings},
    }


@pytest.fixture(scope="module")
def reference(corpus: Path, shared_run: Config, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Snapshot of the shards folder after one uninterrupted single-thread run."""
    root = tmp_path_factory.mktemp("units-reference")
    run_stage("shards", write_config(root / "config.yaml", settings(root, corpus, shared_run)), environment=ONE_THREAD)
    return snapshot(root / "outputs" / "shards")


def commit_steps(folder: Path) -> list[int]:
    """Return the commit step at which each unit's marker is written: a journal, one per file, the marker."""
    steps, total = [], 0
    for unit in UNITS:
        marker = json.loads((folder / f"{unit}{MARKER_SUFFIX}").read_text())
        total += 1 + len(marker["files"]) + 1
        steps.append(total)
    return steps


def test_reference_has_units(reference: dict[str, str]) -> None:
    markers = sorted(name.removesuffix(MARKER_SUFFIX) for name in reference if name.endswith(MARKER_SUFFIX))
    train_shards = [name for name in reference if name.startswith("train/") and "-shard-" in name]

    assert markers == list(UNITS)
    assert len(train_shards) > len(UNITS)
    assert "train/manifest.json" in reference
    assert "validation/documents.arrow" in reference


def test_killed_at_commit_steps_resumes(
    corpus: Path, shared_run: Config, reference: dict[str, str], tmp_path: Path
) -> None:
    reference_root = tmp_path / "steps"
    run_stage("shards", write_config(tmp_path / "steps.yaml", settings(reference_root, corpus, shared_run)))
    marker_steps = commit_steps(reference_root / "outputs" / "shards")
    # After the first journal, inside the second unit's renames, and right after the last marker.
    steps = [1, marker_steps[0] + 3, marker_steps[-1]]

    for step in steps:
        root = tmp_path / f"step-{step}"
        config = write_config(root / "config.yaml", settings(root, corpus, shared_run))

        returncode = run_with_fault("shards", config, step=step)
        rerun = run_stage("shards", config)

        assert returncode == -9, f"step {step}"
        assert snapshot(root / "outputs" / "shards") == reference, f"step {step}"
        finished = sum(step >= marker_step for marker_step in marker_steps)
        assert f"{finished} of 3 units already done" in rerun.stderr, f"step {step}"


def test_same_across_threads(corpus: Path, shared_run: Config, reference: dict[str, str], tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.yaml", settings(tmp_path, corpus, shared_run))

    run_stage("shards", config, environment={"RAYON_NUM_THREADS": "2"})

    assert snapshot(tmp_path / "outputs" / "shards") == reference


def test_changed_file_redoes_its_unit(corpus: Path, shared_run: Config, tmp_path: Path) -> None:
    corpora = tmp_path / "corpora"
    shutil.copytree(corpus, corpora)
    config = parse_config(settings(tmp_path / "changed", corpora, shared_run))
    shards.run(config)
    before = {unit: (config.shards_dir / f"{unit}{MARKER_SUFFIX}").stat() for unit in UNITS}

    changed = corpora / "clean" / "wikitext" / "documents-00001.parquet"
    table = pq.read_table(changed)
    pq.write_table(table.slice(0, table.num_rows - 1), changed)
    with pytest.raises(StaleOutputError, match=r"input file clean/wikitext/documents-00001\.parquet changed"):
        shards.run(config)
    shards.run(config, fresh=True)
    after = {unit: (config.shards_dir / f"{unit}{MARKER_SUFFIX}").stat() for unit in UNITS}

    fresh = parse_config(settings(tmp_path / "fresh", corpora, shared_run))
    shards.run(fresh)
    assert after[UNITS[0]].st_mtime_ns == before[UNITS[0]].st_mtime_ns
    assert after[UNITS[1]].st_mtime_ns != before[UNITS[1]].st_mtime_ns
    assert after[UNITS[2]].st_mtime_ns == before[UNITS[2]].st_mtime_ns
    assert snapshot(config.shards_dir) == snapshot(fresh.shards_dir)


def test_changed_max_len_rejected(corpus: Path, shared_run: Config, tmp_path: Path) -> None:
    shards.run(parse_config(settings(tmp_path, corpus, shared_run)))
    changed = parse_config(settings(tmp_path, corpus, shared_run, max_len=32))

    with pytest.raises(StaleOutputError, match=r"config key shards\.max_len changed from 64 to 32") as refused:
        shards.run(changed)
    shards.run(changed, fresh=True)

    assert "--fresh" in str(refused.value)
    assert json.loads((changed.shards_dir / "train" / "manifest.json").read_text())["max_len"] == 32


def test_disk_full_leaves_no_complete_unit(
    corpus: Path, shared_run: Config, reference: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = parse_config(settings(tmp_path, corpus, shared_run))
    finish_shard = ShardWriter._finish_shard
    calls = []

    def fill_disk(self: ShardWriter) -> None:
        calls.append(self.prefix)
        if len(calls) == 6:
            raise OSError(errno.ENOSPC, "No space left on device")
        finish_shard(self)

    monkeypatch.setattr(ShardWriter, "_finish_shard", fill_disk)
    with pytest.raises(DiskFullError, match=r"disk full while writing .*wikitext-documents-0000") as full:
        shards.run(config)
    monkeypatch.undo()
    files = sorted(path.relative_to(config.shards_dir).as_posix() for path in config.shards_dir.rglob("*"))
    claimed = {
        key for marker in config.shards_dir.glob(f"*{MARKER_SUFFIX}") for key in json.loads(marker.read_text())["files"]
    }
    unit = calls[-1]

    assert "point outputs_dir elsewhere" in str(full.value)
    assert not (config.shards_dir / f"{unit}{MARKER_SUFFIX}").exists()
    assert [name for name in files if name.endswith(".tmp")] == []
    assert [name for name in files if name.endswith(".arrow") and name not in claimed] == []
    assert [name for name in files if name.endswith("manifest.json")] == []
    shards.run(config)
    assert snapshot(config.shards_dir) == reference
