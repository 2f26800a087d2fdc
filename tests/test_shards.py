from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
from tokenizers import Tokenizer

from pipeline.config import Config
from pipeline.document import Document
from pipeline.parquet import clean_files, iter_document_batches
from pipeline.shards import MANIFEST_FILE, Windower, sha256_file
from pipeline.tokenizer import TOKENIZER_FILE


@pytest.fixture(scope="module")
def tokenizer(shared_run: Config) -> Tokenizer:
    return Tokenizer.from_file(str(shared_run.tokenizer_dir / TOKENIZER_FILE))


def read_shards(config: Config) -> pa.Table:
    manifest = json.loads((config.shards_dir / MANIFEST_FILE).read_text())
    tables = []
    for shard in manifest["shards"]:
        with pa.ipc.open_stream(pa.memory_map(str(config.shards_dir / shard["file"]))) as reader:
            tables.append(reader.read_all())
    return pa.concat_tables(tables)


def test_manifest_matches_files(shared_run: Config) -> None:
    manifest = json.loads((shared_run.shards_dir / MANIFEST_FILE).read_text())

    assert manifest["max_len"] == 64
    assert manifest["documents"] == 391
    assert manifest["tokenizer_sha256"] == sha256_file(shared_run.tokenizer_dir / TOKENIZER_FILE)
    for shard in manifest["shards"]:
        assert sha256_file(shared_run.shards_dir / shard["file"]) == shard["sha256"]
    assert sum(shard["rows"] for shard in manifest["shards"]) == manifest["rows"]


def test_rows_are_framed(shared_run: Config, tokenizer: Tokenizer) -> None:
    table = read_shards(shared_run)
    ids = table.column("input_ids").combine_chunks().flatten().to_numpy().reshape(-1, 64)
    cls_id, sep_id, pad_id = (tokenizer.token_to_id(t) for t in ("[CLS]", "[SEP]", "[PAD]"))

    assert ids.dtype == np.uint16
    assert (ids[:, 0] == cls_id).all()
    assert ((ids == sep_id).sum(axis=1) == 1).all()
    for row in ids:
        sep_position = int(np.flatnonzero(row == sep_id)[0])
        assert (row[sep_position + 1 :] == pad_id).all()
        assert (row[1:sep_position] != pad_id).all()


def test_long_document_rows_join_to_encoding(shared_run: Config, tokenizer: Tokenizer) -> None:
    table = read_shards(shared_run)
    document = next(
        d
        for batch in iter_document_batches(clean_files(shared_run.clean_dir, ["livedoor"]), batch_size=10)
        for d in batch
    )
    rows = table.filter(pa.compute.equal(table.column("document_id"), document.id))
    ids = rows.column("input_ids").combine_chunks().flatten().to_numpy().reshape(-1, 64)
    sep_id, cls_id = tokenizer.token_to_id("[SEP]"), tokenizer.token_to_id("[CLS]")

    content = [token for row in ids for token in row.tolist() if token not in (cls_id, sep_id, 0)]

    assert len(ids) > 1
    assert rows.column("window_index").to_pylist() == list(range(len(ids)))
    assert content == tokenizer.encode(document.text, add_special_tokens=False).ids


def test_heading_tokens_global(shared_run: Config, tokenizer: Tokenizer) -> None:
    table = read_shards(shared_run)
    first_rows = table.filter(pa.compute.equal(table.column("window_index"), 0)).slice(0, 50)

    for row in first_rows.to_pylist():
        ids, mask = row["input_ids"], row["global_mask"]
        sep = ids.index(tokenizer.token_to_id("[SEP]"))
        assert mask[0] is True
        # The title is the first line, so the row starts with global heading tokens up to its newline.
        title_ids = [i for i, m in zip(ids[1:sep], mask[1:sep], strict=True) if m]
        assert title_ids
        assert "\n" not in tokenizer.decode(title_ids)
        assert not any(m for i, m in zip(ids, mask, strict=True) if i == 0)


def test_windower_policies(tokenizer: Tokenizer) -> None:
    document = Document.from_blocks(
        id="t/1", source="t", title="Title", blocks=[("Title", 1), ("Hello world. Next", 0)]
    )
    (encoding,) = tokenizer.encode_batch([document.text], add_special_tokens=False)

    plain = Windower.for_tokenizer(tokenizer, max_len=32, policies=["cls"])
    ids, mask = plain.windows(document, encoding)
    assert mask.sum() == 1

    rich = Windower.for_tokenizer(tokenizer, max_len=32, policies=["cls", "headings", "sep", "sentence_end"])
    ids, mask = rich.windows(document, encoding)
    tokens = [tokenizer.id_to_token(int(i)) for i, m in zip(ids[0], mask[0], strict=True) if m]
    assert tokens[0] == "[CLS]"
    assert tokens[-1] == "[SEP]"
    assert "Title" in "".join(tokens)
    assert any(token.endswith(".") for token in tokens)
    assert not any("world" in token for token in tokens)
