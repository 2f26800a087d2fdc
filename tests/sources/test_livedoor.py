from __future__ import annotations

import io
import tarfile
from collections import Counter
from pathlib import Path

import pytest

from pipeline.config import SourceConfig
from pipeline.document import Document
from pipeline.sources import ReaderReject, SourceError
from pipeline.sources.livedoor import parse_article, read
from tests.conftest import DEMO, LIVEDOOR_SAMPLE, require


def read_documents(path: Path, tmp_path: Path) -> list[Document]:
    records = list(read(SourceConfig(path=path), raw_dir=tmp_path))
    assert all(isinstance(record, Document) for record in records)
    return [record for record in records if isinstance(record, Document)]


def test_sample_yields_all_articles(tmp_path: Path) -> None:
    documents = read_documents(require(LIVEDOOR_SAMPLE), tmp_path)

    assert len(documents) == 360
    categories = Counter(document.metadata["category"] for document in documents)
    assert len(categories) == 9
    assert set(categories.values()) == {40}
    assert len({document.id for document in documents}) == 360


def test_sample_article_fields(tmp_path: Path) -> None:
    documents = {d.id: d for d in read_documents(require(LIVEDOOR_SAMPLE), tmp_path)}

    # The first three lines of text/it-life-hack/it-life-hack-6292880.txt in the real corpus.
    document = documents["livedoor/it-life-hack-6292880"]
    assert document.metadata["url"] == "http://news.livedoor.com/article/detail/6292880/"
    assert document.metadata["date"] == "2012-02-19T13:00:00+0900"
    assert document.metadata["category"] == "it-life-hack"
    assert document.title == "旧式Macで禁断のパワーアップ！最新PCやソフトを一挙にチェック【ITフラッシュバック】"
    assert document.text.startswith(document.title + "\n")
    assert "テレビやTwitterと連携できるパソコン" in document.text


def test_title_is_first_heading(tmp_path: Path) -> None:
    for document in read_documents(require(LIVEDOOR_SAMPLE), tmp_path):
        first = document.headings[0]
        assert first.level == 1
        assert document.text[first.start : first.end] == document.title


def test_license_and_readme_skipped(tmp_path: Path) -> None:
    documents = read_documents(require(LIVEDOOR_SAMPLE), tmp_path)

    members = {document.metadata["member"].rsplit("/", 1)[-1] for document in documents}
    assert not members & {"LICENSE.txt", "README.txt", "CHANGES.txt"}


def test_folder_layout_reads_demo(tmp_path: Path) -> None:
    documents = read_documents(DEMO / "livedoor", tmp_path)

    assert len(documents) == 6
    assert {document.metadata["category"] for document in documents} == {"tech-news", "sports-watch", "food-column"}


def test_short_article_rejected() -> None:
    record = parse_article("text/x/x-1.txt", b"http://example.com/\n")

    assert isinstance(record, ReaderReject)
    assert "text/x/x-1.txt" in record.reason


def test_invalid_utf8_rejected() -> None:
    record = parse_article("text/x/x-2.txt", b"http://example.com/\n2020\n\xff\xfe title\nbody\n")

    assert isinstance(record, ReaderReject)
    assert "UTF-8" in record.reason


def test_missing_path_names_key(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"sources\.livedoor\.path") as error:
        list(read(SourceConfig(path=tmp_path / "missing.tar.gz"), raw_dir=tmp_path))

    assert "missing.tar.gz" in str(error.value)


def test_tarball_never_extracted(tmp_path: Path) -> None:
    archive = tmp_path / "ldcc.tar.gz"
    body = "http://example.com/a\n2020-01-01T00:00:00+0900\nタイトル\n本文です。\n".encode()
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("text/cat/cat-1.txt")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    before = set(tmp_path.rglob("*"))

    documents = read_documents(archive, tmp_path / "raw")

    assert [document.title for document in documents] == ["タイトル"]
    assert set(tmp_path.rglob("*")) == before


def test_empty_folder_is_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()

    with pytest.raises(SourceError, match="contains no article files"):
        list(read(SourceConfig(path=tmp_path / "empty"), raw_dir=tmp_path))


def test_byte_order_mark_dropped() -> None:
    record = parse_article("text/x/x-3.txt", "\ufeffhttp://example.com/a\n2020\nタイトル\n本文\n".encode())

    assert isinstance(record, Document)
    assert record.metadata["url"] == "http://example.com/a"
