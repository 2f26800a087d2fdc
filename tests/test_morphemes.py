"""Morpheme ends from MeCab: exact pieces on the real samples, normalization safety, long texts."""

from __future__ import annotations

import bz2
import itertools
import shlex
import unicodedata
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from pathlib import Path

import fugashi
import pytest
import unidic_lite

from pipeline.config import SourceConfig
from pipeline.document import Document
from pipeline.filters import build_filters
from pipeline.morphemes import MECAB_WHITESPACE, MorphemeSegmenter, split_at, window_spans
from pipeline.sources import ReaderReject
from pipeline.sources.livedoor import read as read_livedoor
from tests.conftest import JAWIKI_SAMPLE, LIVEDOOR_SAMPLE, require

ASCII_WHITESPACE = " \t\n\x0b"


@pytest.fixture(scope="module")
def segmenter() -> MorphemeSegmenter:
    return MorphemeSegmenter()


@pytest.fixture(scope="module")
def tagger() -> fugashi.GenericTagger:
    # A tagger of its own, independent of the one under test.
    dictionary = unidic_lite.DICDIR
    return fugashi.GenericTagger(f"-r {shlex.quote(dictionary + '/mecabrc')} -d {shlex.quote(dictionary)}")


def livedoor_documents() -> list[Document]:
    records = read_livedoor(SourceConfig(path=require(LIVEDOOR_SAMPLE)), raw_dir=Path("unused"))
    return [record for record in records if not isinstance(record, ReaderReject)]


def cleaned(documents: list[Document]) -> list[Document]:
    stream: Iterator[Document] = iter(documents)
    for document_filter in build_filters(["nfkc", "remove_invisible", "normalize_whitespace", "reject_empty"]):
        stream = document_filter.run(stream, lambda *_: None)
    return list(stream)


def jawiki_texts() -> list[str]:
    texts = []
    with bz2.open(require(JAWIKI_SAMPLE)) as dump:
        for _, element in ElementTree.iterparse(dump):
            if element.tag.endswith("}text"):
                texts.append(element.text or "")
            if element.tag.endswith("}page"):
                element.clear()
    return texts


def mecab_surfaces(tagger: fugashi.GenericTagger, text: str) -> list[str]:
    """Return MeCab's surfaces, each one that starts with a combining mark joined to the one right before it."""
    surfaces: list[str] = []
    for node in tagger(text):
        joins = unicodedata.combining(unicodedata.normalize("NFKD", node.surface[0])[0])
        if surfaces and joins and not node.white_space:
            surfaces[-1] += node.surface
        else:
            surfaces.append(node.surface)
    return surfaces


def assert_pieces_are_mecab_morphemes(segmenter: MorphemeSegmenter, tagger: fugashi.GenericTagger, text: str) -> None:
    pieces = segmenter.split(text)
    surfaces = mecab_surfaces(tagger, text)
    stripped = [piece.lstrip(ASCII_WHITESPACE) for piece in pieces if piece.strip(ASCII_WHITESPACE)]

    assert "".join(pieces) == text
    assert stripped == surfaces


def test_livedoor_raw_documents_exact(segmenter: MorphemeSegmenter, tagger: fugashi.GenericTagger) -> None:
    documents = livedoor_documents()

    assert len(documents) == 360
    for document in documents:
        assert_pieces_are_mecab_morphemes(segmenter, tagger, document.text)


def test_livedoor_cleaned_documents_exact(segmenter: MorphemeSegmenter, tagger: fugashi.GenericTagger) -> None:
    for document in cleaned(livedoor_documents()):
        assert_pieces_are_mecab_morphemes(segmenter, tagger, document.text)


def test_jawiki_pages_exact(segmenter: MorphemeSegmenter, tagger: fugashi.GenericTagger) -> None:
    texts = jawiki_texts()

    assert len(texts) == 120
    assert max(len(text) for text in texts) > segmenter.max_chunk_characters
    for text in texts:
        assert_pieces_are_mecab_morphemes(segmenter, tagger, text)


@pytest.mark.parametrize(
    "text",
    [
        "今日は　いい天気\u3000です。",
        "  leading spaces and trailing spaces  ",
        "line one\nline two\r\nline three\n\n",
        "絵文字 👍🏽 と 🇯🇵 と 𠮷野家",
        "\ue000私用領域\U000f0000と未知の文字 ꙮ ᚠ",
        "tab\tvertical\x0bform\x0cfeed",
        "NUL\x00inside",
        "",
        "\n",
    ],
)
def test_text_kept_exactly(segmenter: MorphemeSegmenter, text: str) -> None:
    ends = segmenter.morpheme_ends(text)

    assert "".join(split_at(text, ends)) == text
    assert list(ends) == sorted(set(ends))
    assert (ends[-1] if ends else 0) == len(text)


@pytest.mark.parametrize("text", ["e\u0301t", "ｶﾞｷﾞｸﾞ", "q\u0301\u0323", "\u1100\u1161\u11a8 한국어", "か\u3099き\u309a"])
def test_pieces_normalize_like_text(segmenter: MorphemeSegmenter, text: str) -> None:
    pieces = segmenter.split(text)

    assert "".join(unicodedata.normalize("NFKC", piece) for piece in pieces) == unicodedata.normalize("NFKC", text)


def test_combining_mark_not_split(segmenter: MorphemeSegmenter, tagger: fugashi.GenericTagger) -> None:
    text = "e\u0301t"

    assert [node.surface for node in tagger(text)] == ["e", "\u0301", "t"]
    assert segmenter.split(text) == ["e\u0301", "t"]


def test_whitespace_set_matches_mecab(tagger: fugashi.GenericTagger) -> None:
    for char in MECAB_WHITESPACE:
        assert [node.surface for node in tagger(f"a{char}b")] == ["a", "b"], repr(char)
    for char in ("\r", "\u3000", "\xa0", "\x0c"):
        assert char in [node.surface for node in tagger(f"a{char}b")], repr(char)


def test_long_line_same_as_whole(segmenter: MorphemeSegmenter) -> None:
    line = "".join(document.text.replace("\n", "") for document in livedoor_documents())
    windows = list(window_spans(line, segmenter.max_chunk_characters))
    whole = MorphemeSegmenter(max_chunk_characters=len(line))

    assert len(line.encode()) > 1_000_000
    assert max(end - start for start, end in windows) <= segmenter.max_chunk_characters
    assert segmenter.morpheme_ends(line) == whole.morpheme_ends(line)
    assert segmenter.unsynchronized_windows == 0


def test_window_start_changes_mecab(tagger: fugashi.GenericTagger) -> None:
    # The reason windows overlap: MeCab segments a text differently from its start.
    text = "定にするとしている。\n\n<!--その具体的な実現例"

    assert "<!--" in [node.surface for node in tagger(text)]
    assert "<!--" not in [node.surface for node in tagger(text[text.index("\n") :])]


def test_windows_without_safe_place() -> None:
    text = "あ" * 2500 + "か\u3099" * 1000
    segmenter = MorphemeSegmenter(max_chunk_characters=1000)
    windows = list(window_spans(text, 1000))
    pieces = segmenter.split(text)

    assert max(end - start for start, end in windows) <= 1000
    assert all(text[end] != "\u3099" for _, end in windows[:-1])
    assert "".join(pieces) == text
    assert "".join(unicodedata.normalize("NFKC", piece) for piece in pieces) == unicodedata.normalize("NFKC", text)


def test_window_ends_before_line_break() -> None:
    text = "一行目です。\n" * 30
    windows = list(window_spans(text, 100))

    assert len(windows) > 2
    assert all(text[end] == "\n" for _, end in windows[:-1])


def test_window_ends_after_sentence_end() -> None:
    text = "文です。" * 100
    windows = list(window_spans(text, 100))

    assert all(text[end - 1] == "。" for _, end in windows[:-1])


def test_window_ends_before_whitespace() -> None:
    text = ("word " * 40 + "  ") * 5
    windows = list(window_spans(text, 100))

    assert all(text[end - 1] != " " and text[end] == " " for _, end in windows[:-1])


def test_windows_overlap_by_an_eighth() -> None:
    text = "文です。" * 1000
    windows = list(window_spans(text, 400))

    assert all(start == previous_end - 50 for (_, previous_end), (start, _) in itertools.pairwise(windows))
    assert windows[-1][1] == len(text)


def test_windows_without_shared_morpheme() -> None:
    # One run of Latin letters is a single MeCab morpheme per window, so overlaps share none.
    text = "x" * 450
    segmenter = MorphemeSegmenter(max_chunk_characters=100)

    ends = segmenter.morpheme_ends(text)

    assert segmenter.unsynchronized_windows > 0
    assert list(ends) == sorted(set(ends))
    assert ends[-1] == len(text)
    assert "".join(split_at(text, ends)) == text
