"""Stages killed with SIGKILL and rerun give the bytes of an uninterrupted run, with any worker count."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline.config import Config
from pipeline.parquet import clean_files
from pipeline.tokenizer import TOKENIZER_FILE, train
from tests import hostile
from tests.conftest import WIKITEXT_SAMPLE, require
from tests.killing import (
    files_exist,
    kill_stage,
    run_stage,
    run_with_fault,
    snapshot,
    stage_command,
    stage_environment,
    tiny_filesystem,
    write_config,
)

pytestmark = pytest.mark.timeout(300)

SEEDS = (11, 12, 13)
ARTICLES = 4000


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Livedoor-layout archive large enough that writing its Parquet file takes a while."""
    return hostile.write_tar(tmp_path_factory.mktemp("input") / "ldcc.tar.gz", hostile.articles(ARTICLES))


def corpus_config(root: Path, archive: Path, *, workers: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    sources = {"livedoor": {"path": str(archive)}, "wikitext": {"path": str(require(WIKITEXT_SAMPLE))}}
    return write_config(
        root / "config.yaml", {"corpora_dir": str(root / "corpora"), "workers": workers, "sources": sources}
    )


@pytest.fixture(scope="module")
def corpus_reference(archive: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("corpus-reference")
    run_stage("corpus", corpus_config(root, archive, workers=1))
    return snapshot(root / "corpora" / "clean")


def assert_counted_once(clean: Path, source: str, expected_in: int) -> None:
    counts = json.loads((clean / source / "manifest.json").read_text())["counts"]
    tables = [pq.read_table(file) for file in sorted((clean / source).glob("*.parquet"))]
    ids = [identifier for table in tables for identifier in table.column("id").to_pylist()]
    assert counts["documents_in"] == expected_in
    assert counts["documents_out"] == len(ids)
    assert len(set(ids)) == len(ids)
    assert counts["documents_in"] == counts["documents_out"] + counts["documents_rejected"]


def test_corpus_killed_resumes_identically(archive: Path, corpus_reference: dict[str, str], tmp_path: Path) -> None:
    landed_in_write = 0
    for seed in SEEDS:
        root = tmp_path / f"killed-{seed}"
        config = corpus_config(root, archive, workers=2)
        clean = root / "corpora" / "clean"

        outcome = kill_stage("corpus", config, seed=seed, max_delay=0.4, trigger=files_exist(clean, "*.tmp"))
        landed_in_write += outcome.killed and any(clean.rglob("*.tmp"))
        run_stage("corpus", config)

        assert snapshot(clean) == corpus_reference, f"seed {seed}, killed after {outcome.delay:.3f} s"
        assert_counted_once(clean, "livedoor", ARTICLES)
        assert_counted_once(clean, "wikitext", 31)
    assert landed_in_write >= 1


def test_corpus_disk_full_reported(archive: Path, tmp_path: Path) -> None:
    with tiny_filesystem(tmp_path / "tiny") as tiny:
        config = write_config(
            tmp_path / "config.yaml",
            {"corpora_dir": str(tiny / "corpora"), "sources": {"livedoor": {"path": str(archive)}}},
        )
        result = subprocess.run(
            stage_command("corpus", config), env=stage_environment(), capture_output=True, text=True, timeout=180
        )
        written = sorted(path.name for path in tiny.rglob("*") if path.is_file())

    assert result.returncode == 2
    assert "disk full" in result.stderr
    assert "free space or point corpora_dir elsewhere, then rerun" in result.stderr
    assert "Traceback" not in result.stderr
    assert [name for name in written if name.endswith((".parquet", ".json"))] == []


def test_corpus_same_across_workers(archive: Path, corpus_reference: dict[str, str], tmp_path: Path) -> None:
    run_stage("corpus", corpus_config(tmp_path, archive, workers=2))

    assert snapshot(tmp_path / "corpora" / "clean") == corpus_reference


@pytest.fixture(scope="module")
def small_reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A 30-article archive and the corpus outputs of an uninterrupted run over it and WikiText."""
    root = tmp_path_factory.mktemp("small")
    small = hostile.write_tar(root / "small.tar.gz", hostile.articles(30))
    run_stage("corpus", corpus_config(root / "reference", small, workers=1))
    return small, snapshot(root / "reference" / "corpora" / "clean")


# Commit steps of the two sources: a journal, one rename per file, a marker. Step 9 lands in the second source.
@pytest.mark.parametrize("step", [1, 3, 6, 9])
def test_corpus_fault_points_resume_identically(
    small_reference: tuple[Path, dict[str, str]], tmp_path: Path, step: int
) -> None:
    small, reference = small_reference
    config = corpus_config(tmp_path / "killed", small, workers=1)

    returncode = run_with_fault("corpus", config, step=step)
    run_stage("corpus", config)

    assert returncode == -9
    assert snapshot(tmp_path / "killed" / "corpora" / "clean") == reference


def tokenizer_config(root: Path, corpus: Config) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    data = {
        "corpora_dir": str(corpus.corpora_dir),
        "outputs_dir": str(root / "outputs"),
        "sources": {"livedoor": {}, "wikitext": {}},
        "tokenizer": {"vocab_size": 4000},
    }
    return write_config(root / "config.yaml", data)


@pytest.fixture(scope="module")
def tokenizer_reference(shared_run: Config, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], float]:
    """Outputs of an uninterrupted single-thread run, and its wall time in seconds."""
    root = tmp_path_factory.mktemp("tokenizer-reference")
    started = time.monotonic()
    run_stage("tokenizer", tokenizer_config(root, shared_run), environment={"RAYON_NUM_THREADS": "1"})
    return snapshot(root / "outputs"), time.monotonic() - started


def test_tokenizer_killed_resumes_identically(
    shared_run: Config, tokenizer_reference: tuple[dict[str, str], float], tmp_path: Path
) -> None:
    reference, seconds = tokenizer_reference
    killed = 0
    for seed in SEEDS[:2]:
        root = tmp_path / f"killed-{seed}"
        config = tokenizer_config(root, shared_run)
        threads = {"RAYON_NUM_THREADS": "2"}

        # Training takes a large share of the run after its log line, so a short delay lands inside it.
        outcome = kill_stage(
            "tokenizer",
            config,
            seed=seed,
            max_delay=0.2 * seconds,
            trigger=lambda log: "training hf_bpe" in log,
            environment=threads,
        )
        killed += outcome.killed and not (root / "outputs" / "tokenizer" / TOKENIZER_FILE).exists()
        run_stage("tokenizer", config, environment=threads)

        assert snapshot(root / "outputs") == reference, f"seed {seed}, killed after {outcome.delay:.3f} s"
    assert killed >= 1


def test_tokenizer_same_across_threads(
    shared_run: Config, tokenizer_reference: tuple[dict[str, str], float], tmp_path: Path
) -> None:
    run_stage("tokenizer", tokenizer_config(tmp_path, shared_run), environment={"RAYON_NUM_THREADS": "2"})

    assert snapshot(tmp_path / "outputs") == tokenizer_reference[0]


def test_tokenizer_independent_of_order(shared_run: Config) -> None:
    files = clean_files(shared_run.clean_dir, ["livedoor", "wikitext"])
    texts = [text for file in files for text in pq.read_table(file, columns=["text"]).column(0).to_pylist()]
    texts = texts[:100] + texts[-31:]  # Japanese and English, kept small for speed
    shuffled = texts[:]
    random.Random(5).shuffle(shuffled)

    def batches(items: list[str]) -> list[list[str]]:
        return [items[start : start + 50] for start in range(0, len(items), 50)]

    in_order = train(iter(batches(texts)), vocab_size=1500, min_frequency=2)
    reordered = train(iter(batches(shuffled)), vocab_size=1500, min_frequency=2)

    assert reordered.to_str() == in_order.to_str()


def shards_config(root: Path, corpus: Config) -> Path:
    tokenizer_dir = root / "outputs" / "tokenizer"
    tokenizer_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(corpus.tokenizer_dir / TOKENIZER_FILE, tokenizer_dir / TOKENIZER_FILE)
    data = {
        "corpora_dir": str(corpus.corpora_dir),
        "outputs_dir": str(root / "outputs"),
        "sources": {"wikitext": {}},  # the smaller source keeps the runs short
        "shards": {"max_len": 64, "rows_per_shard": 100},
    }
    return write_config(root / "config.yaml", data)


def test_shards_killed_resumes_identically(shared_run: Config, tmp_path: Path) -> None:
    reference_root = tmp_path / "reference"
    run_stage("shards", shards_config(reference_root, shared_run))
    reference = snapshot(reference_root / "outputs")
    assert len([name for name in reference if name.endswith(".arrow")]) > 3

    killed = 0
    for seed in SEEDS[:2]:
        root = tmp_path / f"killed-{seed}"
        config = shards_config(root, shared_run)

        outcome = kill_stage(
            "shards", config, seed=seed, max_delay=0.05, trigger=files_exist(root / "outputs" / "shards", "*.arrow*")
        )
        killed += outcome.killed
        run_stage("shards", config)

        assert snapshot(root / "outputs") == reference, f"seed {seed}, killed after {outcome.delay:.3f} s"
    assert killed >= 1
