"""Segmentation step of the corpus stage: parallel runs and the corpus-stage hook."""

from __future__ import annotations

import pyarrow.parquet as pq

from pipeline import corpus
from pipeline.morphemes import split_at
from pipeline.segment import segment_documents
from tests.conftest import DEMO
from tests.test_morphemes import livedoor_documents


def test_workers_match_one_process() -> None:
    documents = livedoor_documents()

    serial = list(segment_documents(documents, workers=1))
    parallel = list(segment_documents(documents, workers=2))

    assert [document.id for document in parallel] == [document.id for document in documents]
    assert [document.morpheme_ends for document in parallel] == [document.morpheme_ends for document in serial]
    assert all(document.morpheme_ends for document in serial)


def test_corpus_stage_records_ends(make_config) -> None:
    config = make_config({"livedoor": {"path": str(DEMO / "livedoor")}}, segment={"mecab": True})

    corpus.run(config)

    table = pq.read_table(next((config.clean_dir / "livedoor").glob("documents-*.parquet")))
    for text, ends in zip(table.column("text").to_pylist(), table.column("morpheme_ends").to_pylist(), strict=True):
        assert ends[-1] == len(text)
        assert "".join(split_at(text, ends)) == text


def test_corpus_stage_without_mecab(make_config) -> None:
    config = make_config({"livedoor": {"path": str(DEMO / "livedoor")}})

    corpus.run(config)

    table = pq.read_table(next((config.clean_dir / "livedoor").glob("documents-*.parquet")))
    assert all(ends == [] for ends in table.column("morpheme_ends").to_pylist())
