"""Unicode repair and normalization: mojibake, NFKC, invisible and private-use characters."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from pipeline.document import Document
from pipeline.filters.base import Filter, Reject

# Control characters other than tab and newline, zero-width and bidirectional formatting
# characters, the byte order mark, soft hyphen, variation selectors that NFKC keeps, and
# lone surrogates, which no UTF-8 writer (Parquet included) can encode.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff\ufe00-\ufe0f\ud800-\udfff]"
)

_SURROGATE = re.compile("[\ud800-\udfff]")

# The three private-use areas: U+E000..U+F8FF and the supplementary planes 15 and 16.
_PRIVATE_USE = re.compile("[\ue000-\uf8ff\U000f0000-\U000ffffd\U00100000-\U0010fffd]")


class FixMojibakeFilter(Filter):
    """Repair text that was decoded with the wrong codec, such as ``æ—¥æœ¬èªž`` for ``日本語``.

    ``ftfy`` detects the UTF-8-read-as-Latin-1/Windows-1252 family of mistakes and undoes them.
    Every other ftfy fix is turned off (HTML unescaping, quote uncurling, width folding,
    ligatures, line breaks, control characters, normalization), so correct Japanese text is
    never changed here and NFKC stays the job of the ``nfkc`` filter. Lines are fixed one by
    one, so headings keep their place.

    NOTE: ftfy cannot repair Shift_JIS or EUC-JP text read with the wrong codec, so such text
    passes through. Mojibake that lost bytes is only partly repaired.
    """

    name = "fix_mojibake"

    def __init__(self) -> None:
        super().__init__()
        import ftfy
        from ftfy import chardata
        from ftfy.badness import is_bad

        self._ftfy = ftfy
        self._chardata = chardata
        self._is_bad = is_bad
        # A character that no single-byte codec of ftfy can encode, such as any kana or kanji.
        encodable = {character for codec in chardata.CHARMAP_ENCODINGS for character in bytes(range(256)).decode(codec)}
        self._outside_charmaps = re.compile("[^" + "".join(re.escape(c) for c in sorted(encodable)) + "]")
        self._config = ftfy.TextFixerConfig(
            unescape_html=False,
            remove_terminal_escapes=False,
            fix_encoding=True,
            restore_byte_a0=True,
            replace_lossy_sequences=False,
            decode_inconsistent_utf8=True,
            fix_c1_controls=False,
            fix_latin_ligatures=False,
            fix_character_width=False,
            uncurl_quotes=False,
            fix_line_breaks=False,
            fix_surrogates=True,
            remove_control_chars=False,
            normalization=None,
            explain=False,
        )

    def apply(self, document: Document) -> Document:
        if not any(self._may_change(line) for line in (document.title, *document.text.split("\n"))):
            return document
        fixed = document.map_lines(lambda line, _level: self._fix(line))
        title = self._fix(document.title)
        return fixed if title == document.title else fixed.replace(title=title)

    def _may_change(self, line: str) -> bool:
        """Return False for a line that ftfy's repair leaves unchanged under this config.

        In ftfy 6 every encoding repair first requires ``is_bad(line)``. It then either
        re-encodes the whole line in one single-byte codec, possible only when every
        character is in one, or decodes the sequences that ``UTF8_DETECTOR_RE`` matches.
        Those two cheap conditions are checked before ``is_bad``, which is slow on Japanese
        text. A line with surrogates always goes to ftfy, for ``fix_surrogates``.
        """
        if line.isascii():
            return False
        if _SURROGATE.search(line):
            return True
        if self._outside_charmaps.search(line) and not self._chardata.UTF8_DETECTOR_RE.search(line):
            return False
        return bool(self._is_bad(line))

    def _fix(self, line: str) -> str:
        if not self._may_change(line):
            return line
        fixed: Any = self._ftfy.fix_text(line, self._config)
        # A repaired line never gains a newline here because fix_line_breaks is off, but
        # decoding can produce U+2028 or "\r" from mojibake bytes.
        return str(fixed).replace("\r", " ").replace("\n", " ")


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
    """Remove control, zero-width and bidirectional formatting characters and lone surrogates."""

    name = "remove_invisible"

    def apply(self, document: Document) -> Document:
        return _remove_matches(document, _INVISIBLE)


class RemovePrivateUseFilter(Filter):
    """Remove private-use characters (U+E000..U+F8FF and planes 15 and 16).

    Their meaning depends on a vendor font, such as the emoji of Japanese mobile carriers
    before Unicode 6, so no tokenizer can learn anything portable from them.
    """

    name = "remove_private_use"

    def apply(self, document: Document) -> Document:
        return _remove_matches(document, _PRIVATE_USE)


def _remove_matches(document: Document, pattern: re.Pattern[str]) -> Document:
    """Delete every match of ``pattern`` from the title and the lines; unchanged documents are returned as is."""
    if not pattern.search(document.text) and not pattern.search(document.title):
        return document
    cleaned = document.map_lines(lambda line, _level: pattern.sub("", line))
    return cleaned.replace(title=pattern.sub("", document.title))


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
