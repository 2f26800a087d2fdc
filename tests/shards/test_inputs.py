from __future__ import annotations

from typing import Any

import pytest

from pipeline import corpus
from pipeline.corpus_units import corpus_store
from pipeline.shards.stage import _documents_files
from tests.conftest import DEMO


def test_finished_sources_listed(make_config: Any) -> None:
    config = make_config({"livedoor": {"path": str(DEMO / "livedoor")}, "wikitext": {"path": str(DEMO / "wikitext")}})
    corpus.run(config)

    files = _documents_files(config, "wikitext")

    assert [file.name for file in files] == ["documents-00000.parquet"]


def test_unfinished_source_refused(make_config: Any) -> None:
    config = make_config({"livedoor": {"path": str(DEMO / "livedoor")}, "wikitext": {"path": str(DEMO / "wikitext")}})
    corpus.run(config)
    # A corpus run killed before its wikitext unit finished leaves files but no marker.
    corpus_store(config).marker_path("wikitext").unlink()

    with pytest.raises(FileNotFoundError, match="wikitext"):
        _documents_files(config, "wikitext")
