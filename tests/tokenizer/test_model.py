"""The Hugging Face BPE tokenizer: losslessness, ids, added tokens and training boundaries."""

from __future__ import annotations

import unicodedata

import pytest
from tokenizers import Tokenizer

from pipeline.config import SPECIAL_TOKENS
from pipeline.tokenizer.model import BOUNDARY, BYTE_TOKENS, train

SAMPLES = [
    "がぎぐげご パピプペポ データベース",
    "Sparse RoPE Hybrid Attention を試しています。",
    "  leading and  double spaces\nand lines\n\n\ttab",
    "ｶﾞｷﾞｸﾞ ＡＢＣ１２３ ①② ﬁ　全角スペース",
    "emoji 👍🏽 and combining e\u0301 and rare 𠮷野家 ꙮ \ue000",
    "",
]


@pytest.fixture(scope="module", params=["byte_level", "metaspace"])
def tokenizer(request: pytest.FixtureRequest, livedoor_texts: list[str]) -> Tokenizer:
    return train(
        [livedoor_texts[:200]],
        vocab_size=3000,
        min_frequency=2,
        pre_tokenizer=request.param,
        extra_special_tokens=["[EXTRA]"],
        user_tokens=["<br>", "【注】"],
        show_progress=False,
    )


@pytest.mark.parametrize("text", SAMPLES)
def test_round_trip_is_nfkc(tokenizer: Tokenizer, text: str) -> None:
    ids = tokenizer.encode(text, add_special_tokens=False).ids

    assert tokenizer.decode(ids) == unicodedata.normalize("NFKC", text)


@pytest.mark.parametrize("text", SAMPLES)
def test_no_unknown_tokens(tokenizer: Tokenizer, text: str) -> None:
    assert tokenizer.token_to_id("[UNK]") not in tokenizer.encode(text).ids


def test_special_and_extra_ids(tokenizer: Tokenizer) -> None:
    assert [tokenizer.token_to_id(token) for token in [*SPECIAL_TOKENS, "[EXTRA]"]] == [0, 1, 2, 3, 4, 5]


def test_user_tokens_take_last_ids(tokenizer: Tokenizer) -> None:
    size = tokenizer.get_vocab_size()

    assert size == 3000
    assert [tokenizer.token_to_id("<br>"), tokenizer.token_to_id("【注】")] == [size - 2, size - 1]


def test_user_token_whole_and_decoded(tokenizer: Tokenizer) -> None:
    encoding = tokenizer.encode("前<br>後【注】", add_special_tokens=False)

    assert tokenizer.token_to_id("<br>") in encoding.ids
    assert tokenizer.token_to_id("【注】") in encoding.ids
    assert tokenizer.decode(encoding.ids) == "前<br>後【注】"


def test_extra_special_token_skipped_in_decode(tokenizer: Tokenizer) -> None:
    ids = tokenizer.encode("前[EXTRA]後", add_special_tokens=False).ids

    assert tokenizer.token_to_id("[EXTRA]") in ids
    assert tokenizer.decode(ids) == "前後"


def test_post_processor_wraps(tokenizer: Tokenizer) -> None:
    ids = tokenizer.encode("本文です。").ids

    assert ids[0] == tokenizer.token_to_id("[CLS]")
    assert ids[-1] == tokenizer.token_to_id("[SEP]")


def test_no_truncation(tokenizer: Tokenizer) -> None:
    assert tokenizer.truncation is None


def test_metaspace_has_byte_tokens(livedoor_texts: list[str]) -> None:
    tokenizer = train([livedoor_texts[:50]], vocab_size=2000, min_frequency=2, pre_tokenizer="metaspace")

    assert all(tokenizer.token_to_id(token) is not None for token in BYTE_TOKENS)
    assert tokenizer.get_vocab_size() == 2000


def test_metaspace_character_decodes_as_space(livedoor_texts: list[str]) -> None:
    # Metaspace stands for the space, so the one character it cannot carry is itself.
    tokenizer = train([livedoor_texts[:50]], vocab_size=2000, min_frequency=2, pre_tokenizer="metaspace")
    ids = tokenizer.encode("a▁b ▁", add_special_tokens=False).ids

    assert tokenizer.decode(ids) == "a b  "
    assert tokenizer.token_to_id("[UNK]") not in ids


def test_metaspace_keeps_leading_space(livedoor_texts: list[str]) -> None:
    tokenizer = train([livedoor_texts[:50]], vocab_size=2000, min_frequency=2, pre_tokenizer="metaspace")

    assert tokenizer.decode(tokenizer.encode(" x", add_special_tokens=False).ids) == " x"
    assert tokenizer.decode(tokenizer.encode("x", add_special_tokens=False).ids) == "x"


def test_boundary_blocks_merges() -> None:
    marked = train([f"今日{BOUNDARY}は"] * 50, vocab_size=300, min_frequency=1, show_progress=False)
    plain = train(["今日は"] * 50, vocab_size=300, min_frequency=1, show_progress=False)

    assert len(plain.encode("今日は", add_special_tokens=False).ids) == 1
    assert marked.decode(marked.encode("今日は", add_special_tokens=False).ids) == "今日は"
    assert [marked.decode([token]) for token in marked.encode("今日は", add_special_tokens=False).ids] == ["今日", "は"]


def test_boundary_unknown_to_saved_tokenizer() -> None:
    marked = train([f"今日{BOUNDARY}は"] * 50, vocab_size=300, min_frequency=1, show_progress=False)
    reloaded = Tokenizer.from_str(marked.to_str())

    assert reloaded.decode(reloaded.encode(BOUNDARY, add_special_tokens=False).ids) == BOUNDARY
