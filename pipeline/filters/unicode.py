"""Unicode normalization and removal of invisible characters."""

from __future__ import annotations

import re
import unicodedata

from pipeline.document import Document
from pipeline.filters.base import Filter, Reject

# Control characters other than tab and newline, zero-width and bidirectional formatting
# characters, the byte order mark, soft hyphen and variation selectors that NFKC keeps.
_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff\ufe00-\ufe0f]")


class NFKCFilter(Filter):
    """Apply Unicode NFKC to the title and every line.

    NFKC folds full-width Latin letters and digits to ASCII and half-width katakana to
    full-width, and never strips the voicing marks of が or デ. The title and the lines are
    normalized separately, so a line never gains or loses a line break.
    """

    name = "nfkc"

    def apply(self, document: Document) -> Document:
        text_before = document.text
        if text_before.isascii() and document.title.isascii():
            return document
        normalized = document.map_lines(lambda line, _level: _nfkc_line(line))
        return normalized.replace(title=_nfkc_line(document.title))


def _nfkc_line(line: str) -> str:
    # NFKC turns U+2028 and similar separators into themselves, never into "\n", but a
    # compatibility character can decompose into a space run, so the result stays one line.
    return unicodedata.normalize("NFKC", line).replace("\n", " ")


class RemoveInvisibleFilter(Filter):
    """Remove control, zero-width and bidirectional formatting characters."""

    name = "remove_invisible"

    def apply(self, document: Document) -> Document:
        if not _INVISIBLE.search(document.text) and not _INVISIBLE.search(document.title):
            return document
        cleaned = document.map_lines(lambda line, _level: _INVISIBLE.sub("", line))
        return cleaned.replace(title=_INVISIBLE.sub("", document.title))


class NormalizeWhitespaceFilter(Filter):
    """Turn tabs and other spaces into one ASCII space and trim trailing spaces.

    Leading ideographic spaces (U+3000), the usual paragraph indent of Japanese text, are
    kept because they are part of the text a reader sees. Blank-line runs become one
    blank line. Line endings are already ``"\\n"`` because readers split lines on any of
    ``"\\r\\n"``, ``"\\r"`` and ``"\\n"``.
    """

    name = "normalize_whitespace"

    _SPACES = re.compile(r"[^\S\n\u3000]+")

    def apply(self, document: Document) -> Document:
        return document.map_lines(lambda line, _level: self._SPACES.sub(" ", line).strip(" "))


class RejectEmptyFilter(Filter):
    """Reject a document whose text has no characters other than whitespace and headings."""

    name = "reject_empty"

    def apply(self, document: Document) -> Document | Reject:
        body = [line for line, level in document.lines_with_levels() if not level and line.strip()]
        if not body:
            return Reject("document has no body text after cleaning")
        return document
