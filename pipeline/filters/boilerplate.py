"""Source boilerplate: link lists and URL lines, Livedoor trailers and WikiText tokenization leftovers."""

from __future__ import annotations

import re
from typing import ClassVar

from pipeline.document import Document
from pipeline.filters.base import Filter, Reject

# A line made only of URLs, optionally behind a list marker, such as "・http://example.com/".
_URL_LINE = re.compile(r"^[・･■●◆\-*>\s]*(?:<?(?:(?:https?|ftp)://|www\.)\S+>?[\s,、]*)+$")

_BULLETS = ("・", "･", "‐", "-", "*", "●", "◆")
_MARKERS = ("■", "●", "◆", "◇", "□", "▼", "▽", "★", "☆", "◎", "【", "[")

# Headers of Livedoor link lists, such as "■関連リンク", "【関連リンク】", "●関連記事",
# "■ドコモに関連した記事をもっと見る" and "【 MOVIE ENTER おすすめニュース 】".
_LINK_HEADER_WORDS = re.compile(r"関連|おすすめ|もっと(?:見る|みる|読む)|記事|ニュース|リンク")
_LINK_HEADER_MAX_CHARACTERS = 50

# Lines that were the text of one link: "■エフセキュアブログを読む", "…続きを読む", "問い合わせはコチラ".
_LINK_TEXT = re.compile(
    r"^(?:[■●◆].{0,40}(?:を読む|を見る|をみる|はこちら|はコチラ)|.{0,40}(?:続きを読む|はこちら|はコチラ))$"
)

# The Amazon product box of Livedoor articles ends with these two lines.
_AMAZON_SELLER = re.compile(r"^販売元[:：]\s*Amazon\.co\.jp$")
_AMAZON_REVIEWS = "クチコミを見る"


class RemoveUrlLinesFilter(Filter):
    """Remove body lines that contain nothing but URLs (and list markers or separators)."""

    name = "remove_url_lines"

    def apply(self, document: Document) -> Document:
        if "://" not in document.text and "www." not in document.text:
            return document
        return document.map_lines(lambda line, level: None if not level and _URL_LINE.match(line.strip()) else line)


class LivedoorBoilerplateFilter(Filter):
    """Remove the link lists, link lines and product boxes that Livedoor pages add to articles.

    Removed, in Livedoor documents only:

    - a link-list block: a short header line that starts with a marker such as ``■`` or
      ``【`` and names related links, articles or news (``■関連リンク``, ``【関連記事】``,
      ``■グリーに関連した記事をもっと見る``), with the list items (``・...``) and URL lines
      after it. A header without items is removed only when it contains ``関連`` (related);
    - a line that was one link's text (``■エフセキュアブログを読む``, ``…続きを読む``);
    - a line that is only a marker (``■``);
    - an Amazon product box: the paragraph that contains ``販売元：Amazon.co.jp``, and the
      ``クチコミを見る`` line.

    Headings never match. A list of items without such a header is kept, because articles
    use ``・`` lists for their own content too.
    """

    name = "livedoor_boilerplate"
    sources: ClassVar[frozenset[str] | None] = frozenset({"livedoor"})

    def apply(self, document: Document) -> Document:
        pairs = document.lines_with_levels()
        drop = _link_blocks(pairs)
        for index in _amazon_boxes(pairs):
            drop[index] = True
        if not any(drop):
            return document

        lines = iter(drop)
        return document.map_lines(lambda line, _level: None if next(lines) else line)


def _is_link_header(line: str) -> bool:
    return (
        line.startswith(_MARKERS)
        and len(line) <= _LINK_HEADER_MAX_CHARACTERS
        and _LINK_HEADER_WORDS.search(line) is not None
    )


def _link_blocks(pairs: list[tuple[str, int]]) -> list[bool]:
    """Mark link-list blocks, link-text lines and bare markers for removal."""
    drop = [False] * len(pairs)
    index = 0
    while index < len(pairs):
        line, level = pairs[index]
        stripped = line.strip()
        if level:
            index += 1
            continue

        if _is_link_header(stripped):
            last_item = index
            items = 0
            following = index + 1
            while following < len(pairs) and not pairs[following][1]:
                item = pairs[following][0].strip()
                if item and not (item.startswith(_BULLETS) or _URL_LINE.match(item)):
                    break
                if item:
                    items += 1
                    last_item = following
                following += 1
            if items or "関連" in stripped:
                for position in range(index, last_item + 1):
                    drop[position] = True
            index = last_item + 1
            continue

        if stripped in _MARKERS or _LINK_TEXT.match(stripped):
            drop[index] = True
        index += 1
    return drop


def _amazon_boxes(pairs: list[tuple[str, int]]) -> list[int]:
    """Return the line indices of Amazon product boxes: whole paragraphs and ``クチコミを見る`` lines."""
    indices: list[int] = []
    paragraph: list[int] = []
    for index, (line, level) in enumerate([*pairs, ("", 0)]):
        if line.strip() and not level:
            paragraph.append(index)
            continue
        if any(_AMAZON_SELLER.match(pairs[position][0].strip()) for position in paragraph):
            indices.extend(paragraph)
        paragraph = []
    indices.extend(index for index, (line, level) in enumerate(pairs) if not level and line.strip() == _AMAZON_REVIEWS)
    return indices


# WikiText was tokenized with a space on both sides of punctuation, quotes and brackets.
_SPACE_BEFORE = re.compile(r" ([.,;:!?%)\]}])")
_SPACE_AFTER = re.compile(r"([(\[{$]) ")
_CLITIC = re.compile(r" ('s|'S|n't|'re|'ve|'ll|'d|'m)\b")
_QUOTED = re.compile(r'" ([^"]*?) "')
_UNKNOWN = "<unk>"
_UNKNOWN_WITH_SPACE = re.compile(r" ?<unk>")


class WikiTextLeftoversFilter(Filter):
    """Undo the tokenization of WikiText and deal with its ``<unk>`` tokens, in WikiText documents only.

    ``film , television . He`` becomes ``film, television. He``, ``Teddy 's`` becomes
    ``Teddy's``, ``( born 1984 )`` becomes ``(born 1984)`` and ``" Craig "`` becomes
    ``"Craig"``. The ``@-@`` markers are undone by the reader already.

    The raw WikiText variants (``wikitext-*-raw-v1``) have no ``<unk>``; the others replace
    every rare word with it, which a tokenizer would learn as a frequent word.

    Args:
        unknown: What to do with ``<unk>``: ``remove`` the token (default), ``reject`` the
            document, or ``keep`` it.

    NOTE: quotes are paired within one line, so a quotation that spans paragraphs keeps
    its inner spaces.
    """

    name = "wikitext_leftovers"
    sources: ClassVar[frozenset[str] | None] = frozenset({"wikitext"})
    UNKNOWN_POLICIES = ("remove", "reject", "keep")

    def __init__(self, *, unknown: str = "remove") -> None:
        super().__init__()
        if unknown not in self.UNKNOWN_POLICIES:
            raise ValueError(f"unknown must be one of {', '.join(self.UNKNOWN_POLICIES)}, got {unknown!r}")
        self.unknown = unknown

    def apply(self, document: Document) -> Document | Reject:
        if self.unknown == "reject" and _UNKNOWN in document.text:
            count = document.text.count(_UNKNOWN)
            return Reject(f"text contains {count} <unk> tokens (wikitext_leftovers unknown=reject)")
        detokenized = document.map_lines(lambda line, _level: self._detokenize(line))
        title = self._detokenize(document.title)
        return detokenized if title == document.title else detokenized.replace(title=title)

    def _detokenize(self, line: str) -> str:
        if self.unknown == "remove" and _UNKNOWN in line:
            line = _UNKNOWN_WITH_SPACE.sub("", line).strip()
        line = _QUOTED.sub(r'"\1"', line)
        line = _CLITIC.sub(r"\1", line)
        line = _SPACE_BEFORE.sub(r"\1", line)
        return _SPACE_AFTER.sub(r"\1", line)
