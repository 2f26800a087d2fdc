"""Choice of training and held-out documents: hashes, the character cap, weights and the stream."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline.parquet import clean_files
from pipeline.tokenizer.training_data import SourcePlan, iter_chosen_texts, plan_training, unit_hash


@pytest.fixture(scope="module")
def files_by_source(segmented_corpus: Path) -> dict[str, list[Path]]:
    return {source: clean_files(segmented_corpus / "clean", [source]) for source in ("livedoor", "wikitext")}


def source_table(files: list[Path]):
    import pyarrow as pa

    return pa.concat_tables(pq.read_table(file, columns=["id", "text"]) for file in files)


def chosen_ids(plan: SourcePlan, rows_per_file: list) -> list[str]:
    ids = []
    for file, rows in zip(plan.files, rows_per_file, strict=True):
        column = pq.read_table(file, columns=["id"]).column("id").to_pylist()
        ids.extend(column[row] for row in rows)
    return ids


def test_unit_hash_is_blake2b() -> None:
    digest = hashlib.blake2b(b"holdout:livedoor/1", digest_size=8).digest()

    assert unit_hash("holdout", "livedoor/1") == int.from_bytes(digest, "big") / 2**64


def test_holdout_excluded_from_training(files_by_source: dict[str, list[Path]]) -> None:
    plans = plan_training(
        files_by_source, max_characters=None, source_weights={}, holdout_fraction=0.2, report_documents=1000
    )
    for plan in plans:
        training = chosen_ids(plan, plan.training_rows)
        reported = chosen_ids(plan, plan.report_rows)

        assert not set(training) & set(reported)
        assert all(unit_hash("holdout", document_id) < 0.2 for document_id in reported)
        assert all(unit_hash("holdout", document_id) >= 0.2 for document_id in training)
        assert len(training) + len(reported) == plan.documents


def test_report_documents_capped(files_by_source: dict[str, list[Path]]) -> None:
    (plan, _) = plan_training(
        files_by_source, max_characters=None, source_weights={}, holdout_fraction=0.5, report_documents=7
    )

    assert plan.held_out > 7
    assert len(chosen_ids(plan, plan.report_rows)) == 7


def test_character_cap_respected(files_by_source: dict[str, list[Path]]) -> None:
    plans = plan_training(
        files_by_source, max_characters=100_000, source_weights={}, holdout_fraction=0.0, report_documents=10
    )

    assert sum(plan.training_characters for plan in plans) <= 100_000
    assert sum(plan.training_characters for plan in plans) > 90_000


def test_weights_share_the_cap(files_by_source: dict[str, list[Path]]) -> None:
    livedoor, wikitext = plan_training(
        files_by_source,
        max_characters=120_000,
        source_weights={"livedoor": 3.0},
        holdout_fraction=0.0,
        report_documents=10,
    )

    assert livedoor.training_characters == pytest.approx(90_000, abs=10_000)
    assert wikitext.training_characters == pytest.approx(30_000, abs=10_000)


def test_small_source_leaves_rest_to_others(files_by_source: dict[str, list[Path]]) -> None:
    wikitext_characters = sum(
        len(text) for text in source_table(files_by_source["wikitext"]).column("text").to_pylist()
    )
    livedoor, wikitext = plan_training(
        files_by_source,
        max_characters=wikitext_characters + 200_000,
        source_weights={"livedoor": 1.0, "wikitext": 10.0},
        holdout_fraction=0.0,
        report_documents=10,
    )

    assert wikitext.training_characters == wikitext_characters
    assert livedoor.training_characters == pytest.approx(200_000, abs=10_000)


def test_sample_follows_hash_order(files_by_source: dict[str, list[Path]]) -> None:
    (livedoor, _) = plan_training(
        files_by_source, max_characters=50_000, source_weights={}, holdout_fraction=0.0, report_documents=10
    )
    table = source_table(files_by_source["livedoor"])
    ids, texts = table.column("id").to_pylist(), table.column("text").to_pylist()
    length_by_id = {document_id: len(text) for document_id, text in zip(ids, texts, strict=True)}
    taken = set(chosen_ids(livedoor, livedoor.training_rows))
    threshold = max(unit_hash("sample", document_id) for document_id in taken)
    room = 25_000 - livedoor.training_characters

    skipped = [i for i in length_by_id if i not in taken and unit_hash("sample", i) < threshold]
    assert all(length_by_id[i] > room for i in skipped)


def test_plan_is_deterministic(files_by_source: dict[str, list[Path]]) -> None:
    def ids() -> list[list[str]]:
        plans = plan_training(
            files_by_source, max_characters=80_000, source_weights={}, holdout_fraction=0.1, report_documents=5
        )
        return [chosen_ids(plan, plan.training_rows) + chosen_ids(plan, plan.report_rows) for plan in plans]

    assert ids() == ids()


def test_stream_reads_chosen_rows(files_by_source: dict[str, list[Path]]) -> None:
    (livedoor, _) = plan_training(
        files_by_source, max_characters=60_000, source_weights={}, holdout_fraction=0.1, report_documents=5
    )
    table = source_table(files_by_source["livedoor"])
    text_by_id = dict(zip(table.column("id").to_pylist(), table.column("text").to_pylist(), strict=True))
    expected = [text_by_id[document_id] for document_id in chosen_ids(livedoor, livedoor.training_rows)]

    batches = list(iter_chosen_texts(livedoor.files, livedoor.training_rows, batch_size=7, with_ends=True))

    assert [text for texts, _ in batches for text in texts] == expected
    assert all(len(texts) <= 7 for texts, _ in batches)
    assert all(
        ends[-1] == len(text) for texts, ends_list in batches for text, ends in zip(texts, ends_list, strict=True)
    )
