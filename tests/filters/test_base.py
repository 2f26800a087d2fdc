from __future__ import annotations

import pytest

from pipeline.config import ConfigError
from pipeline.document import Document
from pipeline.filters import Reject, build_filters
from pipeline.filters.boilerplate import LivedoorBoilerplateFilter


def document(source: str, *body: str) -> Document:
    return Document.from_blocks(id=f"{source}/1", source=source, title="T", blocks=[("T", 1), *((b, 0) for b in body)])


def test_process_counts_changes() -> None:
    (whitespace,) = build_filters(["normalize_whitespace"])

    whitespace.process(document("t", "a  b"))
    whitespace.process(document("t", "a b"))

    assert whitespace.stats.counts() == {
        "documents_in": 2,
        "documents_out": 2,
        "documents_changed": 1,
        "documents_rejected": 0,
        "characters_in": len("T\na  b") + len("T\na b"),
        "characters_out": 2 * len("T\na b"),
    }


def test_process_counts_rejects() -> None:
    (empty,) = build_filters(["reject_empty"])

    result = empty.process(document("t"))

    assert isinstance(result, Reject)
    assert empty.stats.documents_rejected == 1
    assert empty.stats.documents_out == 0
    assert empty.stats.characters_out == 0


def test_source_filter_skips_others() -> None:
    boilerplate = LivedoorBoilerplateFilter()
    other = document("wikitext", "本文", "■関連リンク", "・リンク")

    result = boilerplate.process(other)

    assert result is other
    assert boilerplate.stats.documents_in == 1
    assert boilerplate.stats.documents_out == 1


def test_reset_stats_starts_over() -> None:
    (empty,) = build_filters(["reject_empty"])
    empty.process(document("t", "body"))

    empty.reset_stats()

    assert empty.stats.documents_in == 0


def test_options_passed() -> None:
    (length,) = build_filters([{"length": {"min_characters": 10, "max_characters": 20}}])

    assert isinstance(length.process(document("t", "short")), Reject)
    assert not isinstance(length.process(document("t", "long enough")), Reject)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("shout", "unknown filter 'shout'; supported filters: fix_mojibake, nfkc"),
        ({"length": {"minimum": 3}}, "unknown option 'minimum'; supported options: min_characters, max_characters"),
        ({"letter_ratio": {"min_ratio": 2}}, "min_ratio must be a number from 0 to 1, got 2"),
        ({"length": {"min_characters": 9, "max_characters": 3}}, "min_characters 9 is larger than max_characters 3"),
        ({"wikitext_leftovers": {"unknown": "drop"}}, "unknown must be one of remove, reject, keep"),
        ({"near_dedup": {"threshold": 0}}, "threshold must be above 0"),
        (["nfkc"], "must be a filter name or {name: {options}}"),
    ],
)
def test_bad_entry_named(entry: object, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        build_filters(["nfkc", entry])

    assert "clean.filters[1]" in str(error.value)
    assert message in str(error.value)
