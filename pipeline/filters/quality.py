"""Quality rules: document length, share of letters, repeated lines and repeated character runs.

Every threshold is a keyword argument, set in the config as ``{name: {option: value}}``. The
defaults keep every article of the real Livedoor and WikiText samples and reject pages that
are mostly symbols, tables or spam. The extreme sample values noted beside each default were
measured after the default Unicode and boilerplate filters.
"""

from __future__ import annotations

import numpy as np

from pipeline.document import Document
from pipeline.filters.base import Filter, Reject, check_count, check_fraction

# Code point ranges, inclusive and sorted, of the letters of Japanese and Latin script. These
# are ASCII and accented Latin letters (without the multiplication and division signs),
# the iteration marks 々 and 〆, hiragana, katakana with the prolonged sound mark (but not the
# middle dot ・), and the CJK ideographs of the BMP and the supplementary planes.
_LETTER_RANGES = np.array(
    [
        (0x41, 0x5A),
        (0x61, 0x7A),
        (0xC0, 0xD6),
        (0xD8, 0xF6),
        (0xF8, 0x24F),
        (0x1E00, 0x1EFF),
        (0x3005, 0x3006),
        (0x3041, 0x3096),
        (0x309D, 0x309E),
        (0x30A1, 0x30FA),
        (0x30FC, 0x30FE),
        (0x31F0, 0x31FF),
        (0x3400, 0x4DBF),
        (0x4E00, 0x9FFF),
        (0xF900, 0xFAFF),
        (0x20000, 0x3134F),
    ],
    dtype=np.uint32,
)
# Whether each code point up to U+3000 is whitespace (str.isspace()); none above U+3000 is.
_IS_SPACE = np.array([chr(code).isspace() for code in range(0x3001)], dtype=bool)


def codepoints(text: str) -> np.ndarray:
    """Return the code points of ``text`` as a ``uint32`` array (lone surrogates included)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def _space_mask(points: np.ndarray) -> np.ndarray:
    return (points <= 0x3000) & _IS_SPACE[np.minimum(points, 0x3000)]


def _letter_mask(points: np.ndarray) -> np.ndarray:
    index = np.searchsorted(_LETTER_RANGES[:, 0], points, side="right") - 1
    return (index >= 0) & (points <= _LETTER_RANGES[np.maximum(index, 0), 1])


class LengthFilter(Filter):
    """Reject a document whose text (headings included) is too short or too long.

    Args:
        min_characters: Minimum length, in characters. Default: 50 (the shortest sample
            article has 100).
        max_characters: Maximum length, in characters. Default: 1000000, a guard against
            pages that are whole data dumps (the longest sample article has 56251).
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
    points = codepoints(text)
    visible = len(points) - int(_space_mask(points).sum())
    if not visible:
        return 0.0
    return int(_letter_mask(points).sum()) / visible


class LetterRatioFilter(Filter):
    """Reject a document that is mostly digits, symbols and punctuation rather than words.

    Args:
        min_ratio: Minimum share of Japanese or Latin letters (kana, kanji, ``A-Z``,
            accented Latin) among the non-whitespace characters. Default: 0.5 (the lowest
            sample article, a price table, has 0.66).
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
            tablets, has 0.42, so the 0.3 of the Gopher rules, Table A1 of arXiv:2112.11446,
            would reject it).
        max_character_fraction: Maximum fraction of the characters of non-blank lines that
            are in repeated lines. Default: 0.4 (the same article has 0.31; Gopher uses 0.2).
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

    A run is a stretch without whitespace that repeats a unit of 1 to 4 characters at least
    ``min_repeats`` times, counting a last partial repetition, so every character in it
    equals the one a unit length before. Digits count too, so ``1000000`` contains a run of
    six ``0``.

    Args:
        min_repeats: Repetitions of a unit that make a run. Default: 5.
        max_fraction: Maximum fraction of the non-whitespace characters that are in runs.
            Default: 0.2 (the highest sample article has 0.034).
    """

    name = "repeated_characters"

    def __init__(self, *, min_repeats: int = 5, max_fraction: float = 0.2) -> None:
        super().__init__()
        self.min_repeats = check_count("min_repeats", min_repeats, minimum=2)
        self.max_fraction = check_fraction("max_fraction", max_fraction)

    def repeated_fraction(self, text: str) -> float:
        """Return the fraction of the non-whitespace characters of ``text`` that are in runs."""
        points = codepoints(text)
        spaces = _space_mask(points)
        visible = len(points) - int(spaces.sum())
        if not visible:
            return 0.0

        # Runs add +1 where they start and -1 after they end; a positive sum marks run characters.
        run_edges = np.zeros(len(points) + 1, dtype=np.int32)
        for unit in range(1, 5):
            if len(points) <= unit:
                break
            # same[i]: character i + unit repeats character i, and neither is whitespace.
            same = (points[:-unit] == points[unit:]) & ~spaces[:-unit] & ~spaces[unit:]
            edges = np.diff(np.concatenate(([0], same.view(np.int8), [0])))
            starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
            long_enough = ends - starts >= (self.min_repeats - 1) * unit
            np.add.at(run_edges, starts[long_enough], 1)
            np.add.at(run_edges, ends[long_enough] + unit, -1)
        return int((np.cumsum(run_edges[:-1]) > 0).sum()) / visible

    def apply(self, document: Document) -> Document | Reject:
        fraction = self.repeated_fraction(document.text)
        if fraction > self.max_fraction:
            return Reject(
                f"{fraction:.3f} of the characters are in runs of a repeated unit, "
                f"above max_fraction={self.max_fraction}"
            )
        return document
