"""Tests of the shared benchmark input: documents, copies, file split and tokenizer."""

from __future__ import annotations

import pyarrow.parquet as pq

from bench.prepare import Inputs
from tests.bench.conftest import DEMO_DOCUMENTS


def test_prepare_counts_copies(demo_inputs: Inputs) -> None:
    assert demo_inputs.documents == 2 * DEMO_DOCUMENTS


def test_prepare_one_file_per_core_and_source(demo_inputs: Inputs) -> None:
    assert [path.relative_to(demo_inputs.clean_dir).as_posix() for path in demo_inputs.files] == [
        "livedoor/documents-00000.parquet",
        "livedoor/documents-00001.parquet",
        "wikitext/documents-00000.parquet",
        "wikitext/documents-00001.parquet",
    ]


def test_prepare_copy_ids_unique(demo_inputs: Inputs) -> None:
    ids = [value for path in demo_inputs.files for value in pq.read_table(path).column("id").to_pylist()]
    assert len(set(ids)) == len(ids)


def test_prepare_copy_id_suffix(demo_inputs: Inputs) -> None:
    ids = [value for path in demo_inputs.files for value in pq.read_table(path).column("id").to_pylist()]
    assert sum(value.endswith("#1") for value in ids) == DEMO_DOCUMENTS


def test_prepare_text_bytes(demo_inputs: Inputs) -> None:
    texts = [value for path in demo_inputs.files for value in pq.read_table(path).column("text").to_pylist()]
    assert demo_inputs.text_bytes == sum(len(text.encode("utf-8")) for text in texts)


def test_prepare_trains_tokenizer(demo_inputs: Inputs) -> None:
    assert demo_inputs.vocab_size == 1000


def test_inputs_round_trip(demo_inputs: Inputs) -> None:
    assert Inputs.load(demo_inputs.workdir) == demo_inputs


def test_pipeline_config_rows_of_512(demo_inputs: Inputs) -> None:
    assert demo_inputs.pipeline_config(demo_inputs.workdir / "out").shards.max_len == 512
