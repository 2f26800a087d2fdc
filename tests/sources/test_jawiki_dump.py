"""MediaWiki XML dumps: streaming, multistream bz2, cut files and entity tricks, built in ``tmp_path``."""

from __future__ import annotations

import bz2
import io
import itertools
import tracemalloc
from pathlib import Path

import pytest

from pipeline.config import SourceConfig
from pipeline.document import Document
from pipeline.sources import ReaderReject, SourceError
from pipeline.sources.jawiki import read
from pipeline.sources.mediawiki_streams import find_streams, read_stream
from pipeline.sources.mediawiki_xml import ReadAhead, iter_pages

HEADER = (
    '<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" version="0.10" xml:lang="ja">\n'
    "  <siteinfo><sitename>Wikipedia</sitename><dbname>jawiki</dbname></siteinfo>\n"
)
FOOTER = "</mediawiki>\n"


def page_xml(page_id: int, title: str, text: str, *, namespace: int = 0, redirect: str | None = None) -> str:
    redirect_element = f'<redirect title="{redirect}" />' if redirect else ""
    return (
        f"  <page><title>{title}</title><ns>{namespace}</ns><id>{page_id}</id>{redirect_element}"
        f"<revision><id>{page_id + 1000}</id><timestamp>2024-01-0{page_id % 9 + 1}T00:00:00Z</timestamp>"
        f'<text bytes="{len(text.encode())}" xml:space="preserve">{text}</text></revision></page>\n'
    )


ARTICLES = [page_xml(index, f"記事{index}", f"'''記事{index}'''は[[例]]である。") for index in range(1, 7)]
DUMP = HEADER + "".join(ARTICLES) + FOOTER


def write_bz2(path: Path, xml: str) -> Path:
    path.write_bytes(bz2.compress(xml.encode()))
    return path


def read_until_error(path: Path, *, workers: int = 1) -> tuple[list[Document | ReaderReject], SourceError | None]:
    """Read a dump and return the records yielded before the error, and the error."""
    records: list[Document | ReaderReject] = []
    try:
        for record in read(SourceConfig(path=path), raw_dir=path.parent, workers=workers):
            records.append(record)
    except SourceError as error:
        return records, error
    return records, None


def test_page_fields(tmp_path: Path) -> None:
    xml = HEADER + page_xml(7, "緑茶", "茶 &amp;lt;b&amp;gt; [[葉]]") + FOOTER
    (page,) = iter_pages(write_bz2(tmp_path / "a.xml.bz2", xml), source="jawiki")
    assert page == ("7", "緑茶", 0, False, "1007", "2024-01-08T00:00:00Z", "茶 &lt;b&gt; [[葉]]")


def test_redirect_flag(tmp_path: Path) -> None:
    xml = HEADER + page_xml(1, "チャ", "#転送 [[茶]]", redirect="茶") + FOOTER
    (page,) = iter_pages(write_bz2(tmp_path / "a.xml.bz2", xml), source="jawiki")
    assert page.redirect


def test_articles_only(tmp_path: Path) -> None:
    xml = (
        HEADER
        + page_xml(1, "茶", "茶は飲み物である。")
        + page_xml(2, "チャ", "#転送 [[茶]]", redirect="茶")
        + page_xml(3, "Wikipedia:案内", "案内の文。", namespace=4)
        + page_xml(4, "紅茶", "紅茶は茶である。")
        + FOOTER
    )
    records = list(read(SourceConfig(path=write_bz2(tmp_path / "a.xml.bz2", xml)), raw_dir=tmp_path))
    assert [record.title for record in records if isinstance(record, Document)] == ["茶", "紅茶"]


def test_plain_xml_read(tmp_path: Path) -> None:
    path = tmp_path / "jawiki-pages-articles.xml"
    path.write_text(DUMP, encoding="utf-8")
    assert len(list(iter_pages(path, source="jawiki"))) == 6


def test_multistream_bz2_read(tmp_path: Path) -> None:
    # Multistream dumps are bz2 streams of about 100 pages each, written back to back.
    streams = [HEADER, "".join(ARTICLES[:3]), "".join(ARTICLES[3:]), FOOTER]
    path = tmp_path / "jawiki-pages-articles-multistream.xml.bz2"
    path.write_bytes(b"".join(bz2.compress(stream.encode()) for stream in streams))
    assert [page.title for page in iter_pages(path, source="jawiki")] == [f"記事{index}" for index in range(1, 7)]


def test_bz2_cut_short_raises(tmp_path: Path) -> None:
    compressed = bz2.compress(DUMP.encode())
    path = tmp_path / "cut.xml.bz2"
    path.write_bytes(compressed[: len(compressed) - 20])
    _, error = read_until_error(path)
    assert error is not None
    assert str(path) in str(error)
    assert "ends early" in str(error)


def test_bz2_cut_short_keeps_earlier_articles(tmp_path: Path) -> None:
    # Padding without runs spreads the pages over many 100 kB bz2 blocks, so a cut in the
    # middle leaves complete blocks, and complete pages, before it.
    padding = bytes(range(256)).hex() * 400
    xml = HEADER + "".join(page_xml(index, f"記事{index}", f"本文{index} {padding}") for index in range(1, 9)) + FOOTER
    compressed = bz2.compress(xml.encode(), compresslevel=1)
    path = tmp_path / "cut.xml.bz2"
    path.write_bytes(compressed[: len(compressed) // 2])
    records, error = read_until_error(path)
    assert error is not None
    assert records
    last = records[-1]
    assert isinstance(last, Document)
    assert f"after page {last.metadata['page_id']} ({last.title!r})" in str(error)


@pytest.mark.parametrize("workers", [1, 2])
def test_xml_cut_mid_page_keeps_earlier_articles(tmp_path: Path, workers: int) -> None:
    xml = HEADER + "".join(ARTICLES)
    cut = xml[: xml.index("<title>記事5</title>") + 20]
    records, _ = read_until_error(write_bz2(tmp_path / "cut.xml.bz2", cut), workers=workers)
    assert [record.title for record in records] == ["記事1", "記事2", "記事3", "記事4"]


@pytest.mark.parametrize("workers", [1, 2])
def test_xml_cut_mid_page_names_last_page(tmp_path: Path, workers: int) -> None:
    xml = HEADER + "".join(ARTICLES)
    cut = xml[: xml.index("<title>記事5</title>") + 20]
    path = write_bz2(tmp_path / "cut.xml.bz2", cut)
    _, error = read_until_error(path, workers=workers)
    assert error is not None
    assert str(path) in str(error)
    assert "after page 4 ('記事4')" in str(error)


def test_malformed_xml_raises(tmp_path: Path) -> None:
    xml = HEADER + ARTICLES[0] + "  <page><title>壊れた</tit></page>\n" + FOOTER
    _, error = read_until_error(write_bz2(tmp_path / "bad.xml.bz2", xml))
    assert error is not None
    assert "is not a well-formed MediaWiki dump (mismatched tag" in str(error)
    assert "after page 1 ('記事1')" in str(error)


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE mediawiki [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<mediawiki><page><title>笑い</title><ns>0</ns><id>1</id>
<revision><id>2</id><timestamp>2024-01-01T00:00:00Z</timestamp><text>&lol9;</text></revision></page></mediawiki>
"""


@pytest.mark.timeout(30)
def test_billion_laughs_rejected(tmp_path: Path) -> None:
    records, error = read_until_error(write_bz2(tmp_path / "laughs.xml.bz2", BILLION_LAUGHS))
    assert records == []
    assert error is not None
    assert "declares a DTD or XML entities" in str(error)


def test_external_entity_rejected(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-CONTENT", encoding="utf-8")
    xml = (
        f'<?xml version="1.0"?>\n<!DOCTYPE mediawiki [<!ENTITY ext SYSTEM "file://{secret}">]>\n'
        "<mediawiki><page><title>外部</title><ns>0</ns><id>1</id>"
        "<revision><id>2</id><text>&ext;</text></revision></page></mediawiki>\n"
    )
    records, error = read_until_error(write_bz2(tmp_path / "external.xml.bz2", xml))
    assert records == []
    assert error is not None
    assert "declares a DTD or XML entities" in str(error)


def test_undeclared_entity_rejected(tmp_path: Path) -> None:
    xml = HEADER + page_xml(1, "外部", "&ext;") + FOOTER
    _, error = read_until_error(write_bz2(tmp_path / "entity.xml.bz2", xml))
    assert error is not None
    assert "undefined entity" in str(error)


@pytest.mark.timeout(120)
def test_parse_memory_bounded(tmp_path: Path) -> None:
    """The peak memory of parsing does not grow with the number of pages."""

    def peak_bytes(pages: int) -> int:
        path = tmp_path / f"pages-{pages}.xml"
        body = "".join(page_xml(index, f"記事{index}", "本文。" * 1000) for index in range(pages))
        path.write_text(HEADER + body + FOOTER, encoding="utf-8")
        tracemalloc.start()
        for _ in iter_pages(path, source="jawiki"):
            pass
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak

    # 9 MB and 36 MB of XML, both larger than the read-ahead buffer of a few chunks.
    small = peak_bytes(1000)
    assert peak_bytes(4000) < 1.5 * small


def test_read_ahead_returns_same_bytes() -> None:
    data = bytes(range(256)) * 1000
    sizes = itertools.cycle([1, 999, 1001, 5000, -1])
    with ReadAhead(io.BytesIO(data), chunk_size=1000) as stream:
        pieces = list(iter(lambda: stream.read(next(sizes)), b""))
    assert b"".join(pieces) == data


def test_read_ahead_raises_stream_error() -> None:
    class FailingStream(io.BytesIO):
        def read1(self, size: int | None = -1) -> bytes:
            raise EOFError("stream ended early")

    with ReadAhead(FailingStream()) as stream, pytest.raises(EOFError):
        stream.read(10)


def test_read_ahead_delivers_bytes_before_error() -> None:
    class CutStream(io.BytesIO):
        def read1(self, size: int | None = -1) -> bytes:
            data = super().read1(100)
            if not data:
                raise EOFError("stream ended early")
            return data

    received = b""
    with ReadAhead(CutStream(b"x" * 250), chunk_size=1000) as stream, pytest.raises(EOFError):
        while chunk := stream.read(10):
            received += chunk
    assert received == b"x" * 250


# Multistream dumps read stream by stream in worker processes.


def write_multistream(path: Path, streams: list[str]) -> Path:
    """Write each string as its own bz2 stream, back to back, as multistream dumps are laid out."""
    path.write_bytes(b"".join(bz2.compress(stream.encode()) for stream in streams))
    return path


MIXED_PAGES = [
    page_xml(1, "茶", "'''茶'''は[[飲み物]]である。"),
    page_xml(2, "チャ", "#転送 [[茶]]", redirect="茶"),
    page_xml(3, "紅茶", "紅茶は{{lang|en|black tea}}と呼ばれる。\n== 歴史 ==\n古い。"),
    page_xml(4, "Wikipedia:案内", "案内の文。", namespace=4),
    page_xml(5, "緑茶", "緑茶は発酵させない。"),
    page_xml(6, "麦茶", "麦茶は茶ではない。"),
]
MULTISTREAM = [HEADER, "".join(MIXED_PAGES[:2]), "".join(MIXED_PAGES[2:4]), "".join(MIXED_PAGES[4:]), FOOTER]


def test_find_streams_in_multistream(tmp_path: Path) -> None:
    path = write_multistream(tmp_path / "jawiki-pages-articles-multistream.xml.bz2", MULTISTREAM)
    assert len(find_streams(path)) == 5


def test_find_streams_in_single_stream(tmp_path: Path) -> None:
    assert len(find_streams(write_bz2(tmp_path / "a.xml.bz2", DUMP))) == 1


@pytest.mark.timeout(60)
def test_multistream_workers_match_sequential(tmp_path: Path) -> None:
    path = write_multistream(tmp_path / "jawiki-pages-articles-multistream.xml.bz2", MULTISTREAM)
    sequential, _ = read_until_error(path, workers=1)
    parallel, error = read_until_error(path, workers=2)
    assert error is None
    assert [record.title for record in parallel] == ["茶", "紅茶", "緑茶", "麦茶"]
    assert parallel == sequential


@pytest.mark.timeout(60)
def test_multistream_cut_keeps_earlier_articles(tmp_path: Path) -> None:
    path = write_multistream(tmp_path / "cut-multistream.xml.bz2", MULTISTREAM[:4])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 30])
    records, error = read_until_error(path, workers=2)
    assert [record.title for record in records] == ["茶", "紅茶"]
    assert error is not None
    assert f"{path} ends early (bz2 stream cut short) after page 4 ('Wikipedia:案内')" in str(error)


@pytest.mark.timeout(60)
def test_multistream_missing_end_raises(tmp_path: Path) -> None:
    path = write_multistream(tmp_path / "cut-multistream.xml.bz2", MULTISTREAM[:4])
    records, error = read_until_error(path, workers=2)
    assert [record.title for record in records] == ["茶", "紅茶", "緑茶", "麦茶"]
    assert error is not None
    assert "ends early (no closing </mediawiki>) after page 6 ('麦茶')" in str(error)


@pytest.mark.timeout(60)
def test_multistream_declared_entities_rejected(tmp_path: Path) -> None:
    header = BILLION_LAUGHS[: BILLION_LAUGHS.index("<mediawiki>")] + "<mediawiki>\n"
    path = write_multistream(tmp_path / "laughs-multistream.xml.bz2", [header, *MULTISTREAM[1:]])
    records, error = read_until_error(path, workers=2)
    assert records == []
    assert error is not None
    assert "declares a DTD or XML entities" in str(error)


@pytest.mark.timeout(60)
def test_multistream_undefined_entity_raises(tmp_path: Path) -> None:
    streams = [HEADER, "".join(MIXED_PAGES[:2]), page_xml(7, "外部", "&ext;"), FOOTER]
    path = write_multistream(tmp_path / "entity-multistream.xml.bz2", streams)
    records, error = read_until_error(path, workers=2)
    assert [record.title for record in records] == ["茶"]
    assert error is not None
    assert "is not a well-formed MediaWiki dump (undefined entity" in str(error)


@pytest.mark.timeout(60)
def test_streams_cut_mid_page_read_sequentially(tmp_path: Path) -> None:
    # pbzip2 and lbzip2 write one bz2 stream per fixed-size block, cutting pages in two.
    xml = (HEADER + "".join(MIXED_PAGES) + FOOTER).encode()
    path = tmp_path / "blocks.xml.bz2"
    path.write_bytes(b"".join(bz2.compress(xml[start : start + 300]) for start in range(0, len(xml), 300)))
    parallel, error = read_until_error(path, workers=2)
    assert error is None
    assert [record.title for record in parallel] == ["茶", "紅茶", "緑茶", "麦茶"]


def test_stream_cut_mid_page_reported(tmp_path: Path) -> None:
    xml = (HEADER + "".join(MIXED_PAGES) + FOOTER).encode()
    path = tmp_path / "blocks.xml.bz2"
    path.write_bytes(b"".join(bz2.compress(xml[start : start + 300]) for start in range(0, len(xml), 300)))
    result = read_stream(find_streams(path)[1])
    assert result.problem is not None
    assert "splits a page" in result.problem
