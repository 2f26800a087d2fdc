"""The jawiki reader on the real dump sample, the demo dump, Parquet files and a local HTTP server."""

from __future__ import annotations

import bz2
import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.config import ConfigError, SourceConfig
from pipeline.document import Document
from pipeline.sources import ReaderReject, SourceError, jawiki, jawiki_dump
from pipeline.sources.jawiki import read
from tests.conftest import DEMO, JAWIKI_SAMPLE, require


def documents(config: SourceConfig, raw_dir: Path, *, workers: int = 1) -> list[Document]:
    records = list(read(config, raw_dir=raw_dir, workers=workers))
    assert not [record for record in records if isinstance(record, ReaderReject)]
    return [record for record in records if isinstance(record, Document)]


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> list[Document]:
    config = SourceConfig(path=require(JAWIKI_SAMPLE))
    return documents(config, tmp_path_factory.mktemp("raw"))


@pytest.fixture(scope="module")
def sample_with_references(tmp_path_factory: pytest.TempPathFactory) -> list[Document]:
    config = SourceConfig(path=require(JAWIKI_SAMPLE), options={"keep_reference_sections": True})
    return documents(config, tmp_path_factory.mktemp("raw"))


def heading_texts(document: Document) -> list[str]:
    return [document.text[heading.start : heading.end] for heading in document.headings]


def first_paragraph(document: Document) -> str:
    """Return the first non-empty body line, the opening paragraph of the article."""
    heading_starts = {heading.start for heading in document.headings}
    position = 0
    for line in document.text.split("\n"):
        if line and position not in heading_starts:
            return line
        position += len(line) + 1
    return ""


# The shared dump sample.


def test_sample_article_count(sample: list[Document]) -> None:
    assert len(sample) == 95


def test_sample_first_article_metadata(sample: list[Document]) -> None:
    assert sample[0].metadata == {
        "page_id": "5",
        "revision_id": "89167474",
        "timestamp": "2022-04-23T02:25:36Z",
        "url": "https://ja.wikipedia.org/wiki/アンパサンド",
    }


def test_sample_ids_in_dump_order(sample: list[Document]) -> None:
    assert [document.id for document in sample[:4]] == ["jawiki/5", "jawiki/10", "jawiki/11", "jawiki/12"]


def test_sample_url_uses_underscores(sample: list[Document]) -> None:
    (document,) = [document for document in sample if document.title == "EU (曖昧さ回避)"]
    assert document.metadata["url"] == "https://ja.wikipedia.org/wiki/EU_(曖昧さ回避)"


LEFTOVER_MARKUP = ["{{", "}}", "[[", "]]", "<ref", "|-", "{|", "thumb|", "サムネイル|", "|サムネイル"]


@pytest.mark.parametrize("marker", LEFTOVER_MARKUP)
def test_sample_has_no_leftover_markup(sample: list[Document], marker: str) -> None:
    assert [document.title for document in sample if marker in document.text] == []


@pytest.mark.parametrize("marker", LEFTOVER_MARKUP)
def test_sample_reference_sections_have_no_leftover_markup(sample_with_references: list[Document], marker: str) -> None:
    assert [document.title for document in sample_with_references if marker in document.text] == []


def test_sample_thumbnail_only_as_prose(sample_with_references: list[Document]) -> None:
    # The word appears once as prose: the article 画像 links to the article [[サムネイル]].
    # Every other サムネイル in the sample is an image option and must be gone.
    assert [document.title for document in sample_with_references if "サムネイル" in document.text] == ["画像"]


@pytest.mark.parametrize("marker", ["=", "*", "#", ";", ":"])
def test_sample_no_line_starts_with_markup(sample_with_references: list[Document], marker: str) -> None:
    lines = [line for document in sample_with_references for line in document.text.split("\n")]
    assert [line for line in lines if line.startswith(marker)] == []


# Opening sentences as the rendered pages show them, written from the sample's wikitext.
OPENING_SENTENCES = {
    "アンパサンド": "アンパサンド（&, 英語: ampersand）は、並立助詞「…と…」を意味する記号である。",
    "言語": "言語（げんご）は、狭義には「声による記号の体系」をいう。",
    "地理学": (
        "地理学（ちりがく、英: geography、仏: géographie、伊: geografia、独: Geographie (-fie) または Erdkunde）"
        "は、地球表面の自然・人文事象の状態と、それらの相互関係を研究する学問。"
    ),
    "コケ植物": (
        "コケ植物（コケしょくぶつ、英: Bryophyte）とは、陸上植物かつ非維管束植物であるような植物の総称、"
        "もしくはそこに含まれる植物のこと。"
    ),
    "パリ": "パリ（仏: Paris、巴里）は、フランスの首都。",
    "物理学": "物理学（ぶつりがく、英: physics）は、自然科学の一分野である。",
    "高橋留美子": "高橋 留美子（たかはし るみこ、1957年〈昭和32年〉10月10日 - ）は、日本の女性漫画家。",
}


@pytest.mark.parametrize("title", OPENING_SENTENCES)
def test_sample_opening_sentence(sample: list[Document], title: str) -> None:
    (document,) = [document for document in sample if document.title == title]
    assert first_paragraph(document).startswith(OPENING_SENTENCES[title])


def test_sample_title_is_first_heading(sample: list[Document]) -> None:
    assert heading_texts(sample[0])[0] == "アンパサンド"


def test_sample_section_headings(sample: list[Document]) -> None:
    assert heading_texts(sample[0])[1:4] == ["語源", "歴史", "手書き"]


def test_sample_subsection_level(sample: list[Document]) -> None:
    (document,) = [document for document in sample if document.title == "地理学"]
    levels = {document.text[heading.start : heading.end]: heading.level for heading in document.headings}
    assert (levels["名称"], levels["「地理」の語源と語義"]) == (2, 3)


def test_sample_reference_sections_dropped(sample: list[Document]) -> None:
    (document,) = [document for document in sample if document.title == "地理学"]
    assert {"脚注", "参考文献", "関連項目", "外部リンク"}.isdisjoint(heading_texts(document))


def test_sample_reference_sections_kept_on_request(sample_with_references: list[Document]) -> None:
    (document,) = [document for document in sample_with_references if document.title == "地理学"]
    assert heading_texts(document)[-3:] == ["参考文献", "関連項目", "外部リンク"]


@pytest.mark.timeout(120)
def test_sample_parallel_output_identical(sample: list[Document], tmp_path: Path) -> None:
    parallel = documents(SourceConfig(path=require(JAWIKI_SAMPLE)), tmp_path, workers=2)
    assert parallel == sample


# Sections.


def test_reference_heading_combined() -> None:
    assert jawiki_dump.is_reference_heading("出典・脚注")


def test_reference_heading_prose_section() -> None:
    assert not jawiki_dump.is_reference_heading("歴史・脚注")


def test_drop_reference_sections_only_trailing() -> None:
    blocks = [
        ("関連項目", 2),
        ("本文", 0),
        ("歴史", 2),
        ("本文", 0),
        ("脚注", 2),
        ("注", 0),
        ("出典", 3),
        ("外部リンク", 2),
    ]
    assert jawiki_dump.drop_reference_sections(blocks) == blocks[:4]


def test_drop_empty_sections_keeps_parent_of_text() -> None:
    blocks = [("概要", 2), ("詳細", 3), ("本文", 0), ("一覧", 2), ("", 0), ("表", 3)]
    assert jawiki_dump.drop_empty_sections(blocks) == [("概要", 2), ("詳細", 3), ("本文", 0), ("", 0)]


def test_conversion_error_kept_as_reject(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def fail(wikitext: str) -> list[tuple[str, int]]:
        raise ValueError("converter bug")

    monkeypatch.setattr(jawiki_dump, "wikitext_to_blocks", fail)
    records = list(read(SourceConfig(path=DEMO / "jawiki"), raw_dir=tmp_path))
    assert all(isinstance(record, ReaderReject) for record in records)
    first = records[0]
    assert isinstance(first, ReaderReject)
    assert "page 1001 ('緑茶') could not be converted: ValueError('converter bug')" in first.reason
    assert first.document.text.startswith("{{Infobox 飲料")


# Options.


def test_unknown_option_lists_supported_keys(tmp_path: Path) -> None:
    config = SourceConfig(path=DEMO / "jawiki", options={"keep_references": True})
    with pytest.raises(ConfigError, match="supported keys: keep_reference_sections"):
        list(read(config, raw_dir=tmp_path))


def test_option_must_be_boolean(tmp_path: Path) -> None:
    config = SourceConfig(path=DEMO / "jawiki", options={"keep_reference_sections": "yes"})
    with pytest.raises(ConfigError, match="keep_reference_sections must be true or false"):
        list(read(config, raw_dir=tmp_path))


def test_options_from_yaml_config(make_config: Any) -> None:
    config = make_config({"jawiki": {"path": str(DEMO / "jawiki"), "options": {"keep_reference_sections": True}}})
    assert jawiki.parse_options(config.sources["jawiki"].options).keep_reference_sections


# The demo dump.


def test_demo_dump_articles(tmp_path: Path) -> None:
    titles = [document.title for document in documents(SourceConfig(path=DEMO / "jawiki"), tmp_path)]
    assert titles == ["緑茶", "自転車", "俳句"]


def test_demo_dump_text(tmp_path: Path) -> None:
    (tea, _, _) = documents(SourceConfig(path=DEMO / "jawiki"), tmp_path)
    assert (
        tea.text.split("\n")[2]
        == "緑茶（りょくちゃ、英: green tea）は、摘んだ茶葉を発酵させずに加熱して作る茶の総称である。"
    )


# Parquet files in the wikimedia/wikipedia layout.


def write_parquet(path: Path, rows: list[dict[str, str]]) -> Path:
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


PARQUET_ROWS = [
    {
        "id": "5",
        "url": "https://ja.wikipedia.org/wiki/%E7%B7%91%E8%8C%B6",
        "title": "緑茶",
        "text": "緑茶は茶である。\n\n製法\n蒸す。",
    },
    {"id": "9", "url": "https://ja.wikipedia.org/wiki/%E4%BF%B3%E5%8F%A5", "title": "俳句", "text": "俳句は詩である。"},
]


def test_parquet_documents(tmp_path: Path) -> None:
    path = write_parquet(tmp_path / "train-00000-of-00001.parquet", PARQUET_ROWS)
    (tea, haiku) = documents(SourceConfig(path=path), tmp_path)
    assert (tea.id, tea.title, tea.text) == ("jawiki/5", "緑茶", "緑茶\n緑茶は茶である。\n\n製法\n蒸す。")
    assert haiku.metadata == {"page_id": "9", "url": "https://ja.wikipedia.org/wiki/%E4%BF%B3%E5%8F%A5"}


def test_parquet_folder_read_in_name_order(tmp_path: Path) -> None:
    write_parquet(tmp_path / "train-00001-of-00002.parquet", PARQUET_ROWS[1:])
    write_parquet(tmp_path / "train-00000-of-00002.parquet", PARQUET_ROWS[:1])
    assert [document.id for document in documents(SourceConfig(path=tmp_path), tmp_path)] == ["jawiki/5", "jawiki/9"]


def test_parquet_missing_column(tmp_path: Path) -> None:
    path = write_parquet(tmp_path / "bad.parquet", [{"id": "1", "title": "緑茶", "text": "本文"}])
    with pytest.raises(SourceError, match="lacks the columns url"):
        list(read(SourceConfig(path=path), raw_dir=tmp_path))


def test_parquet_and_dump_in_one_folder(tmp_path: Path) -> None:
    write_parquet(tmp_path / "train.parquet", PARQUET_ROWS)
    (tmp_path / "jawiki-pages-articles.xml").write_text("<mediawiki/>", encoding="utf-8")
    with pytest.raises(SourceError, match="both Parquet files and XML dumps"):
        list(read(SourceConfig(path=tmp_path), raw_dir=tmp_path))


def test_dump_next_to_decompressed_copy(tmp_path: Path) -> None:
    xml = (DEMO / "jawiki" / "jawiki-demo-pages-articles.xml").read_bytes()
    (tmp_path / "jawiki-pages-articles.xml").write_bytes(xml)
    (tmp_path / "jawiki-pages-articles.xml.bz2").write_bytes(bz2.compress(xml))
    with pytest.raises(SourceError, match="next to its decompressed copy"):
        list(read(SourceConfig(path=tmp_path), raw_dir=tmp_path))


def test_unsupported_file(tmp_path: Path) -> None:
    path = tmp_path / "jawiki.txt"
    path.write_text("本文", encoding="utf-8")
    with pytest.raises(SourceError, match=r"neither a \.xml or \.xml\.bz2 dump nor a \.parquet file"):
        list(read(SourceConfig(path=path), raw_dir=tmp_path))


# Downloads and the Hugging Face route.


@pytest.fixture
def dump_server(tmp_path: Path) -> Iterator[str]:
    """Serve a bz2 copy of the demo dump from a server on 127.0.0.1 and yield its address."""
    served = tmp_path / "served"
    served.mkdir()
    xml = (DEMO / "jawiki" / "jawiki-demo-pages-articles.xml").read_bytes()
    (served / "jawiki-20240301-pages-articles.xml.bz2").write_bytes(bz2.compress(xml))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jawiki-20240301-pages-articles.xml.bz2"
    server.shutdown()
    thread.join()


def test_url_dump_downloaded_into_raw_folder(dump_server: str, tmp_path: Path) -> None:
    raw_dir = tmp_path / "raw"
    titles = [document.title for document in documents(SourceConfig(url=dump_server), raw_dir)]
    assert titles == ["緑茶", "自転車", "俳句"]
    assert (raw_dir / "jawiki" / "jawiki-20240301-pages-articles.xml.bz2").is_file()


def test_hub_route_streams_default_snapshot(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import datasets

    requests: list[tuple[Any, ...]] = []

    def load_dataset(name: str, subset: str, *, split: str, streaming: bool, cache_dir: str) -> list[dict[str, str]]:
        requests.append((name, subset, split, streaming))
        return PARQUET_ROWS

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    titles = [document.title for document in documents(SourceConfig(), tmp_path)]
    assert requests == [("wikimedia/wikipedia", "20231101.ja", "train", True)]
    assert titles == ["緑茶", "俳句"]


# The corpus stage.


@pytest.mark.timeout(120)
def test_corpus_stage_writes_demo_articles(make_config: Any) -> None:
    from pipeline import corpus

    config = make_config({"jawiki": {"path": str(DEMO / "jawiki")}}, workers=2)
    manifest = corpus.clean_source("jawiki", config)
    counts = manifest["counts"]

    assert counts["documents_in"] == 3
    assert counts["documents_out"] == 3
