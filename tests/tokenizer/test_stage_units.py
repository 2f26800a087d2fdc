"""The tokenizer folder as one unit: skipped when nothing changed, rejected when the corpus changed."""

from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path

import pytest

from pipeline import corpus, tokenizer
from pipeline.config import Config
from pipeline.tokenizer import TOKENIZER_FILE
from pipeline.units import StaleOutputError
from tests.conftest import DEMO

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def demo_run(tmp_path: Path, make_config) -> Config:
    """Clean a copy of the demo Livedoor articles and train a small tokenizer on them."""
    shutil.copytree(DEMO / "livedoor", tmp_path / "livedoor")
    config = make_config(
        {"livedoor": {"path": str(tmp_path / "livedoor")}},
        tokenizer={"vocab_size": 600, "min_frequency": 1, "holdout_fraction": 0.0},
    )
    corpus.run(config)
    tokenizer.run(config)
    return config


def test_rerun_skips_training(demo_run: Config, caplog: pytest.LogCaptureFixture) -> None:
    path = demo_run.tokenizer_dir / TOKENIZER_FILE
    before = path.stat().st_mtime_ns
    caplog.set_level(logging.INFO, logger="pipeline")

    tokenizer.run(demo_run)

    assert path.stat().st_mtime_ns == before
    assert "training skipped" in caplog.text


def test_marker_claims_every_file(demo_run: Config) -> None:
    files = sorted(path.name for path in demo_run.tokenizer_dir.iterdir())

    assert files == [
        "pipeline_tokenizer.json",
        "report.json",
        "special_tokens_map.json",
        "tokenizer.done.json",
        "tokenizer.json",
        "tokenizer_config.json",
    ]


def test_changed_corpus_rejected(demo_run: Config) -> None:
    article = Path(str(demo_run.sources["livedoor"].path)) / "text" / "tech-news" / "tech-news-1000001.txt"
    article.write_text(article.read_text(encoding="utf-8") + "追加の一文です。\n", encoding="utf-8")
    corpus.run(demo_run, fresh=True)

    with pytest.raises(StaleOutputError, match=r"input file livedoor/documents-00000\.parquet changed"):
        tokenizer.run(demo_run)


def test_fresh_retrains_after_change(demo_run: Config) -> None:
    path = demo_run.tokenizer_dir / TOKENIZER_FILE
    before = path.stat().st_mtime_ns
    changed = dataclasses.replace(demo_run, shards=dataclasses.replace(demo_run.shards, max_len=32))

    tokenizer.run(changed, fresh=True)

    assert path.stat().st_mtime_ns != before
    assert '"model_max_length": 32' in (demo_run.tokenizer_dir / "tokenizer_config.json").read_text()


def test_unfinished_source_rejected(demo_run: Config) -> None:
    (demo_run.clean_dir / "livedoor.done.json").unlink()

    with pytest.raises(FileNotFoundError, match="make corpus"):
        tokenizer.run(demo_run)
