"""The document record that flows unchanged from source readers to the shard writer.

A document's ``text`` is a sequence of lines joined by ``"\\n"``. Headings (the title first,
then section headings) are whole lines, and ``headings`` stores their character spans inside
``text``. Keeping headings as whole lines lets a filter rewrite text line by line and still
recompute every span exactly, which :meth:`Document.map_lines` does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

#: Heading level of the document title. Section headings have level 2 and deeper.
TITLE_LEVEL = 1


@dataclass(frozen=True, slots=True)
class Heading:
    """A heading line inside a document's text.

    Args:
        start: Offset of the first character of the heading, in characters.
        end: Offset one past the last character, in characters (excludes the newline).
        level: 1 for the title, 2 for a top-level section, 3 for a subsection, and so on.
    """

    start: int
    end: int
    level: int


@dataclass(frozen=True, slots=True)
class Document:
    """One article from any source.

    Args:
        id: Identifier unique across all sources, ``"<source>/<native id>"``.
        source: Name of the source reader that produced it (``livedoor``, ``wikitext``, ...).
        title: The article title. The first heading of ``text`` contains the same string
            unless cleaning removed it.
        text: Lines joined by ``"\\n"``, with no trailing newline.
        headings: Spans of heading lines inside ``text``, in order of position.
        metadata: Source-specific string fields such as the URL, the date or the category.
        morpheme_ends: Character offsets in ``text`` where a MeCab morpheme ends, in increasing
            order; empty when the text was not segmented. Any change to ``text`` through
            :meth:`map_lines` clears them, so segmentation runs after cleaning.
    """

    id: str
    source: str
    title: str
    text: str
    headings: tuple[Heading, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)
    morpheme_ends: tuple[int, ...] = ()

    @classmethod
    def from_blocks(
        cls,
        *,
        id: str,
        source: str,
        title: str,
        blocks: Iterable[tuple[str, int]],
        metadata: dict[str, str] | None = None,
    ) -> Document:
        """Build a document from ``(line, heading_level)`` pairs, level 0 meaning body text.

        A block may contain newlines only when it is body text.
        """
        lines: list[str] = []
        levels: list[int] = []
        for line, level in blocks:
            if level:
                if "\n" in line:
                    raise ValueError(f"heading {line!r} of document {id} contains a newline")
                lines.append(line)
                levels.append(level)
                continue

            for body_line in line.split("\n"):
                lines.append(body_line)
                levels.append(0)

        text, headings = _join_lines(lines, levels)
        return cls(id=id, source=source, title=title, text=text, headings=headings, metadata=metadata or {})

    def lines_with_levels(self) -> list[tuple[str, int]]:
        """Split ``text`` into ``(line, heading_level)`` pairs, level 0 meaning body text."""
        levels_by_start = {heading.start: heading.level for heading in self.headings}
        pairs = []
        position = 0
        for line in self.text.split("\n"):
            pairs.append((line, levels_by_start.get(position, 0)))
            position += len(line) + 1
        return pairs

    def map_lines(self, transform: Callable[[str, int], str | None]) -> Document:
        """Return a copy whose lines are ``transform(line, heading_level)``; ``None`` drops a line.

        Heading spans are recomputed, so they stay exact whatever the transform does to the
        length of a line. Runs of blank lines collapse to one, and leading and trailing blank
        lines are removed. A heading that the transform empties or drops is removed.
        """
        lines: list[str] = []
        levels: list[int] = []
        for line, level in self.lines_with_levels():
            new_line = transform(line, level)
            if new_line is None:
                continue

            if "\n" in new_line:
                raise ValueError(f"line transform returned a newline in document {self.id}")
            if level and not new_line.strip():
                continue

            lines.append(new_line)
            levels.append(level)

        text, headings = _join_lines(lines, levels)
        if text == self.text and headings == self.headings:
            return self
        return dataclasses.replace(self, text=text, headings=headings, morpheme_ends=())

    def replace(self, **changes: object) -> Document:
        """Return a copy with the given fields replaced."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def _join_lines(lines: list[str], levels: list[int]) -> tuple[str, tuple[Heading, ...]]:
    """Join lines with ``"\\n"``, collapsing blank runs, and return the text and heading spans."""
    kept: list[tuple[str, int]] = []
    for line, level in zip(lines, levels, strict=True):
        is_blank = not line.strip() and not level
        if is_blank and (not kept or not kept[-1][0]):
            continue
        kept.append(("" if is_blank else line, level))
    while kept and not kept[-1][0]:
        kept.pop()

    headings = []
    position = 0
    for line, level in kept:
        if level:
            headings.append(Heading(start=position, end=position + len(line), level=level))
        position += len(line) + 1
    return "\n".join(line for line, _ in kept), tuple(headings)
