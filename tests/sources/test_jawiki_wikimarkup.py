"""Wikitext to prose: each construct, written by hand, against the text the rendered page shows."""

from __future__ import annotations

import statistics
import time

import pytest

from pipeline.sources.wikimarkup import wikitext_to_blocks


def prose(wikitext: str) -> str:
    """Return the non-empty lines of the conversion, headings included, joined by newlines."""
    return "\n".join(line for line, _ in wikitext_to_blocks(wikitext) if line)


def headings(wikitext: str) -> list[tuple[str, int]]:
    return [(line, level) for line, level in wikitext_to_blocks(wikitext) if level]


# Links.


def test_link_keeps_label() -> None:
    assert prose("[[東京都|東京]]に住む") == "東京に住む"


def test_link_without_label_shows_target() -> None:
    assert prose("[[東京都]]の人口") == "東京都の人口"


def test_link_pipe_trick_drops_parenthetical() -> None:
    assert prose("[[台東区 (東京都)|]]にある") == "台東区にある"


def test_link_to_section_shows_label() -> None:
    assert prose("「[[#系統|系統]]」の節") == "「系統」の節"


@pytest.mark.parametrize(
    "link",
    [
        "[[ファイル:Tea.jpg|サムネイル|200px|湯のみの[[緑茶]]]]",
        "[[画像:Tea.jpg|thumb|left|説明]]",
        "[[File:Tea.jpg|thumb|upright=1.2|説明 [[茶]] 付き]]",
        "[[Image:Tea.png|frameless]]",
    ],
)
def test_file_link_removed_with_caption(link: str) -> None:
    assert prose(f"前{link}後") == "前後"


@pytest.mark.parametrize("link", ["[[Category:茶|*]]", "[[カテゴリ:日本の飲料]]", "[[category:茶]]"])
def test_category_link_removed(link: str) -> None:
    assert prose(f"本文{link}") == "本文"


def test_colon_category_link_shows_label() -> None:
    assert prose("[[:Category:茶|茶の分類]]を見る") == "茶の分類を見る"


def test_interlanguage_link_removed() -> None:
    assert prose("本文[[en:Green tea]][[zh-yue:綠茶]]") == "本文"


def test_interwiki_link_shows_label() -> None:
    assert prose("[[wikt:ja:茶|茶]]と[[:en:Tea|Tea]]") == "茶とTea"


def test_external_link_keeps_label() -> None:
    assert prose("[https://example.org/tea 茶の歴史]を参照") == "茶の歴史を参照"


def test_external_link_without_label_removed() -> None:
    assert prose("出典[https://example.org/tea]あり") == "出典あり"


# Templates.


def test_template_removed() -> None:
    assert prose("本文{{Infobox|名称=茶|種類={{lang|en|tea}}}}です") == "本文です"


def test_multiline_infobox_removed() -> None:
    assert (
        prose("{{基礎情報 国\n| 略名 = 日本\n| 首都 = [[東京都|東京]]\n}}\n'''日本'''は国である。")
        == "日本は国である。"
    )


def test_lang_keeps_text() -> None:
    assert prose("{{lang|en|green tea}}という") == "green teaという"


def test_lang_xx_adds_language_name() -> None:
    assert prose("{{Lang-en|ampersand}}") == "英語: ampersand"


def test_lang_xx_short_adds_short_name() -> None:
    assert prose("{{lang-fr-short|Paris}}") == "仏: Paris"


def test_lang_xx_unknown_code_keeps_text() -> None:
    assert prose("{{Lang-ka|საქართველო}}") == "საქართველო"


def test_named_parameter_does_not_count_as_positional() -> None:
    assert prose("{{lang-en-short|links=no|medical science}}") == "英: medical science"


def test_reading_template() -> None:
    assert prose("{{読み仮名|'''林檎'''|りんご|{{lang-en-short|apple}}}}は果物") == "林檎（りんご、英: apple）は果物"


def test_reading_template_without_ruby() -> None:
    assert prose("{{読み仮名_ruby不使用|地理学|ちりがく}}") == "地理学（ちりがく）"


def test_interlanguage_link_template_keeps_japanese_title() -> None:
    assert prose("{{仮リンク|ドライジーネ|de|Draisine}}が考案された") == "ドライジーネが考案された"


def test_interlanguage_link_template_prefers_label() -> None:
    assert prose("{{仮リンク|2007年の国民投票|en|Referendum|label=国民投票}}") == "国民投票"


def test_quote_template_keeps_quotation() -> None:
    assert prose("{{Quote|ゆく秋の大和の国|佐佐木信綱}}") == "ゆく秋の大和の国"


def test_span_template_keeps_prose() -> None:
    assert prose("{{要出典範囲|この説は有力である|date=2021年5月}}。") == "この説は有力である。"


def test_pipe_template_is_literal_pipe() -> None:
    assert prose("{{lang|en|a{{!}}b}}") == "a|b"


def test_explicit_positional_parameter_keeps_equals() -> None:
    assert prose("{{math|1=E=mc2}}") == "E=mc2"


def test_template_parameter_renders_default() -> None:
    assert prose("値は{{{1|既定値}}}です") == "値は既定値です"


def test_nested_templates_closed_by_one_brace_run() -> None:
    assert prose("{{lang|en|{{lang|fr|x}}}}") == "x"


def test_template_name_from_expansion_removed() -> None:
    assert prose("前{{{{a}}|b}}後") == "前後"


# Tags, comments and tables.


def test_ref_removed_with_content() -> None:
    assert prose('定義である<ref name="a">{{Cite web|url=https://example.org|title=出典}}</ref>。') == "定義である。"


def test_self_closing_ref_removed() -> None:
    assert prose('定義である<ref name="a" />。<references />') == "定義である。"


def test_math_removed() -> None:
    assert prose("式<math>x^2 + y^2</math>が成り立つ") == "式が成り立つ"


def test_gallery_removed() -> None:
    assert prose("前\n<gallery>\nFile:A.jpg|説明\n</gallery>\n後") == "前\n後"


def test_comment_removed() -> None:
    assert prose("見える<!-- 見えない [[リンク]] -->文") == "見える文"


def test_unclosed_comment_hides_rest() -> None:
    assert prose("見える<!-- 見えない") == "見える"


def test_nowiki_keeps_markup_literally() -> None:
    assert prose("<nowiki>[Z] ''x''</nowiki> は文字") == "[Z] ''x'' は文字"


def test_html_tags_keep_text() -> None:
    assert prose('<span style="color:red">赤</span>い km<sup>2</sup>') == "赤い km2"


def test_line_break_tag_splits_line() -> None:
    assert prose("一行目<br />二行目") == "一行目\n二行目"


def test_table_removed() -> None:
    table = '{| class="wikitable"\n! 名称 !! 特徴\n|-\n| 煎茶 || 広く飲まれる\n|}'
    assert prose(f"前\n{table}\n後") == "前\n後"


def test_nested_table_removed() -> None:
    table = "{|\n|外\n{|\n|内\n|}\n|外の続き\n|}"
    assert prose(f"前\n{table}\n後") == "前\n後"


def test_unclosed_table_keeps_prose_lines() -> None:
    assert prose("{|\n|セル\n|-\n本文の行") == "本文の行"


# Lines.


def test_heading_levels() -> None:
    assert headings("== 歴史 ==\n=== 近代 ===\n==== 明治 ====\n") == [("歴史", 2), ("近代", 3), ("明治", 4)]


def test_heading_without_spaces() -> None:
    assert headings("==手書き==") == [("手書き", 2)]


def test_single_equals_heading_is_level_two() -> None:
    assert headings("= 見出し =") == [("見出し", 2)]


def test_heading_markup_removed() -> None:
    assert headings("== [[名称]]<ref>出典</ref> ==") == [("名称", 2)]


def test_unbalanced_heading_takes_shorter_run() -> None:
    assert headings("=== 見出し ==") == [("見出し", 2)]


def test_bold_and_italic_removed() -> None:
    assert prose("'''太字'''と''斜体''と'''''両方'''''") == "太字と斜体と両方"


@pytest.mark.parametrize("line", ["* 項目", "# 項目", "** 項目", "#* 項目", ": 項目", "; 項目", "*項目"])
def test_list_markers_removed(line: str) -> None:
    assert prose(line) == "項目"


def test_horizontal_rule_removed() -> None:
    assert prose("前\n----\n後") == "前\n後"


def test_magic_word_removed() -> None:
    assert prose("__NOTOC__本文") == "本文"


def test_character_references_decoded() -> None:
    assert prose("A&amp;B&rarr;C") == "A&B→C"


# Brackets emptied by removed markup.


def test_brackets_emptied_by_template_removed() -> None:
    assert prose("東京（{{要出典}}）は首都") == "東京は首都"


def test_brackets_holding_only_separator_removed() -> None:
    assert prose("名称（{{Audio|a.ogg}}、{{要出典}}）は") == "名称は"


def test_separator_before_removed_template_dropped() -> None:
    assert prose("名称（英語、{{要出典}}）は") == "名称（英語）は"


def test_separator_after_removed_template_dropped() -> None:
    assert prose("名称（{{要出典}}、英語）は") == "名称（英語）は"


def test_brackets_written_empty_kept() -> None:
    assert prose("丸括弧（）の使い方") == "丸括弧（）の使い方"


# Malformed markup.


def test_unclosed_template_keeps_text() -> None:
    assert prose("前文{{未完|本文の続き") == "前文未完|本文の続き"


def test_stray_closing_braces_removed() -> None:
    assert prose("本文}}の続き") == "本文の続き"


def test_unclosed_link_keeps_text() -> None:
    assert prose("[[リンク先 の続き") == "リンク先 の続き"


def test_stray_closing_brackets_removed() -> None:
    assert prose("本文]]の続き") == "本文の続き"


def test_unclosed_ref_keeps_text() -> None:
    assert prose("本文<ref>注の続き") == "本文注の続き"


# Each page is about 100 kB of wikitext.
PATHOLOGICAL_PAGES = {
    "unclosed templates": "{{a|" * 25_000,
    "stray closing braces": "}} 本文 " * 25_000,
    "unclosed links": "[[リンク " * 25_000,
    "stray closing brackets": "本文]] " * 25_000,
    "deep nested templates": "{{lang|en|" * 10_000 + "x" + "}}" * 10_000,
    "deep nested links": "[[a|" * 25_000 + "x" + "]]" * 25_000,
    "unclosed refs": "<ref name=a>" * 8_000,
    "unclosed tables": "{|\n|セル\n" * 12_500,
    "heading markers": "=" * 100_000,
    "interleaved markup": "{{a|[[b|<ref>" * 8_000,
}
NORMAL_LINE = "'''茶'''は[[ツバキ科]]の{{lang|la|Camellia sinensis}}の葉を加工した飲み物である<ref>出典</ref>。\n"


def median_seconds(wikitext: str, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        wikitext_to_blocks(wikitext)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", PATHOLOGICAL_PAGES)
def test_malformed_page_time_in_proportion(name: str) -> None:
    page = PATHOLOGICAL_PAGES[name]
    normal = NORMAL_LINE * (len(page) // len(NORMAL_LINE) + 1)
    # Linear work per character keeps the ratio near 1; a quadratic step makes it hundreds.
    assert median_seconds(page) < 10 * median_seconds(normal)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", PATHOLOGICAL_PAGES)
def test_malformed_page_leaves_no_markup(name: str) -> None:
    text = prose(PATHOLOGICAL_PAGES[name])
    assert "{{" not in text
    assert "[[" not in text
    assert "<ref" not in text
