from __future__ import annotations

import pytest

from pipeline.document import Document


def make_document() -> Document:
    blocks = [("Title", 1), ("first line", 0), ("", 0), ("", 0), ("Section", 2), ("body\nmore", 0)]
    return Document.from_blocks(id="t/1", source="t", title="Title", blocks=blocks)


def test_from_blocks_spans() -> None:
    document = make_document()

    assert document.text == "Title\nfirst line\n\nSection\nbody\nmore"
    assert [document.text[h.start : h.end] for h in document.headings] == ["Title", "Section"]
    assert [h.level for h in document.headings] == [1, 2]


def test_map_lines_recomputes_spans() -> None:
    document = make_document()

    doubled = document.map_lines(lambda line, level: line * 2 if level else line.upper())

    assert doubled.text == "TitleTitle\nFIRST LINE\n\nSectionSection\nBODY\nMORE"
    assert [doubled.text[h.start : h.end] for h in doubled.headings] == ["TitleTitle", "SectionSection"]


def test_map_lines_drops_lines_and_headings() -> None:
    document = make_document()

    dropped = document.map_lines(lambda line, level: None if line == "Section" else line)

    assert dropped.text == "Title\nfirst line\n\nbody\nmore"
    assert [h.level for h in dropped.headings] == [1]


def test_map_lines_clears_morphemes_on_change() -> None:
    document = make_document().replace(morpheme_ends=(5, 11))

    assert document.map_lines(lambda line, level: line).morpheme_ends == (5, 11)
    assert document.map_lines(lambda line, level: line + "!").morpheme_ends == ()


def test_heading_with_newline_rejected() -> None:
    with pytest.raises(ValueError, match="newline"):
        Document.from_blocks(id="t/2", source="t", title="a", blocks=[("a\nb", 1)])
