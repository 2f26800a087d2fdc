"""The templates whose prose a reader sees on the rendered page, and how each one renders.

Japanese Wikipedia wraps a good part of its running text in templates: foreign words in
``{{lang|en|...}}``, readings in ``{{読み仮名|漢字|かんじ}}``, links to articles that exist only
in another language in ``{{仮リンク|...}}``. :func:`template_rule` returns the rule that renders
the visible text of those templates, and ``None`` for every other template (infoboxes,
citations, footnotes, maintenance notices, navigation boxes), which the converter removes.

Template names compare case-insensitively, with ``_`` and spaces equivalent, because MediaWiki
ignores the case of the first letter and redirects the common variants (``IPA``, ``Ipa``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

Params = dict[str, str]
"""Template parameters: positional ones under ``"1"``, ``"2"``, ..., named ones by name."""

Rule = Callable[[Params], str]

# Names shown before foreign text by jawiki's {{Lang-xx}} and {{Lang-xx-short}}.
# NOTE: only these codes get a prefix; {{Lang-xx}} with any other code renders its text alone.
LANGUAGE_NAMES = {
    "ar": "アラビア語",
    "de": "ドイツ語",
    "el": "ギリシア語",
    "en": "英語",
    "es": "スペイン語",
    "fa": "ペルシア語",
    "fr": "フランス語",
    "grc": "古代ギリシア語",
    "he": "ヘブライ語",
    "hi": "ヒンディー語",
    "id": "インドネシア語",
    "it": "イタリア語",
    "ko": "朝鮮語",
    "ku": "クルド語",
    "la": "ラテン語",
    "ms": "マレー語",
    "nl": "オランダ語",
    "pt": "ポルトガル語",
    "ru": "ロシア語",
    "th": "タイ語",
    "tr": "トルコ語",
    "vi": "ベトナム語",
    "zh": "中国語",
}
LANGUAGE_SHORT_NAMES = {
    "de": "独",
    "el": "希",
    "en": "英",
    "es": "西",
    "fr": "仏",
    "it": "伊",
    "la": "羅",
    "nl": "蘭",
    "pt": "葡",
    "ru": "露",
}

# {{en|...}}, {{zh|...}} and the like mark text in that language and show it unchanged.
LANGUAGE_CODE_TEMPLATES = frozenset(
    "ar de el en es fa fr grc he hi id it ja ko la ms nl pl pt ru sv th tr uk vi zh".split()  # noqa: SIM905
)

_LANG_TEMPLATE = re.compile(r"(?:rtl-)?lang-([a-z]{2,3}(?:-(?!short$)[a-z]+)?)(-short)?")


def _parameter(*keys: str) -> Rule:
    """Render the first of ``keys`` that is present and not blank."""

    def render(params: Params) -> str:
        for key in keys:
            value = params.get(key, "").strip()
            if value:
                return value
        return ""

    return render


def _constant(text: str) -> Rule:
    return lambda params: text


def _reading(params: Params) -> str:
    """Render ``{{読み仮名|漢字|かんじ|英: ...}}`` as ``漢字（かんじ、英: ...）``."""
    base = params.get("1", "").strip()
    notes = [params[str(index)].strip() for index in range(2, 10) if params.get(str(index), "").strip()]
    return f"{base}（{'、'.join(notes)}）" if notes else base


def _language_with_name(params: Params) -> str:
    """Render ``{{LangWithName|is|アイスランド語|Ísland}}`` as ``アイスランド語: Ísland``."""
    name = params.get("2", "").strip()
    text = params.get("3", "").strip()
    return f"{name}: {text}" if name else text


def _date(params: Params) -> str:
    """Render ``{{生年月日と年齢|1961|11|23}}`` as ``1961年11月23日``.

    The age that the template appends depends on the day the page is viewed, so it is left out.
    """
    year, month, day = (params.get(key, "").strip() for key in ("1", "2", "3"))
    if not (year and month and day):
        return ""
    return f"{year}年{month}月{day}日"


# Every template not listed here (and not matched by _LANG_TEMPLATE or ``ipa-xx``) is removed.
TEMPLATE_RULES: dict[str, Rule] = {
    # Foreign-language text.
    "lang": _parameter("2"),
    "rtl-lang": _parameter("2"),
    "lang-*-latn": _parameter("2"),
    "transl": _parameter("2"),
    "langwithname": _language_with_name,
    "rtl-langwithname": _language_with_name,
    "ipa": _parameter("1"),
    "ipa2": _parameter("1"),
    "audio": _parameter("2"),
    # Readings and links to articles in other language editions.
    "読み仮名": _reading,
    "読み仮名 ruby不使用": _reading,
    "ruby": _reading,
    "仮リンク": _parameter("label", "1"),
    "ill": _parameter("label", "1"),
    "ill2": _parameter("label", "1"),
    "interlanguage link": _parameter("label", "1"),
    "interlang": _parameter("3", "2"),
    # Quotations.
    "quote": _parameter("1", "text"),
    "quotation": _parameter("1", "text"),
    "bquote": _parameter("1", "text"),
    "cquote": _parameter("1", "text"),
    "ilq": _parameter("1"),
    "indent": _parameter("1"),
    # Text shown with a different font, size or colour.
    "small": _parameter("1"),
    "smaller": _parameter("1"),
    "larger": _parameter("1"),
    "big": _parameter("1"),
    "nowrap": _parameter("1"),
    "center": _parameter("1"),
    "sup": _parameter("1"),
    "sub": _parameter("1"),
    "fontsize": _parameter("2"),
    "font-size": _parameter("2"),
    "color": _parameter("2"),
    "colour": _parameter("2"),
    "unicode": _parameter("1"),
    "jis2004フォント": _parameter("1"),
    "補助漢字フォント": _parameter("1"),
    "cp932フォント": _parameter("1"),
    "拡張漢字": _parameter("1"),
    "math": _parameter("1"),
    "mvar": _parameter("1"),
    "下げ核": _parameter("1"),
    "abbr": _parameter("1"),
    "nts": _parameter("1"),
    "visible anchor": _parameter("1"),
    "vanc": _parameter("1"),
    "plainlist": _parameter("1"),
    "url": _parameter("2", "1"),
    # Maintenance notices that mark a span of prose: the prose stays, the notice goes.
    "要出典範囲": _parameter("1"),
    "独自研究範囲": _parameter("1"),
    "要検証範囲": _parameter("1"),
    "疑問点範囲": _parameter("1"),
    "citation needed span": _parameter("1"),
    # Spacing and punctuation.
    "nbsp": _constant(" "),
    "生年月日と年齢": _date,
}
TEMPLATE_RULES.update((code, _parameter("1")) for code in LANGUAGE_CODE_TEMPLATES)


def normalize_name(name: str) -> str:
    """Return the lookup key of a template name: lower case, single spaces, no ``Template:``."""
    key = " ".join(name.replace("_", " ").split()).lower()
    for prefix in ("template:", "テンプレート:", "subst:", "safesubst:"):
        key = key.removeprefix(prefix)
    return key


def template_rule(name: str) -> Rule | None:
    """Return the rule rendering the template ``name`` (as written, such as ``Lang-en``), or ``None`` to remove it."""
    key = normalize_name(name)
    rule = TEMPLATE_RULES.get(key)
    if rule is not None:
        return rule

    if key.startswith("formatnum:"):
        return _constant(name.partition(":")[2].strip())

    if key.startswith("ipa-"):
        return _parameter("1")

    match = _LANG_TEMPLATE.fullmatch(key)
    if match is None:
        return None
    code, short = match.group(1), match.group(2)
    return _language_rule(code, short=bool(short))


@functools.cache
def _language_rule(code: str, *, short: bool) -> Rule:
    """Render ``{{Lang-en|text}}`` as ``英語: text`` and ``{{Lang-en-short|text}}`` as ``英: text``."""
    prefix = (LANGUAGE_SHORT_NAMES if short else LANGUAGE_NAMES).get(code)
    text = _parameter("1")
    if prefix is None:
        return text
    return lambda params: f"{prefix}: {text(params)}"
