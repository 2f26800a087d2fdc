from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import SourceConfig
from pipeline.document import Document
from pipeline.filters import Reject, build_filters
from pipeline.filters.boilerplate import LivedoorBoilerplateFilter, RemoveUrlLinesFilter, WikiTextLeftoversFilter
from pipeline.sources import livedoor
from pipeline.sources.wikitext import parse_articles
from tests.conftest import LIVEDOOR_SAMPLE, require


def document(source: str, title: str, *body: str) -> Document:
    blocks = [(title, 1), *((line, 0) for line in body)]
    return Document.from_blocks(id=f"{source}/1", source=source, title=title, blocks=blocks)


def test_url_lines_removed() -> None:
    original = document("t", "T", "本文です。", "http://example.com/a", "・https://example.com/b http://x.jp/", "続き")

    result = RemoveUrlLinesFilter().apply(original)

    assert result.text == "T\n本文です。\n続き"


def test_url_inside_sentence_kept() -> None:
    original = document("t", "T", "詳しくは http://example.com/ を参照。")

    assert RemoveUrlLinesFilter().apply(original) is original


def test_livedoor_link_list_removed() -> None:
    original = document(
        "livedoor",
        "タイトル",
        "本文の段落。",
        "",
        "■関連リンク",
        "・関連記事その一",
        "・関連記事その二",
        "",
        "記事執筆：筆者",
    )

    result = LivedoorBoilerplateFilter().apply(original)

    assert result.text == "タイトル\n本文の段落。\n\n記事執筆：筆者"


def test_livedoor_list_mid_article() -> None:
    original = document("livedoor", "T", "前の段落。", "【関連リンク】", "・リンク", "", "後の段落。")

    result = LivedoorBoilerplateFilter().apply(original)

    assert result.text == "T\n前の段落。\n\n後の段落。"


@pytest.mark.parametrize(
    "header",
    [
        "■関連記事",
        "●関連記事",
        "■ドコモに関連した記事をもっと見る",
        "■デジ通の記事をもっと見る",
        "【 MOVIE ENTER おすすめニュース 】",
    ],
)
def test_livedoor_headers_recognized(header: str) -> None:
    original = document("livedoor", "T", "本文。", header, "・リンク先の記事")

    result = LivedoorBoilerplateFilter().apply(original)

    assert result.text == "T\n本文。"


def test_livedoor_own_list_kept() -> None:
    # A section heading in the body followed by the article's own bullet points.
    original = document("livedoor", "T", "■省電力の工夫", "・クロックを下げる", "・画面を暗くする")

    assert LivedoorBoilerplateFilter().apply(original) is original


def test_livedoor_amazon_box_removed() -> None:
    original = document(
        "livedoor", "T", "本文。", "", "書名", "著者:誰か", "出版社(2011-12)", "販売元:Amazon.co.jp", "クチコミを見る"
    )

    result = LivedoorBoilerplateFilter().apply(original)

    assert result.text == "T\n本文。"


def test_livedoor_link_text_removed() -> None:
    original = document(
        "livedoor", "T", "本文。", "■エフセキュアブログを読む", "…続きを読む", "■", "問い合わせはコチラ"
    )

    result = LivedoorBoilerplateFilter().apply(original)

    assert result.text == "T\n本文。"


def test_livedoor_sample_trailers_gone(tmp_path: Path) -> None:
    steps = build_filters(["nfkc", "normalize_whitespace", "remove_url_lines", "livedoor_boilerplate"])
    changed = 0
    for record in livedoor.read(SourceConfig(path=require(LIVEDOOR_SAMPLE)), raw_dir=tmp_path):
        assert isinstance(record, Document)
        result = record
        for step in steps:
            cleaned = step.apply(result)
            assert isinstance(cleaned, Document)
            result = cleaned
        lines = result.text.split("\n")
        assert "■関連リンク" not in lines, record.id
        assert "■関連記事" not in lines, record.id
        assert "クチコミを見る" not in lines, record.id
        assert lines[0] == result.title, record.id
        changed += result.text != record.text
    # 100 of the 360 sample articles contain 関連リンク alone (grep -l on the extracted tarball).
    assert changed >= 100


def wikitext_document(*lines: str) -> Document:
    (result,) = parse_articles([" = Title = ", *lines], part="test")
    return result


def test_wikitext_spacing_undone() -> None:
    original = wikitext_document(
        ' He had a role as " Craig " in " Teddy \'s Story " ( 2004 ) , and it did n\'t end ; 50 % of $ 5 . '
    )

    result = WikiTextLeftoversFilter().apply(original)

    assert isinstance(result, Document)
    assert result.text == 'Title\nHe had a role as "Craig" in "Teddy\'s Story" (2004), and it didn\'t end; 50% of $5.'


def test_wikitext_title_detokenized() -> None:
    (original,) = parse_articles([" = Teddy 's Story = ", " Text . "], part="test")

    result = WikiTextLeftoversFilter().apply(original)

    assert isinstance(result, Document)
    assert result.title == "Teddy's Story"
    assert result.text == "Teddy's Story\nText."
    assert [result.text[h.start : h.end] for h in result.headings] == ["Teddy's Story"]


def test_wikitext_unknown_removed() -> None:
    result = WikiTextLeftoversFilter().apply(wikitext_document(" The <unk> river is <unk> . "))

    assert isinstance(result, Document)
    assert result.text == "Title\nThe river is."


def test_wikitext_unknown_rejected() -> None:
    result = WikiTextLeftoversFilter(unknown="reject").apply(wikitext_document(" The <unk> river . "))

    assert isinstance(result, Reject)
    assert "1 <unk>" in result.reason


def test_wikitext_unknown_kept() -> None:
    result = WikiTextLeftoversFilter(unknown="keep").apply(wikitext_document(" The <unk> river . "))

    assert isinstance(result, Document)
    assert result.text == "Title\nThe <unk> river."
