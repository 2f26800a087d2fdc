from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tokenizers import Tokenizer

from pipeline import shards
from pipeline.config import Config
from pipeline.document import Document
from pipeline.parquet import clean_files, documents_to_table
from pipeline.shards import sha256_file
from pipeline.tokenizer import TOKENIZER_FILE
from tests.shards.helpers import (
    read_documents,
    read_manifest,
    read_split,
    split_document_index,
    split_document_indices,
)

PAD, CLS, SEP = 0, 2, 4


@pytest.fixture(scope="module")
def tokenizer(shared_run: Config) -> Tokenizer:
    return Tokenizer.from_file(str(shared_run.tokenizer_dir / TOKENIZER_FILE))


@pytest.fixture(scope="module")
def texts(shared_run: Config) -> dict[str, str]:
    table = pa.concat_tables(
        pq.read_table(file, columns=["id", "text"])
        for file in clean_files(shared_run.clean_dir, ["livedoor", "wikitext"])
    )
    return dict(zip(table.column("id").to_pylist(), table.column("text").to_pylist(), strict=True))


def test_manifest_checksums(shared_run: Config) -> None:
    for split in ("train", "validation"):
        folder = shared_run.shards_dir / split
        manifest = read_manifest(folder)
        for shard in manifest["shards"]:
            assert sha256_file(folder / shard["file"]) == shard["sha256"]
        assert sha256_file(folder / "documents.arrow") == manifest["documents_file"]["sha256"]
        assert sum(shard["rows"] for shard in manifest["shards"]) == manifest["rows"]
        assert not list(folder.glob("*.tmp"))


def test_split_by_id_hash(shared_run: Config, texts: dict[str, str]) -> None:
    train = set(read_documents(shared_run.shards_dir / "train").column("id").to_pylist())
    validation = set(read_documents(shared_run.shards_dir / "validation").column("id").to_pylist())
    expected = {
        document_id
        for document_id in texts
        if int.from_bytes(hashlib.blake2b(document_id.encode(), digest_size=8).digest(), "big") / 2**64 < 0.01
    }

    assert validation == expected
    assert train | validation == set(texts)
    assert not train & validation


def test_window_rows_framed(shared_run: Config) -> None:
    ids = (
        read_split(shared_run.shards_dir / "train")
        .column("input_ids")
        .combine_chunks()
        .flatten()
        .to_numpy()
        .reshape(-1, 64)
    )

    assert ids.dtype == np.uint16
    assert (ids[:, 0] == CLS).all()
    assert ((ids == SEP).sum(axis=1) == 1).all()
    sep_position = np.argmax(ids == SEP, axis=1)
    after_sep = np.arange(64) > sep_position[:, None]
    assert (ids[after_sep] == PAD).all()
    assert (ids[~after_sep] != PAD).all()


def test_window_documents_rebuild(shared_run: Config, tokenizer: Tokenizer, texts: dict[str, str]) -> None:
    folder = shared_run.shards_dir / "train"
    table = read_split(folder)
    ids = table.column("input_ids").combine_chunks().flatten().to_numpy().reshape(-1, 64)
    row_document = np.array(split_document_index(folder))
    documents = read_documents(folder).to_pylist()

    encodings = tokenizer.encode_batch([texts[document["id"]] for document in documents], add_special_tokens=False)
    for index, (document, encoding) in enumerate(zip(documents, encodings, strict=True)):
        rows = ids[row_document == index]
        content = [token for row in rows for token in row[1:].tolist() if token not in (SEP, PAD)]
        assert content == encoding.ids, document["id"]
        assert int(np.flatnonzero(row_document == index)[0]) == document["row"]
        assert document["tokens"] == len(encoding.ids)


def test_window_index_counts_rows(shared_run: Config) -> None:
    folder = shared_run.shards_dir / "train"
    table = read_split(folder)
    document_index = np.array(split_document_index(folder))
    window_index = table.column("window_index").to_numpy()

    starts = np.flatnonzero(np.diff(document_index, prepend=-1) != 0)
    expected = np.arange(len(window_index)) - np.repeat(starts, np.diff(np.append(starts, len(window_index))))
    assert (window_index == expected).all()


def test_packed_documents_rebuild(packed_run: Config, tokenizer: Tokenizer, texts: dict[str, str]) -> None:
    folder = packed_run.shards_dir / "train"
    stream = read_split(folder).column("input_ids").combine_chunks().flatten().to_numpy()
    documents = read_documents(folder).to_pylist()
    unit_starts = {unit["first_document"]: unit["first_row"] for unit in read_manifest(folder)["units"]}

    encodings = tokenizer.encode_batch([texts[document["id"]] for document in documents], add_special_tokens=False)
    position = 0
    for index, (document, encoding) in enumerate(zip(documents, encodings, strict=True)):
        start = document["row"] * 64 + document["offset"]
        if index in unit_starts:
            # Each unit starts on a new row, after the padded last row of the unit before.
            assert start == unit_starts[index] * 64, document["id"]
            assert (stream[position:start] == PAD).all()
            assert start - position < 64
            position = start
        assert start == position, document["id"]
        assert stream[start : start + len(encoding.ids)].tolist() == encoding.ids
        assert stream[start + len(encoding.ids)] == SEP
        position = start + len(encoding.ids) + 1
    assert (stream[position:] == PAD).all()
    assert len(stream) - position < 64


def test_packed_row_documents(packed_run: Config) -> None:
    folder = packed_run.shards_dir / "train"
    table = read_split(folder)
    documents = read_documents(folder).to_pylist()
    indices = split_document_indices(folder)
    offsets = table.column("document_offsets").to_pylist()

    rows_of: dict[int, list[int]] = {}
    for row, (row_indices, row_offsets) in enumerate(zip(indices, offsets, strict=True)):
        assert row_offsets == sorted(row_offsets)
        for index, offset in zip(row_indices, row_offsets, strict=True):
            rows_of.setdefault(index, []).append(row)
            if offset > 0:
                assert (documents[index]["row"], documents[index]["offset"]) == (row, offset)
    for index, document in enumerate(documents):
        start = document["row"] * 64 + document["offset"]
        end = start + document["tokens"] + 1
        assert rows_of[index] == list(range(start // 64, (end - 1) // 64 + 1))


def test_packed_rows_full(packed_run: Config) -> None:
    folder = packed_run.shards_dir / "train"
    ids = read_split(folder).column("input_ids").combine_chunks().flatten().to_numpy().reshape(-1, 64)
    units = read_manifest(folder)["units"]
    last_rows = [unit["first_row"] + unit["rows"] - 1 for unit in units]
    full = np.ones(len(ids), dtype=bool)
    full[last_rows] = False

    assert len(units) == 2
    assert (ids[full] != PAD).all()
    assert (ids != CLS).all()


def test_packed_sep_and_title_global(packed_run: Config) -> None:
    table = read_split(packed_run.shards_dir / "train")
    ids = table.column("input_ids").combine_chunks().flatten().to_numpy()
    mask = table.column("global_mask").combine_chunks().flatten().to_numpy(zero_copy_only=False)

    assert mask[ids == SEP].all()
    assert (mask & (ids != SEP)).any()
    assert not mask[ids == PAD].any()


def test_manifest_source_counts(shared_run: Config) -> None:
    folder = shared_run.shards_dir / "train"
    manifest = read_manifest(folder)
    table = read_split(folder)
    ids = table.column("input_ids").combine_chunks().flatten().to_numpy().reshape(-1, 64)
    mask = table.column("global_mask").combine_chunks().flatten().to_numpy(zero_copy_only=False).reshape(-1, 64)
    sources = np.array(read_documents(folder).column("source").to_pylist())[split_document_index(folder)]

    assert manifest["global_mask"] == ["cls", "headings"]
    for source in ("livedoor", "wikitext"):
        stats = manifest["sources"][source]
        rows = sources == source
        assert stats["windows"] == int(rows.sum())
        assert stats["padding_tokens"] == int((ids[rows] == PAD).sum())
        assert stats["global_tokens"] == int(mask[rows].sum())
        assert stats["padding_share"] == pytest.approx(stats["padding_tokens"] / (rows.sum() * 64), abs=1e-6)
        assert stats["global_share"] == pytest.approx(stats["global_tokens"] / (rows.sum() * 64), abs=1e-6)


def test_shard_row_limit(shared_run: Config, tmp_path) -> None:
    config = _copy_config(shared_run, tmp_path, {"max_len": 64, "rows_per_shard": 700})

    shards.run(config)

    shards_of_unit = _shard_rows_by_unit(config)
    assert len(shards_of_unit) == 2
    for rows in shards_of_unit.values():
        assert rows[:-1] == [700] * (len(rows) - 1)
        assert 0 < rows[-1] <= 700


def test_shard_byte_limit(shared_run: Config, tmp_path) -> None:
    # One row of 64 uint16 ids and 64 mask bits takes 136 bytes, so 100,000 bytes hold 735 rows.
    config = _copy_config(shared_run, tmp_path, {"max_len": 64, "bytes_per_shard": 100_000})

    shards.run(config)

    livedoor = _shard_rows_by_unit(config)["livedoor-documents-00000"]
    assert len(livedoor) > 1
    assert livedoor[:-1] == [735] * (len(livedoor) - 1)


def test_literal_special_token_text(shared_run: Config, tmp_path) -> None:
    config = _copy_config(shared_run, tmp_path, {"max_len": 64, "validation_fraction": 0.0})
    folder = config.clean_dir / "livedoor"
    folder.mkdir(parents=True)
    pq.write_table(
        documents_to_table([Document(id="t/1", source="livedoor", title="", text="a [SEP] b [PAD] c")]),
        folder / "documents-00000.parquet",
    )

    shards.run(config)

    ids = read_split(config.shards_dir / "train").column("input_ids").combine_chunks().flatten().to_numpy()
    sep = int(np.flatnonzero(ids == SEP)[0])
    assert (ids == SEP).sum() == 1
    assert (ids[1:sep] != PAD).all()
    assert sep > 5


def _shard_rows_by_unit(config: Config) -> dict[str, list[int]]:
    rows: dict[str, list[int]] = {}
    for shard in read_manifest(config.shards_dir / "train")["shards"]:
        rows.setdefault(shard["unit"], []).append(shard["rows"])
    return rows


def _copy_config(shared_run: Config, tmp_path, shard_settings: dict) -> Config:
    import shutil

    from pipeline.config import parse_config

    corpora = shared_run.corpora_dir if "validation_fraction" not in shard_settings else tmp_path / "corpora"
    config = parse_config(
        {
            "corpora_dir": str(corpora),
            "outputs_dir": str(tmp_path / "outputs"),
            "sources": {"livedoor": {}, "wikitext": {}} if corpora == shared_run.corpora_dir else {"livedoor": {}},
            "shards": shard_settings,
        }
    )
    shutil.copytree(shared_run.tokenizer_dir, config.tokenizer_dir)
    return config


def test_cls_policy_marks_first_token(shared_run: Config, packed_run: Config) -> None:
    window = read_split(shared_run.shards_dir / "train")
    window_mask = window.column("global_mask").combine_chunks().flatten().to_numpy(zero_copy_only=False)
    packed = read_split(packed_run.shards_dir / "train")
    packed_ids = packed.column("input_ids").combine_chunks().flatten().to_numpy()

    assert window_mask.reshape(-1, 64)[:, 0].all()
    assert not (packed_ids == CLS).any()
