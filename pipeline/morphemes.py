"""Morpheme ends from MeCab as character offsets that cut a text without changing it.

MeCab (through ``fugashi`` with the ``unidic-lite`` dictionary) splits Japanese text into
morphemes and skips the spaces, tabs and line breaks between them. Here every character is
kept: the ends are character offsets ``e1 < e2 < ... < len(text)`` such that the pieces
``text[0:e1], text[e1:e2], ...`` join back to the text exactly. Each piece is one morpheme
with the whitespace that precedes it, so ``" world"`` and ``"\\n見出し"`` are pieces.
Whitespace after the last morpheme forms a piece of its own.

Two rules make a boundary differ from MeCab's output on the whole text:

- a boundary before a character that NFKC would join to the previous one (a combining mark,
  the half-width voiced sound mark ``ﾞ``, a Hangul vowel jamo after a consonant jamo) is
  dropped, so that normalizing the pieces one by one gives the same string as normalizing
  the whole text;
- a text longer than ``max_chunk_characters`` goes to MeCab in overlapping windows, because
  one call on a whole 1.2 MB line raised the resident memory by about 520 MiB (measured with
  ``unidic-lite``). MeCab picks the best path through its whole input, so a window start or
  end can change the morphemes near it. Consecutive windows overlap by an eighth of the
  window length, and the text switches from one window's morphemes to the next at the first
  morpheme (same span and same dictionary entry) that both found in the overlap. In MeCab's
  bigram model the best path after a morpheme depends only on that morpheme and the text
  after it, so switching there gives the morphemes of the longer input. Only when the
  windows share no morpheme does a window end become a boundary; it is placed before a line
  break, after a sentence end or before a space where possible.
"""

from __future__ import annotations

import functools
import os
import shlex
import unicodedata
from collections.abc import Iterable, Iterator

DEFAULT_MAX_CHUNK_CHARACTERS = 20_000

WINDOW_OVERLAP = 8
"""Consecutive MeCab windows overlap by one in this many characters of the window length."""

MECAB_WHITESPACE = frozenset(" \t\n\x0b")
"""Characters MeCab with ``unidic-lite`` skips between morphemes; every other character,
the ideographic space U+3000 and ``\\r`` included, belongs to a morpheme's surface."""

SENTENCE_ENDS = "。！？!?．"

_Node = tuple[int, int, str]
"""A morpheme as ``(surface start, surface end, dictionary features)``; features are ``""``
where they were not read."""


class MorphemeSegmenter:
    """A reusable MeCab tagger that returns morpheme ends as character offsets.

    Args:
        max_chunk_characters: Maximum text length handed to MeCab in one call, in characters.
            Default: 20000.
    """

    def __init__(self, *, max_chunk_characters: int = DEFAULT_MAX_CHUNK_CHARACTERS) -> None:
        # Imported here because MeCab is only needed when segmentation is on.
        import fugashi
        import unidic_lite

        dictionary = unidic_lite.DICDIR
        rc_file = os.path.join(dictionary, "mecabrc")
        self._tagger = fugashi.GenericTagger(f"-r {shlex.quote(rc_file)} -d {shlex.quote(dictionary)}")
        self.max_chunk_characters = max_chunk_characters
        self.unaligned_surfaces = 0
        """Surfaces not found where MeCab placed them; their morpheme joins the next piece."""
        self.unsynchronized_windows = 0
        """Window overlaps without a shared morpheme, where a window end became a boundary."""

    def morpheme_ends(self, text: str) -> tuple[int, ...]:
        """Return the end offsets of the pieces of ``text``, in characters; empty for ``""``."""
        if not text:
            return ()
        ends = self._whole_ends(text) if len(text) <= self.max_chunk_characters else self._window_ends(text)
        if not ends or ends[-1] != len(text):
            ends.append(len(text))
        return tuple(_drop_joining_ends(text, ends))

    def split(self, text: str) -> list[str]:
        """Return the pieces of ``text``: morphemes with the whitespace before them."""
        return split_at(text, self.morpheme_ends(text))

    def _whole_ends(self, text: str) -> list[int]:
        return [end for _, end, _ in self._nodes(text, 0, len(text), identify_until=0, identify_after=len(text))]

    def _window_ends(self, text: str) -> list[int]:
        overlap = self.max_chunk_characters // WINDOW_OVERLAP
        committed: list[int] = []
        pending: list[_Node] = []
        previous_end = 0
        for start, end in window_spans(text, self.max_chunk_characters):
            last = end == len(text)
            next_start = end if last else end - overlap
            nodes = self._nodes(text, start, end, identify_until=previous_end, identify_after=next_start)

            first = 0
            if pending:
                kept, first = self._switch_windows(pending, nodes, previous_end)
                committed.extend(kept)

            rest = nodes[first:]
            committed.extend(node_end for _, node_end, _ in rest if node_end <= next_start)
            pending = [node for node in rest if node[1] > next_start]
            previous_end = end

        increasing: list[int] = []
        for end in committed:
            if not increasing or end > increasing[-1]:
                increasing.append(end)
        return increasing

    def _switch_windows(self, pending: list[_Node], nodes: list[_Node], previous_end: int) -> tuple[list[int], int]:
        """Return the ends of the previous window to keep and the first node of the next window to use.

        The switch happens at the first morpheme both windows found, skipping the next window's
        first morpheme, which MeCab chose without the text before it.
        """
        shared = set(pending)
        for index in range(1, len(nodes)):
            if nodes[index][1] > previous_end:
                break
            if nodes[index] in shared:
                switch_end = nodes[index][1]
                return [end for _, end, _ in pending if end <= switch_end], index + 1

        # NOTE: without a shared morpheme the window end becomes a boundary that MeCab on the
        # whole text might not have made; long runs of one character class can cause this.
        self.unsynchronized_windows += 1
        first = next((index for index, node in enumerate(nodes) if node[0] >= previous_end), len(nodes))
        return [*(end for _, end, _ in pending), previous_end], first

    def _nodes(self, text: str, start: int, end: int, *, identify_until: int, identify_after: int) -> list[_Node]:
        # MeCab reads a C string, so a NUL would end the input early; a space has the same
        # length and is skipped like other whitespace.
        window = text[start:end].replace("\x00", " ")
        nodes = []
        position = 0
        for node in self._tagger(window):
            surface = node.surface
            surface_start = position + len(node.white_space)
            if not window.startswith(surface, surface_start):
                surface_start = window.find(surface, position)
                if surface_start < 0 or not surface:
                    self.unaligned_surfaces += 1
                    continue
            if surface_start + len(surface) <= position:
                continue

            position = surface_start + len(surface)
            node_start, node_end = start + surface_start, start + position
            identify = node_end <= identify_until or node_end > identify_after
            nodes.append((node_start, node_end, node.feature_raw if identify else ""))
        return nodes


def split_at(text: str, ends: Iterable[int]) -> list[str]:
    """Cut ``text`` at the given end offsets; the pieces join back to ``text``."""
    pieces = []
    start = 0
    for end in ends:
        pieces.append(text[start:end])
        start = end
    if start < len(text):
        pieces.append(text[start:])
    return pieces


def window_spans(text: str, max_characters: int) -> Iterator[tuple[int, int]]:
    """Yield the ``(start, end)`` spans of the MeCab windows over ``text``, in order.

    Each span has at most ``max_characters`` characters and ends in its second half: before
    the last line break, else after the last sentence end, else before the last space, else
    at the limit itself. The next span starts an eighth of ``max_characters`` before it.
    """
    start = 0
    while len(text) - start > max_characters:
        end = _find_cut(text, start + max_characters // 2, start + max_characters)
        yield start, end
        start = end - max_characters // WINDOW_OVERLAP
    if start < len(text):
        yield start, len(text)


def _find_cut(text: str, low: int, limit: int) -> int:
    newline = text.rfind("\n", low + 1, limit)
    if newline > low:
        return _whitespace_run_start(text, newline, low)

    sentence_end = max(text.rfind(mark, low, limit - 1) for mark in SENTENCE_ENDS)
    if sentence_end >= low and starts_normalization_segment(text[sentence_end + 1]):
        return sentence_end + 1

    space = max(text.rfind(mark, low + 1, limit) for mark in (" ", "\t", "\x0b", "\u3000"))
    if space > low:
        return _whitespace_run_start(text, space, low)

    # No line break, sentence end or space in half a window: cut at the limit, but never
    # between a character and a mark that NFKC joins to it.
    cut = limit
    while cut > low + 1 and not starts_normalization_segment(text[cut]):
        cut -= 1
    return cut


def _whitespace_run_start(text: str, position: int, low: int) -> int:
    # Whitespace belongs to the morpheme after it, so a window must not end with whitespace.
    while position > low + 1 and text[position - 1] in MECAB_WHITESPACE:
        position -= 1
    return position


def _drop_joining_ends(text: str, ends: list[int]) -> Iterator[int]:
    length = len(text)
    for end in ends:
        if end == length or not _joins(text[end - 1], text[end]):
            yield end


def _joins(previous: str, char: str) -> bool:
    if ord(char) < 0x300 or starts_normalization_segment(char):
        return False
    # A combining mark always joins: it may reorder or compose with characters further back.
    # A starter that composes, such as a Hangul vowel jamo, joins only a matching previous one.
    if unicodedata.combining(unicodedata.normalize("NFKD", char)[0]):
        return True
    pair = unicodedata.normalize("NFKC", previous + char)
    return pair != unicodedata.normalize("NFKC", previous) + unicodedata.normalize("NFKC", char)


@functools.cache
def starts_normalization_segment(char: str) -> bool:
    """Return whether NFKC never joins ``char`` to any character before it.

    A boundary before such a character is safe: NFKC of the text equals the NFKC of the two
    sides joined. It may be unsafe before a combining mark, before a character whose
    compatibility decomposition starts with one (``ﾞ`` becomes U+3099), and before the second
    character of a canonical composition such as a Hangul vowel jamo.
    """
    first = unicodedata.normalize("NFKD", char)[:1]
    return not unicodedata.combining(first) and first not in _composes_with_previous()


@functools.cache
def _composes_with_previous() -> frozenset[str]:
    # Starters that canonical composition joins to a preceding starter, read from the
    # Unicode database Python ships with; Hangul vowel and final jamo compose algorithmically.
    seconds = {chr(code) for code in range(0x1161, 0x1176)} | {chr(code) for code in range(0x11A8, 0x11C3)}
    for code in range(0x110000):
        decomposition = unicodedata.decomposition(chr(code))
        if not decomposition or decomposition.startswith("<"):
            continue
        parts = decomposition.split()
        if len(parts) == 2:
            second = chr(int(parts[1], 16))
            if not unicodedata.combining(second):
                seconds.add(second)
    return frozenset(seconds)


@functools.cache
def shared_segmenter(max_chunk_characters: int = DEFAULT_MAX_CHUNK_CHARACTERS) -> MorphemeSegmenter:
    """Return this process's segmenter for the given window length, created on first use."""
    return MorphemeSegmenter(max_chunk_characters=max_chunk_characters)
