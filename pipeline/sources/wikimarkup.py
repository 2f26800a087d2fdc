"""Conversion of MediaWiki wikitext into the plain prose a reader sees, line by line.

:func:`wikitext_to_blocks` runs these steps, each over the output of the one before:

1. HTML comments are removed; ``<ref>``, ``<math>``, ``<gallery>`` and similar elements are
   removed with their content; ``<nowiki>`` and ``<pre>`` content is shielded from the
   later steps.
2. Templates are expanded innermost first (:mod:`pipeline.sources.wikiexpansion`): the ones
   that carry prose keep it (:mod:`pipeline.sources.wikitemplates`), all others are removed.
3. Tables are removed.
4. Internal links become their visible text; files, images, categories and interlanguage
   links are removed. External links keep their label.
5. Each line is classified: ``== Heading ==`` lines become headings, list markers and
   indentation are removed, and inline HTML tags, bold and italic quotes, magic words and
   character references are converted.

Every scan moves forward through the text and keeps a bounded stack, so the time is linear in
the length of the page even for malformed markup (unclosed ``{{``, stray ``]]``). Unclosed
markup keeps its text and loses only the markers, which is what a reader sees as well.

Wherever markup is removed, the steps leave the mark :data:`~pipeline.sources.wikimarks.REMOVED`,
so that brackets emptied by a removed template, such as ``（、）`` or ``()``, can be told
apart from brackets the author wrote empty. The marks are deleted before a line is returned.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Callable

from pipeline.sources.wikiexpansion import expand_templates
from pipeline.sources.wikimarks import NONCHARACTER, NONCHARACTERS, REMOVED, SHIELD, UNSHIELD

# Elements removed together with their content.
_DROPPED_ELEMENTS = frozenset(
    "ref references gallery math chem ce score timeline graph imagemap syntaxhighlight source "  # noqa: SIM905
    "templatedata templatestyles mapframe maplink categorytree inputbox hiero section includeonly".split()
)
_LITERAL_ELEMENTS = frozenset({"nowiki", "pre"})
_ELEMENT_TAG = re.compile(r"<(/?)(" + "|".join(sorted(_DROPPED_ELEMENTS | _LITERAL_ELEMENTS)) + r")\b([^<>]*)>", re.I)

# Links nest in image captions, two levels deep in a sample of 120 jawiki pages. Openings past
# this depth are ignored, so malformed pages cannot make the work grow faster than their length.
MAX_LINK_DEPTH = 16

_LINK_BRACKETS = re.compile(r"\[\[|\]\]")

_FILE_NAMESPACES = frozenset({"file", "image", "media", "ファイル", "画像", "メディア"})
_CATEGORY_NAMESPACES = frozenset({"category", "カテゴリ"})
# Prefixes of links to other Wikipedia language editions, which the page shows in its
# sidebar and not in the text. Links with other prefixes (wikt:, WP:, Help:) show their text.
_LANGUAGE_EDITIONS = frozenset(
    "af als am an ar arz ast az azb ba bar be bg bn br bs ca ce ceb ckb cs cv cy da de el en eo es et eu fa fi "  # noqa: SIM905
    "fr fy ga gd gl gu he hi hr hsb ht hu hy ia id io is it ja jv ka kk kn ko ku ky la lb lmo lt lv mg mk ml "
    "mn mr ms my mzn nds ne new nl nn no oc pa pl pms pnb pt qu ro ru sa sah scn sco sh si simple sk sl sq sr "
    "su sv sw ta te tg th tl tr tt uk ur uz vec vi vo war wuu yi yo zh zh-classical zh-min-nan zh-yue".split()
)
_PIPE_TRICK_SUFFIX = re.compile(r"\s*[(（][^()（）]*[)）]$")
# [https://example.org label]; the address may also come from a removed template, as in
# [{{NDLDC|798508}} label].
_EXTERNAL_LINK = re.compile(
    rf"\[(?:(?:https?|ftp)://[^\s\[\]<>\"]+|//[^\s\[\]<>\"]+|{REMOVED})(?:[ \t\u3000]+([^\]\n]*))?\]"
)

_LIST_MARKERS = re.compile(r"[*#:;]+")
_TABLE_ROW_MARKUP = ("{|", "|}", "|-", "|+")
_HORIZONTAL_RULE = re.compile(r"-{4,}")
_BOLD_ITALIC = re.compile(r"'{2,}")
_MAGIC_WORD = re.compile(r"__[A-Z]+__")
_HTML_TAG = re.compile(r"</?([a-zA-Z][a-zA-Z0-9]*)\b[^<>]*>")
_HTML_TAGS = frozenset(
    "abbr b bdi bdo big blockquote br caption center cite code dd del dfn div dl dt em font h1 h2 h3 h4 h5 h6 hr "  # noqa: SIM905
    "i ins kbd li mark noinclude ol onlyinclude p poem q rb rp rt rtc ruby s samp small span strike strong sub "
    "sup table td th time tr tt u ul var wbr".split()
)
_LINE_BREAK_TAGS = frozenset({"br", "p", "li", "dd", "dt", "tr"})

_SEPARATORS = r"、,，;；:：・"
_GAP = rf"[\s{_SEPARATORS}{REMOVED}]*"
_EMPTIED_BRACKETS = re.compile(rf"[（(]{_GAP}{REMOVED}{_GAP}[）)]")
_SEPARATOR_AFTER_OPENING = re.compile(rf"(?<=[（(])[\s{REMOVED}]*{REMOVED}[\s{REMOVED}]*[{_SEPARATORS}]\s*")
_SEPARATOR_BEFORE_CLOSING = re.compile(rf"\s*[{_SEPARATORS}][\s{REMOVED}]*{REMOVED}[\s{REMOVED}]*(?=[）)])")
_DOUBLED_SEPARATOR = re.compile(rf"([{_SEPARATORS}])[\s{REMOVED}]*{REMOVED}[\s{REMOVED}]*[{_SEPARATORS}]")
_LEFTOVER_MARKUP = re.compile(r"\{\{+|\}\}+|\[\[+|\]\]+|</?ref\b[^>\n]*>?", re.I)

Block = tuple[str, int]
"""A line and its heading level: 0 for body text, 2 for ``== Section ==``, 3 for ``===``..."""


def wikitext_to_blocks(wikitext: str) -> list[Block]:
    """Convert the wikitext of one page into lines of plain text with their heading levels.

    Args:
        wikitext: The page source as stored in a dump.

    Returns:
        ``(line, level)`` pairs in page order: level 0 for body text, and 2 to 6 for section
        headings (``==`` is 2, ``===`` is 3). Lines are stripped and may be empty.
    """
    # str.translate is slow, and pages almost never contain noncharacters.
    text = wikitext.translate(NONCHARACTERS) if NONCHARACTER.search(wikitext) else wikitext
    text = remove_comments(text)
    text = remove_elements(text)
    text = expand_templates(text)
    text = remove_tables(text)
    text = replace_links(text)
    text = _EXTERNAL_LINK.sub(lambda match: match.group(1) or REMOVED, text)
    text = _MAGIC_WORD.sub("", text)

    blocks: list[Block] = []
    for line in text.split("\n"):
        blocks.extend(convert_line(line))
    return blocks


def remove_comments(text: str) -> str:
    """Remove ``<!-- ... -->``; an unclosed comment hides the rest of the page, as it does on the site."""
    pieces = []
    position = 0
    while (start := text.find("<!--", position)) != -1:
        pieces.append(text[position:start])
        end = text.find("-->", start + 4)
        if end == -1:
            return "".join(pieces)
        position = end + 3
    pieces.append(text[position:])
    return "".join(pieces)


@functools.cache
def _closing_tag(name: str) -> re.Pattern[str]:
    return re.compile(rf"</{name}\s*>", re.I)


def remove_elements(text: str) -> str:
    """Remove ``<ref>`` and the other elements in ``_DROPPED_ELEMENTS``; shield ``<nowiki>`` and ``<pre>``.

    An opening tag without a closing tag is removed alone, keeping the text after it.
    """
    pieces = []
    position = 0
    never_closed: set[str] = set()
    while (match := _ELEMENT_TAG.search(text, position)) is not None:
        pieces.append(text[position : match.start()])
        position = match.end()
        is_closing, name, attributes = match.group(1), match.group(2).lower(), match.group(3)
        dropped = name in _DROPPED_ELEMENTS
        if is_closing or attributes.rstrip().endswith("/"):
            pieces.append(REMOVED if dropped else "")
            continue

        # Searching once per element name for a missing closing tag keeps this linear.
        closing = None if name in never_closed else _closing_tag(name).search(text, position)
        if closing is None:
            never_closed.add(name)
            pieces.append(REMOVED if dropped else "")
            continue

        content = text[position : closing.start()]
        pieces.append(REMOVED if dropped else content.translate(SHIELD))
        position = closing.end()
    pieces.append(text[position:])
    return "".join(pieces)


def remove_tables(text: str) -> str:
    """Remove ``{| ... |}`` tables, nested ones included, and leave :data:`REMOVED` in their place.

    A table that is never closed keeps its lines that are not table markup.
    """
    out: list[str] = []
    table_lines: list[str] = []
    depth = 0
    for line in text.split("\n"):
        start = line.lstrip(" \t:")
        if start.startswith("{|"):
            depth += 1
        if depth == 0:
            out.append(line)
            continue

        table_lines.append(line)
        if start.startswith("|}"):
            depth -= 1
            if depth == 0:
                out.append(REMOVED)
                table_lines = []

    if depth:
        out.extend(line for line in table_lines if not line.lstrip(" \t:").startswith(("{|", "|", "!")))
    return "\n".join(out)


def replace_links(text: str) -> str:
    """Replace ``[[target|label]]`` with its visible text, innermost first; see :func:`link_text`.

    A stray ``]]`` is removed; an unclosed ``[[`` loses its brackets and keeps its text.
    """
    stack: list[list[str]] = [[]]
    position = 0
    for match in _LINK_BRACKETS.finditer(text):
        stack[-1].append(text[position : match.start()])
        position = match.end()
        if match.group() == "[[":
            if len(stack) <= MAX_LINK_DEPTH:
                stack.append([])
        elif len(stack) > 1:
            inner = "".join(stack.pop())
            stack[-1].append(link_text(inner))
    stack[-1].append(text[position:])
    return "".join(piece for pieces in stack for piece in pieces)


def link_text(inner: str) -> str:
    """Return the visible text of a link ``[[inner]]``, or :data:`REMOVED` for links that show no text.

    Files, images, categories and interlanguage links show nothing in the text, unless the
    target starts with ``:`` (``[[:Category:X]]`` is an ordinary link to the category page).
    ``[[target|]]`` (the pipe trick) shows the target without namespace and trailing
    parenthetical.
    """
    target, pipe, label = inner.partition("|")
    target = target.strip()
    visible = target.startswith(":")
    target = target.lstrip(":").strip()
    prefix, colon, rest = target.partition(":")
    namespace = prefix.strip().lower() if colon else ""

    if not visible and namespace:
        if namespace in _FILE_NAMESPACES or namespace in _CATEGORY_NAMESPACES:
            return REMOVED
        if namespace in _LANGUAGE_EDITIONS:
            return REMOVED

    if pipe:
        label = label.strip()
        if label:
            return label
        return _PIPE_TRICK_SUFFIX.sub("", rest if namespace else target)
    if target.startswith("#"):
        return target[1:]
    return target.replace("_", " ")


def convert_line(line: str) -> list[Block]:
    """Classify one line of wikitext with templates, tables and links already converted.

    Returns the heading or body lines it becomes; an ``<br>`` splits a body line in several.
    """
    stripped = line.strip().strip(REMOVED).strip()
    if stripped.startswith("=") and stripped.endswith("="):
        # "== Title ==": the level is the shorter of the two runs, as MediaWiki counts it.
        opening = len(stripped) - len(stripped.lstrip("="))
        closing = len(stripped) - len(stripped.rstrip("="))
        title = finish_text(stripped.strip("=").strip(), line_breaks=False)
        return [(title, max(min(opening, closing, 6), 2))] if title else []

    if stripped.startswith(_TABLE_ROW_MARKUP) or _HORIZONTAL_RULE.fullmatch(stripped):
        return []
    # List items (*, #), definitions (;) and indentation (:) keep their text without the markers;
    # a cell of a table that lost its start (| or !) keeps its text too.
    body = _LIST_MARKERS.sub("", stripped, count=1) if stripped.startswith(("*", "#", ":", ";")) else stripped
    body = body.lstrip("|!").lstrip()
    return [(part, 0) for part in finish_text(body, line_breaks=True).split("\n")]


def finish_text(text: str, *, line_breaks: bool) -> str:
    """Convert inline markup of a line into plain text.

    Removes HTML tags (``<br>`` becomes a newline when ``line_breaks`` is true, else a space),
    bold and italic quotes, brackets emptied by removed markup and leftover link or template
    brackets, then restores shielded characters and decodes character references.
    """
    text = _HTML_TAG.sub(_tag_replacer("\n" if line_breaks else " "), text)
    text = _BOLD_ITALIC.sub("", text)
    if REMOVED in text:
        text = _EMPTIED_BRACKETS.sub("", text)
        text = _SEPARATOR_AFTER_OPENING.sub("", text)
        text = _SEPARATOR_BEFORE_CLOSING.sub("", text)
        text = _DOUBLED_SEPARATOR.sub(r"\1", text)
        text = text.replace(REMOVED, "")
    # Markers left by markup too malformed to pair up (such as "{{{{a}}") carry no text.
    text = _LEFTOVER_MARKUP.sub("", text)
    if NONCHARACTER.search(text):
        text = text.translate(UNSHIELD)
    if "&" in text:
        text = html.unescape(text)
    return "\n".join(part.strip() for part in text.split("\n"))


@functools.cache
def _tag_replacer(line_break: str) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1).lower()
        if name not in _HTML_TAGS:
            return match.group()
        return line_break if name in _LINE_BREAK_TAGS else ""

    return replace
