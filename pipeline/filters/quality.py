"""Quality rules: document length, share of letters, repeated lines and repeated character runs.

Every threshold is a keyword argument, set in the config as ``{name: {option: value}}``. The
defaults keep every article of the real Livedoor and WikiText samples, whose extreme values
are noted beside each default, and reject pages that are mostly symbols, tables or spam.
"""

from __future__ import annotations

import re

from pipeline.document import Document
from pipeline.filters.base import Filter, Reject, check_count, check_fraction

# Letters of Japanese and Latin script. These are ASCII and accented Latin letters (without
# the multiplication and division signs), hiragana, katakana with the prolonged sound mark
# (but not the middle dot ・), the iteration marks 々 and 〆, and the CJK ideographs of the
# BMP and the supplementary planes.
_LETTER = re.compile(
    "[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff"
    "\u3005\u3006\u3041-\u3096\u309d\u309e\u30a1-\u30fa\u30fc-\u30fe\u31f0-\u31ff"
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]"
)
_WHITESPACE = re.compile(r"\s+")


class LengthFilter(Filter):
    """Reject a document whose text (headings included) is too short or too long.

    Args:
        min_characters: Minimum length, in characters. Default: 50 (the shortest sample
            article has 101).
        max_characters: Maximum length, in characters. Default: 1000000, a guard against
            pages that are whole data dumps (the longest sample article has 57274).
    """

    name = "length"

    def __init__(self, *, min_characters: int = 50, max_characters: int = 1_000_000) -> None:
        super().__init__()
        self.min_characters = check_count("min_characters", min_characters)
        self.max_characters = check_count("max_characters", max_characters, minimum=1)
        if self.min_characters > self.max_characters:
            raise ValueError(f"min_characters {min_characters} is larger than max_characters {max_characters}")

    def apply(self, document: Document) -> Document | Reject:
        length = len(document.text)
        if length < self.min_characters:
            return Reject(f"text has {length} characters, fewer than min_characters={self.min_characters}")
        if length > self.max_characters:
            return Reject(f"text has {length} characters, more than max_characters={self.max_characters}")
        return document


def letter_ratio(text: str) -> float:
    """Return the share of Japanese and Latin letters among the non-whitespace characters (0 if none)."""
    visible = _WHITESPACE.sub("", text)
    if not visible:
        return 0.0
    return len(_LETTER.findall(visible)) / len(visible)


class LetterRatioFilter(Filter):
    """Reject a document that is mostly digits, symbols and punctuation rather than words.

    Args:
        min_ratio: Minimum share of Japanese or Latin letters (kana, kanji, ``A-Z``,
            accented Latin) among the non-whitespace characters. Default: 0.5 (the lowest
            sample article, a price table, has 0.69).
    """

    name = "letter_ratio"

    def __init__(self, *, min_ratio: float = 0.5) -> None:
        super().__init__()
        self.min_ratio = check_fraction("min_ratio", min_ratio)

    def apply(self, document: Document) -> Document | Reject:
        ratio = letter_ratio(document.text)
        if ratio < self.min_ratio:
            return Reject(f"letters are {ratio:.3f} of the characters, below min_ratio={self.min_ratio}")
        return document


def duplicate_line_fractions(text: str) -> tuple[float, float]:
    """Return the fractions of non-blank lines, and of characters, that repeat an earlier line."""
    seen: set[str] = set()
    lines = duplicate_lines = characters = duplicate_characters = 0
    for line in text.split("\n"):
        if not line.strip():
            continue
        lines += 1
        characters += len(line)
        if line in seen:
            duplicate_lines += 1
            duplicate_characters += len(line)
        seen.add(line)
    if not lines:
        return 0.0, 0.0
    return duplicate_lines / lines, duplicate_characters / characters


class RepeatedLinesFilter(Filter):
    """Reject a document in which many lines are copies of earlier lines (menus, spam, lists).

    Args:
        max_line_fraction: Maximum fraction of non-blank lines that repeat an earlier line.
            Default: 0.5 (the sample's most repetitive article, a spec sheet for three
            tablets, has 0.39; Gopher's rules use 0.3, which rejects it).
        max_character_fraction: Maximum fraction of the characters of non-blank lines that
            are in repeated lines. Default: 0.4 (the same article has 0.29).
    """

    name = "repeated_lines"

    def __init__(self, *, max_line_fraction: float = 0.5, max_character_fraction: float = 0.4) -> None:
        super().__init__()
        self.max_line_fraction = check_fraction("max_line_fraction", max_line_fraction)
        self.max_character_fraction = check_fraction("max_character_fraction", max_character_fraction)

    def apply(self, document: Document) -> Document | Reject:
        line_fraction, character_fraction = duplicate_line_fractions(document.text)
        if line_fraction > self.max_line_fraction:
            return Reject(
                f"{line_fraction:.3f} of the lines repeat an earlier line, "
                f"above max_line_fraction={self.max_line_fraction}"
            )
        if character_fraction > self.max_character_fraction:
            return Reject(
                f"{character_fraction:.3f} of the characters are in repeated lines, "
                f"above max_character_fraction={self.max_character_fraction}"
            )
        return document


class RepeatedCharactersFilter(Filter):
    """Reject a document with many runs of one short unit repeated, such as ``wwwwww`` or ``ワロタワロタ...``.

    A run is a unit of 1 to 4 non-whitespace characters repeated ``min_repeats`` times or
    more in a row. Digits count too, so ``1000000`` contains a run of six ``0``.

    Args:
        min_repeats: Repetitions of a unit that make a run. Default: 5.
        max_fraction: Maximum fraction of the non-whitespace characters that are in runs.
            Default: 0.2 (the highest sample article has 0.031).
    """

    name = "repeated_characters"

    def __init__(self, *, min_repeats: int = 5, max_fraction: float = 0.2) -> None:
        super().__init__()
        self.min_repeats = check_count("min_repeats", min_repeats, minimum=2)
        self.max_fraction = check_fraction("max_fraction", max_fraction)
        self._run = re.compile(rf"(\S{{1,4}}?)\1{{{self.min_repeats - 1},}}")

    def repeated_fraction(self, text: str) -> float:
        """Return the fraction of the non-whitespace characters of ``text`` that are in runs."""
        visible = len(text) - sum(len(space) for space in _WHITESPACE.findall(text))
        if not visible:
            return 0.0
        in_runs = sum(len(match.group(0)) for match in self._run.finditer(text))
        return in_runs / visible

    def apply(self, document: Document) -> Document | Reject:
        fraction = self.repeated_fraction(document.text)
        if fraction > self.max_fraction:
            return Reject(
                f"{fraction:.3f} of the characters are in runs of a repeated unit, "
                f"above max_fraction={self.max_fraction}"
            )
        return document
