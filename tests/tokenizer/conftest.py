"""Fixtures shared by the tokenizer tests: one corpus run on the real samples, with MeCab ends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from pipeline import corpus
from pipeline.config import Config, parse_config
from tests.conftest import LIVEDOOR_SAMPLE, WIKITEXT_SAMPLE, require


@pytest.fixture(scope="session")
def segmented_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run the corpus stage once on the Livedoor and WikiText samples with MeCab segmentation."""
    root = tmp_path_factory.mktemp("segmented-corpus")
    config = parse_config(
        {
            "corpora_dir": str(root),
            "sources": {
                "livedoor": {"path": str(require(LIVEDOOR_SAMPLE))},
                "wikitext": {"path": str(require(WIKITEXT_SAMPLE))},
            },
            "segment": {"mecab": True},
        }
    )
    corpus.run(config)
    return root


@pytest.fixture
def corpus_config(segmented_corpus: Path, tmp_path: Path):
    """Return a function building a config over the segmented corpus with outputs in ``tmp_path``."""

    def build(**sections: Any) -> Config:
        data = {
            "corpora_dir": str(segmented_corpus),
            "outputs_dir": str(tmp_path / "outputs"),
            "sources": {"livedoor": {"path": str(LIVEDOOR_SAMPLE)}, "wikitext": {"path": str(WIKITEXT_SAMPLE)}},
            **sections,
        }
        return parse_config(data, origin="test config")

    return build


@pytest.fixture(scope="session")
def livedoor_texts(segmented_corpus: Path) -> list[str]:
    """Cleaned Livedoor texts."""
    files = sorted((segmented_corpus / "clean" / "livedoor").glob("documents-*.parquet"))
    return [text for file in files for text in pq.read_table(file, columns=["text"]).column(0).to_pylist()]
