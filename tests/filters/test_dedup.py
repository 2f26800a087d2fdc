from __future__ import annotations

from pipeline.document import Document
from pipeline.filters import Reject
from pipeline.filters.dedup import ExactDedupFilter, NearDedupFilter, normalize_for_dedup


def document(id: str, *body: str, source: str = "t") -> Document:
    return Document.from_blocks(id=id, source=source, title="T", blocks=[("T", 1), *((line, 0) for line in body)])


def test_normalize_folds_width_case_space() -> None:
    assert normalize_for_dedup("Ａｂｃ  ｄ\nE") == "abcde"


def test_exact_keeps_first() -> None:
    dedup = ExactDedupFilter()
    first = document("a/1", "同じ本文です。")

    assert dedup.apply(first) is first


def test_exact_rejects_copy() -> None:
    dedup = ExactDedupFilter()
    dedup.apply(document("a/1", "同じ本文です。"))

    result = dedup.apply(document("b/7", "同じ  本文です。", source="b"))

    assert isinstance(result, Reject)
    assert result.reason == "exact duplicate of a/1 after normalization"


def test_exact_keeps_different() -> None:
    dedup = ExactDedupFilter()
    dedup.apply(document("a/1", "本文その一。"))
    second = document("a/2", "本文その二。")

    assert dedup.apply(second) is second


def test_exact_same_document_twice() -> None:
    # The same id seen again (a rerun of one document) is not its own duplicate.
    dedup = ExactDedupFilter()
    first = document("a/1", "本文。")
    dedup.apply(first)

    assert dedup.apply(first) is first


def long_text(variant: str) -> str:
    sentences = [f"これは{index}番目の文で、ニュース記事の本文を模したものです。" for index in range(40)]
    return "".join(sentences) + variant


def test_near_rejects_small_edit() -> None:
    dedup = NearDedupFilter(threshold=0.8)
    dedup.apply(document("a/1", long_text("最後の一文。")))

    result = dedup.apply(document("a/2", long_text("最後の二文。")))

    assert isinstance(result, Reject)
    assert result.reason.startswith("near duplicate of a/1 (estimated Jaccard similarity 0.")


def test_near_keeps_unrelated() -> None:
    dedup = NearDedupFilter(threshold=0.8)
    dedup.apply(document("a/1", long_text("")))
    other = document("a/2", "".join(f"The {index}th sentence of an unrelated English article." for index in range(40)))

    assert dedup.apply(other) is other


def test_near_repeats_decisions() -> None:
    texts = [long_text(str(index % 3)) if index % 2 else f"独立した文書{index}。" * 30 for index in range(12)]

    decisions = []
    for _ in range(2):
        dedup = NearDedupFilter(threshold=0.9)
        decisions.append([isinstance(dedup.apply(document(f"a/{i}", text)), Reject) for i, text in enumerate(texts)])

    assert decisions[0] == decisions[1]
    assert any(decisions[0])
