from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.config import SourceConfig
from pipeline.document import Document
from pipeline.sources.wikitext import heading_level, read, undo_markers
from tests.conftest import WIKITEXT_SAMPLE, require


def read_documents(path: Path, tmp_path: Path) -> list[Document]:
    records = list(read(SourceConfig(path=path), raw_dir=tmp_path))
    return [record for record in records if isinstance(record, Document)]


def test_sample_yields_31_articles(tmp_path: Path) -> None:
    documents = read_documents(require(WIKITEXT_SAMPLE), tmp_path)

    assert len(documents) == 31
    assert documents[0].title == "Robert Boulter"


def test_sample_headings_found(tmp_path: Path) -> None:
    documents = read_documents(require(WIKITEXT_SAMPLE), tmp_path)
    first = documents[0]

    heading_texts = [first.text[h.start : h.end] for h in first.headings]
    assert heading_texts[0] == "Robert Boulter"
    assert "Career" in heading_texts
    assert all(h.level >= 2 for h in first.headings[1:])


def test_sample_markers_undone(tmp_path: Path) -> None:
    documents = read_documents(require(WIKITEXT_SAMPLE), tmp_path)
    text = "\n".join(document.text for document in documents)

    assert "@-@" not in text
    assert "@,@" not in text
    assert "@.@" not in text
    assert "guest-starring role" in documents[0].text
    assert "\r" not in text


def test_heading_levels() -> None:
    assert heading_level(" = Robert Boulter = ") == 1
    assert heading_level(" = = Career = = ") == 2
    assert heading_level(" = = = 2000 – 2005 = = = ") == 3
    assert heading_level(" The score was 2 = 2 . ") == 0
    assert heading_level(" = = ") == 0


def test_markers_replaced() -> None:
    assert undo_markers("a two @-@ part arc of 1 @,@ 200 m and 3 @.@ 5 kg") == "a two-part arc of 1,200 m and 3.5 kg"


def test_lf_and_crlf_read_the_same(tmp_path: Path) -> None:
    lines = [" = First = ", " Body one . ", " = = Part = = ", " Body two . ", " = Second = ", " More . "]
    (tmp_path / "lf").mkdir()
    (tmp_path / "crlf").mkdir()
    (tmp_path / "lf" / "wiki.train.raw").write_bytes(("\n".join(lines) + "\n").encode())
    (tmp_path / "crlf" / "wiki.train.raw").write_bytes(("\r\n".join(lines) + "\r\n").encode())

    from_lf = read_documents(tmp_path / "lf", tmp_path)
    from_crlf = read_documents(tmp_path / "crlf", tmp_path)

    assert from_lf == from_crlf
    assert [document.title for document in from_lf] == ["First", "Second"]
    assert from_lf[0].text == "First\nBody one .\nPart\nBody two ."


def test_hub_parquet_layout(tmp_path: Path) -> None:
    rows = ["", " = Alpha = \n", "", " Alpha is a letter @-@ like sign . \n", " = = Use = = \n", " Used often . \n"]
    folder = tmp_path / "wikitext-2-raw-v1"
    folder.mkdir()
    pq.write_table(pa.table({"text": rows}), folder / "test-00000-of-00001.parquet")

    documents = read_documents(folder, tmp_path)

    assert len(documents) == 1
    assert documents[0].id == "wikitext/test-00000-of-00001-000000"
    assert documents[0].text == "Alpha\nAlpha is a letter-like sign .\nUse\nUsed often ."
    assert [h.level for h in documents[0].headings] == [1, 2]
