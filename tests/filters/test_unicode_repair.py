from __future__ import annotations

from pathlib import Path

import ftfy
import pytest

from pipeline.config import SourceConfig
from pipeline.document import Document
from pipeline.filters.unicode import FixMojibakeFilter, RemoveInvisibleFilter, RemovePrivateUseFilter
from pipeline.sources import livedoor, wikitext
from tests.conftest import LIVEDOOR_SAMPLE, WIKITEXT_SAMPLE, require


def document(title: str, *body: str) -> Document:
    return Document.from_blocks(id="t/1", source="t", title=title, blocks=[(title, 1), *((line, 0) for line in body)])


def mojibake(text: str) -> str:
    """Return ``text`` as it looks when its UTF-8 bytes are decoded as Windows-1252."""
    return text.encode("utf-8").decode("cp1252", errors="ignore")


def test_mojibake_japanese_repaired() -> None:
    # "日本語" read as Windows-1252: every byte of it is defined there, so nothing was lost.
    broken = mojibake("日本語")
    assert broken == "æ—¥æœ¬èªž"

    result = FixMojibakeFilter().apply(document("見出し", f"これは{broken}です。"))

    assert result.text == "見出し\nこれは日本語です。"


def test_mojibake_title_repaired() -> None:
    broken = "Ã©tÃ©"

    result = FixMojibakeFilter().apply(document(broken, "body"))

    assert result.title == "été"
    assert result.text == "été\nbody"


def test_mojibake_heading_spans_follow() -> None:
    result = FixMojibakeFilter().apply(document("Ã©tÃ©", "body"))

    heading = result.headings[0]
    assert result.text[heading.start : heading.end] == "été"


@pytest.mark.parametrize(
    "line",
    [
        "ﾊﾟﾋﾟﾌﾟ ＡＢＣ",  # half-width kana and full-width Latin are NFKC's job, not ftfy's
        "“quoted” — ok…",  # curly quotes, dash and ellipsis stay
        "Café &amp; bar",  # HTML entities are not unescaped
        "①②③ ㍻ ﬁ",  # compatibility characters and ligatures stay
    ],
)
def test_mojibake_keeps_correct_text(line: str) -> None:
    original = document("タイトル", line)

    result = FixMojibakeFilter().apply(original)

    assert result.text == original.text


def test_mojibake_keeps_real_articles(tmp_path: Path) -> None:
    fixer = FixMojibakeFilter()
    for record in livedoor.read(SourceConfig(path=require(LIVEDOOR_SAMPLE)), raw_dir=tmp_path):
        assert isinstance(record, Document)
        assert fixer.apply(record) is record, record.id


def test_private_use_removed() -> None:
    result = RemovePrivateUseFilter().apply(document("T\ue001", "晴れ\ue63eのち\U000f0001雨\U00100001"))

    assert result.text == "T\n晴れのち雨"
    assert result.title == "T"


def test_private_use_keeps_other_text() -> None:
    original = document("絵文字", "晴れ☀のち雨☔ 𠮷野家")

    assert RemovePrivateUseFilter().apply(original) is original


def test_lone_surrogate_removed() -> None:
    result = RemoveInvisibleFilter().apply(document("T", "a\ud800b"))

    assert result.text == "T\nab"


def test_mojibake_skip_matches_ftfy(tmp_path: Path) -> None:
    # The filter skips lines that it expects ftfy to leave unchanged, so its result must equal
    # running ftfy itself with the same settings on every line.
    fixer = FixMojibakeFilter()
    lines = [
        f"これは{mojibake('日本語')}です",
        "これは\u00e6\u2014\u00a5です",  # an incomplete sequence stays
        "cafÃ© et ÃŸ",
        "Ã¢â‚¬â„¢",
        "voilÃ le travail",
        "a\ud83d\ude00b",
    ]
    for record in livedoor.read(SourceConfig(path=require(LIVEDOOR_SAMPLE)), raw_dir=tmp_path):
        assert isinstance(record, Document)
        lines.extend(record.text.split("\n")[:20])
    for record in wikitext.read(SourceConfig(path=require(WIKITEXT_SAMPLE)), raw_dir=tmp_path):
        assert isinstance(record, Document)
        lines.extend(record.text.split("\n"))

    for line in filter(str.strip, lines):
        expected = ftfy.fix_text(line, fixer._config)
        assert fixer.apply(document("T", line)).text == f"T\n{expected}", line
