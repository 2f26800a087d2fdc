from __future__ import annotations

import pytest

from pipeline.document import Document
from pipeline.filters import Reject
from pipeline.filters.quality import (
    LengthFilter,
    LetterRatioFilter,
    RepeatedCharactersFilter,
    RepeatedLinesFilter,
    duplicate_line_fractions,
    letter_ratio,
)


def document(*body: str) -> Document:
    return Document.from_blocks(id="t/1", source="t", title="T", blocks=[("T", 1), *((line, 0) for line in body)])


def test_length_min_rejects() -> None:
    result = LengthFilter(min_characters=10).apply(document("short"))

    assert isinstance(result, Reject)
    assert result.reason == "text has 7 characters, fewer than min_characters=10"


def test_length_max_rejects() -> None:
    result = LengthFilter(min_characters=0, max_characters=5).apply(document("too long"))

    assert isinstance(result, Reject)
    assert "more than max_characters=5" in result.reason


def test_length_bounds_inclusive() -> None:
    original = document("12345678")  # "T\n12345678" has 10 characters

    assert LengthFilter(min_characters=10, max_characters=10).apply(original) is original


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("日本語とカタカナ", 1.0),
        ("abc 123", 0.5),  # 3 letters of 6 non-whitespace characters
        ("ー々〆", 1.0),  # prolonged sound mark and iteration marks are letters
        ("「」、。", 0.0),
        ("été×", 0.75),  # the multiplication sign is a symbol
        ("   ", 0.0),
    ],
)
def test_letter_ratio_values(text: str, expected: float) -> None:
    assert letter_ratio(text) == pytest.approx(expected)


def test_letter_ratio_rejects_symbols() -> None:
    result = LetterRatioFilter(min_ratio=0.5).apply(document("★★★ 123-456-789 ★★★"))

    assert isinstance(result, Reject)
    assert "below min_ratio=0.5" in result.reason


def test_letter_ratio_keeps_prose() -> None:
    original = document("今日は晴れ。明日は雨が降るでしょう。")

    assert LetterRatioFilter().apply(original) is original


def test_duplicate_line_fractions_values() -> None:
    line_fraction, character_fraction = duplicate_line_fractions("aa\nbbbb\naa\n\naa")

    assert line_fraction == pytest.approx(2 / 4)
    assert character_fraction == pytest.approx(4 / 10)


def test_repeated_lines_rejects() -> None:
    result = RepeatedLinesFilter().apply(document("買う", "買う", "買う", "買う"))

    assert isinstance(result, Reject)
    assert "0.600 of the lines repeat an earlier line" in result.reason


def test_repeated_lines_character_share() -> None:
    long_line = "同じ長い行がここにある" * 5
    original = document(long_line, "短1", "短2", "短3", long_line)

    result = RepeatedLinesFilter(max_line_fraction=1.0, max_character_fraction=0.3).apply(original)

    assert isinstance(result, Reject)
    assert "of the characters are in repeated lines" in result.reason


def test_repeated_lines_keeps_unique() -> None:
    original = document("一行目", "二行目", "三行目")

    assert RepeatedLinesFilter().apply(original) is original


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("wwwwwwwwww", 1.0),
        ("ワロタワロタワロタワロタワロタ", 1.0),
        ("wwww abcdefgh", 0.0),  # four repeats are below the default of five
        ("1000000円です", 6 / 10),  # six zeros of ten characters
    ],
)
def test_repeated_fraction_values(text: str, expected: float) -> None:
    assert RepeatedCharactersFilter().repeated_fraction(text) == pytest.approx(expected)


def test_repeated_characters_rejects() -> None:
    result = RepeatedCharactersFilter().apply(document("すごいwwwwwwwwwwwwwwwwwwww"))

    assert isinstance(result, Reject)
    assert "above max_fraction=0.2" in result.reason


def test_repeated_characters_keeps_prose() -> None:
    original = document("ええ、そうですね。……まあ、いいでしょう。")

    assert RepeatedCharactersFilter().apply(original) is original
