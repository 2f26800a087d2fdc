from __future__ import annotations

import unicodedata

from pipeline.document import Document
from pipeline.filters import Reject, build_filters
from pipeline.filters.unicode import NFKCFilter, NormalizeWhitespaceFilter, RejectEmptyFilter, RemoveInvisibleFilter


def document(title: str, *body: str) -> Document:
    return Document.from_blocks(id="t/1", source="t", title=title, blocks=[(title, 1), *((line, 0) for line in body)])


def test_nfkc_keeps_voiced_kana() -> None:
    result = NFKCFilter().apply(document("データ", "がぎぐげご ﾊﾟﾋﾟﾌﾟ ＡＢＣ１２３"))

    assert isinstance(result, Document)
    assert result.text == "データ\nがぎぐげご パピプ ABC123"
    assert result.text == unicodedata.normalize("NFKC", result.text)


def test_nfkc_updates_title_and_spans() -> None:
    result = NFKCFilter().apply(document("ＡＩの話", "本文"))

    assert isinstance(result, Document)
    assert result.title == "AIの話"
    heading = result.headings[0]
    assert result.text[heading.start : heading.end] == "AIの話"


def test_invisible_characters_removed() -> None:
    result = RemoveInvisibleFilter().apply(document("T\u200bitle", "a\u200db\x07c\ufeffd"))

    assert isinstance(result, Document)
    assert result.text == "Title\nabcd"
    assert result.title == "Title"


def test_whitespace_normalized() -> None:
    result = NormalizeWhitespaceFilter().apply(document("T", "a \t  b   ", "", "", "", "\u3000字下げ"))

    assert isinstance(result, Document)
    assert result.text == "T\na b\n\n\u3000字下げ"


def test_empty_document_rejected() -> None:
    result = RejectEmptyFilter().apply(document("Only a title", "", "  "))

    assert isinstance(result, Reject)
    assert "no body text" in result.reason


def test_run_counts_and_sinks_rejects() -> None:
    rejected: list[tuple[str, str]] = []
    (empty_filter,) = build_filters(["reject_empty"])
    documents = [document("A", "body"), document("B")]

    kept = list(empty_filter.run(documents, lambda doc, name, reason: rejected.append((doc.title, name))))

    assert [doc.title for doc in kept] == ["A"]
    assert rejected == [("B", "reject_empty")]
    assert empty_filter.stats.documents_in == 2
    assert empty_filter.stats.documents_rejected == 1
