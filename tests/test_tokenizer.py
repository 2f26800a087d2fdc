from __future__ import annotations

import unicodedata

import pytest
from tokenizers import Tokenizer

from pipeline.config import SPECIAL_TOKENS, Config
from pipeline.tokenizer import TOKENIZER_FILE, encode, load_tokenizer, train

SAMPLES = [
    "がぎぐげご パピプペポ データベース",
    "Sparse RoPE Hybrid Attention を試しています。",
    "  leading and  double spaces\nand lines\n\n",
    "ｶﾞｷﾞｸﾞ ＡＢＣ１２３ ①② ﬁ",
    "emoji 👍🏽 and combining e\u0301 and rare 𠮷野家",
]


@pytest.fixture(scope="module")
def tokenizer(shared_run: Config) -> Tokenizer:
    return Tokenizer.from_file(str(shared_run.tokenizer_dir / TOKENIZER_FILE))


@pytest.mark.parametrize("text", SAMPLES)
def test_round_trip_is_nfkc(tokenizer: Tokenizer, text: str) -> None:
    decoded = tokenizer.decode(tokenizer.encode(text).ids)

    assert decoded == unicodedata.normalize("NFKC", text)


def test_voiced_kana_survive(tokenizer: Tokenizer) -> None:
    text = "がぎぐげご パピプペポ データベース"

    assert tokenizer.decode(tokenizer.encode(text).ids) == text


@pytest.mark.parametrize("text", SAMPLES)
def test_no_unknown_tokens(tokenizer: Tokenizer, text: str) -> None:
    assert tokenizer.token_to_id("[UNK]") not in tokenizer.encode(text).ids


def test_special_token_ids(tokenizer: Tokenizer) -> None:
    assert [tokenizer.token_to_id(token) for token in SPECIAL_TOKENS] == [0, 1, 2, 3, 4]


def test_post_processor_uses_vocab_ids(tokenizer: Tokenizer) -> None:
    ids = tokenizer.encode("本文です。").ids

    assert ids[0] == tokenizer.token_to_id("[CLS]")
    assert ids[-1] == tokenizer.token_to_id("[SEP]")


def test_post_processor_follows_retrained_vocab() -> None:
    # Trained on other text the vocabulary differs, but the ids still come from it.
    trained = train(iter([["abc abd abe"] * 10]), vocab_size=300, min_frequency=1)

    ids = trained.encode("abc").ids
    assert ids[0] == trained.token_to_id("[CLS]")
    assert ids[-1] == trained.token_to_id("[SEP]")


def test_long_text_keeps_sep(tokenizer: Tokenizer) -> None:
    ids = tokenizer.encode("長い文章です。" * 500).ids

    assert ids[-1] == tokenizer.token_to_id("[SEP]")


def test_encode_has_no_special_tokens(tokenizer: Tokenizer) -> None:
    (encoding,) = encode(tokenizer, ["本文です。"])

    assert tokenizer.token_to_id("[CLS]") not in encoding.ids
    assert tokenizer.token_to_id("[SEP]") not in encoding.ids


def test_vocab_size_from_config(shared_run: Config, tokenizer: Tokenizer) -> None:
    assert tokenizer.get_vocab_size() == shared_run.tokenizer.vocab_size


def test_missing_tokenizer_says_how(shared_run: Config) -> None:
    with pytest.raises(FileNotFoundError, match="make tokenizer"):
        load_tokenizer(shared_run.tokenizer_dir / "missing.json")
