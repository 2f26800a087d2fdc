"""Expansion of ``{{templates}}`` in wikitext, innermost first, with MediaWiki's brace matching.

Templates that carry prose are replaced with it (the rules are in
:mod:`pipeline.sources.wikitemplates`); all others are replaced with the
:data:`~pipeline.sources.wikimarks.REMOVED` mark.
"""

from __future__ import annotations

import itertools
import re

from pipeline.sources.wikimarks import REMOVED, SHIELDED_EQUALS, SHIELDED_PIPE
from pipeline.sources.wikitemplates import Params, template_rule

# Templates nest at most four levels deep in a sample of 120 jawiki pages. Openings past this
# depth are ignored, so malformed pages cannot make the work grow faster than their length.
MAX_TEMPLATE_DEPTH = 40

_BRACES = re.compile(r"\{\{+|\}\}+")
_BRACES_AND_SEPARATORS = re.compile(r"\{\{+|\}\}+|\[\[|\]\]|\|")


class _Template:
    """An open ``{{`` while its parameters are being collected."""

    __slots__ = ("braces", "link_depth", "pieces", "splits")

    def __init__(self, braces: int) -> None:
        self.braces = braces
        self.link_depth = 0
        self.pieces: list[str] = []
        # Indices into pieces where the second, third, ... parameter starts.
        self.splits: list[int] = []

    def name(self) -> str:
        return "".join(self.pieces[: self.splits[0]] if self.splits else self.pieces)

    def params(self) -> list[str]:
        bounds = [0, *self.splits, len(self.pieces)]
        return ["".join(self.pieces[start:end]) for start, end in itertools.pairwise(bounds)]


def expand_templates(text: str) -> str:
    """Replace every ``{{template}}`` with its visible prose, or with :data:`REMOVED`.

    Brace runs are matched the way MediaWiki's preprocessor matches them: a closing run
    closes the innermost opening, three braces make a template parameter ``{{{1|default}}}``
    and two a template, and the braces left over stay open. Parameters are split at ``|``
    outside of inner templates and links.
    """
    base: list[str] = []
    stack: list[_Template] = []
    position = 0
    while True:
        pattern = _BRACES_AND_SEPARATORS if stack else _BRACES
        match = pattern.search(text, position)
        if match is None:
            break
        out = stack[-1].pieces if stack else base
        out.append(text[position : match.start()])
        position = match.end()
        token = match.group()

        if token[0] == "{":
            if len(stack) < MAX_TEMPLATE_DEPTH:
                stack.append(_Template(len(token)))
            continue

        if token[0] == "}":
            _close_templates(stack, base, len(token))
            continue

        template = stack[-1]
        if token == "[[":
            template.link_depth += 1
        elif token == "]]":
            template.link_depth = max(template.link_depth - 1, 0)
        elif template.link_depth == 0:
            template.splits.append(len(template.pieces))
            continue
        out.append(token)

    (stack[-1].pieces if stack else base).append(text[position:])

    # Unclosed templates lose their braces and keep their text, in order.
    for template in stack:
        base.append("|".join(template.params()))
    return "".join(base)


def _close_templates(stack: list[_Template], base: list[str], closing: int) -> None:
    """Match a run of ``closing`` braces against the open templates on ``stack``."""
    while closing >= 2 and stack:
        template = stack.pop()
        used = 3 if min(closing, template.braces) >= 3 else 2
        rendered = _render_argument(template) if used == 3 else _render_template(template)
        closing -= used
        template.braces -= used

        if template.braces >= 2:
            # {{{{a}}|b}}: the expansion becomes the start of a template still open.
            template.pieces = [rendered]
            template.splits = []
            template.link_depth = 0
            stack.append(template)
            continue

        out = stack[-1].pieces if stack else base
        if template.braces == 1:
            out.append("{")
        out.append(rendered)

    if closing == 1:
        (stack[-1].pieces if stack else base).append("}")


def _render_argument(template: _Template) -> str:
    """Expand ``{{{name|default}}}`` (a template parameter) to its default, as on a page that passes none."""
    return "|".join(template.params()[1:])


def _render_template(template: _Template) -> str:
    name = template.name().strip()
    if name == "!":
        return SHIELDED_PIPE
    if name == "=":
        return SHIELDED_EQUALS
    rule = template_rule(name)
    if rule is None:
        return REMOVED

    named: Params = {}
    position = 0
    for param in template.params()[1:]:
        key, equals, value = param.partition("=")
        if equals:
            named[key.strip()] = value.strip()
        else:
            # Positional parameters are numbered among themselves: {{a|x=1|b}} has "b" as 1.
            position += 1
            named.setdefault(str(position), param)

    rendered = rule(named)
    if not rendered:
        return REMOVED
    # An "=" in the expansion is text, not the separator of a named parameter of an outer template.
    return rendered.replace("=", SHIELDED_EQUALS)
