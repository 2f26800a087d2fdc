"""Shared fixtures: paths to the real corpus samples and a config factory for temporary runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeline.config import Config, parse_config

REPOSITORY = Path(__file__).resolve().parents[1]
SHARED_CORPORA = REPOSITORY.parent / "shared" / "corpora"
LIVEDOOR_SAMPLE = SHARED_CORPORA / "livedoor" / "ldcc-sample.tar.gz"
WIKITEXT_SAMPLE = SHARED_CORPORA / "wikitext" / "wikitext-2-raw"
JAWIKI_SAMPLE = SHARED_CORPORA / "jawiki" / "jawiki-20230501-pages-articles-sample.xml.bz2"
DEMO = REPOSITORY / "demo"


def require(path: Path) -> Path:
    """Skip the calling test when a shared corpus sample is not present."""
    if not path.exists():
        pytest.skip(f"corpus sample {path} not present")
    return path


@pytest.fixture
def make_config(tmp_path: Path):
    """Return a function building a :class:`Config` whose data folders live in ``tmp_path``."""

    def build(sources: dict[str, Any], **sections: Any) -> Config:
        data = {
            "corpora_dir": str(tmp_path / "corpora"),
            "outputs_dir": str(tmp_path / "outputs"),
            "sources": sources,
            **sections,
        }
        return parse_config(data, origin="test config")

    return build


@pytest.fixture(scope="session")
def shared_run(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """Run corpus, tokenizer and shards once on the real Livedoor and WikiText samples."""
    from pipeline import corpus, shards, tokenizer

    require(LIVEDOOR_SAMPLE)
    require(WIKITEXT_SAMPLE)
    root = tmp_path_factory.mktemp("shared-run")
    config = parse_config(
        {
            "corpora_dir": str(root / "corpora"),
            "outputs_dir": str(root / "outputs"),
            "sources": {"livedoor": {"path": str(LIVEDOOR_SAMPLE)}, "wikitext": {"path": str(WIKITEXT_SAMPLE)}},
            "tokenizer": {"vocab_size": 4000},
            "shards": {"max_len": 64},
        }
    )
    corpus.run(config)
    tokenizer.run(config)
    shards.run(config)
    return config


@pytest.fixture(scope="session")
def packed_run(shared_run: Config, tmp_path_factory: pytest.TempPathFactory) -> Config:
    """Write packed shards of the shared samples with the tokenizer of ``shared_run``."""
    import shutil

    from pipeline import shards

    root = tmp_path_factory.mktemp("packed-run")
    config = parse_config(
        {
            "corpora_dir": str(shared_run.corpora_dir),
            "outputs_dir": str(root / "outputs"),
            "sources": {"livedoor": {"path": str(LIVEDOOR_SAMPLE)}, "wikitext": {"path": str(WIKITEXT_SAMPLE)}},
            "shards": {"layout": "packed", "max_len": 64, "global_mask": ["title", "sep"], "rows_per_shard": 1000},
        }
    )
    shutil.copytree(shared_run.tokenizer_dir, config.tokenizer_dir)
    shards.run(config)
    return config
