"""encode() with and without MeCab: boundaries, offsets, losslessness, and tokenizer.json alone."""

from __future__ import annotations

import bisect
import json
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from pipeline.morphemes import MorphemeSegmenter
from pipeline.tokenizer import run
from pipeline.tokenizer.encoding import (
    SETTINGS_FILE,
    TOKENIZER_FILE,
    TokenizerSettings,
    attach_settings,
    encode,
    load_tokenizer,
    tokenizer_settings,
)
from pipeline.tokenizer.model import BOUNDARY, train

ADVERSARIAL = [
    "今日は　いい天気ですね。\n\n  字下げ",
    "ｶﾞｷﾞｸﾞ ＡＢＣ１２３ ①② ﬁ",
    "combining e\u0301 and q\u0301\u0323 and ㄱㅏ",
    "emoji 👍🏽 🇯🇵 rare 𠮷野家 ꙮ \ue000 NUL\x00end",
    "special [SEP] and [CLS]inside and <br>user token",
    "trailing spaces   ",
    "",
]


@pytest.fixture(scope="module")
def mecab_folder(tmp_path_factory: pytest.TempPathFactory, segmented_corpus: Path) -> Path:
    from pipeline.config import parse_config
    from tests.conftest import LIVEDOOR_SAMPLE, WIKITEXT_SAMPLE

    config = parse_config(
        {
            "corpora_dir": str(segmented_corpus),
            "outputs_dir": str(tmp_path_factory.mktemp("mecab-outputs")),
            "sources": {"livedoor": {"path": str(LIVEDOOR_SAMPLE)}, "wikitext": {"path": str(WIKITEXT_SAMPLE)}},
            "segment": {"mecab": True},
            "tokenizer": {"vocab_size": 4000, "user_tokens": ["<br>"]},
        }
    )
    return run(config).parent


@pytest.fixture(scope="module")
def mecab_tokenizer(mecab_folder: Path) -> Tokenizer:
    return load_tokenizer(mecab_folder / TOKENIZER_FILE)


def test_settings_file_records_mecab(mecab_folder: Path) -> None:
    settings = json.loads((mecab_folder / SETTINGS_FILE).read_text(encoding="utf-8"))

    assert settings["mecab"] is True
    assert settings["pre_tokenizer"] == "byte_level"


def test_load_attaches_settings(mecab_tokenizer: Tokenizer) -> None:
    assert tokenizer_settings(mecab_tokenizer).mecab


def test_plain_load_has_no_mecab(mecab_folder: Path) -> None:
    assert not tokenizer_settings(Tokenizer.from_file(str(mecab_folder / TOKENIZER_FILE))).mecab


@pytest.mark.parametrize("text", ADVERSARIAL)
def test_mecab_round_trip_is_nfkc(mecab_tokenizer: Tokenizer, text: str) -> None:
    (encoding,) = encode(mecab_tokenizer, [text])

    decoded = mecab_tokenizer.decode(encoding.ids, skip_special_tokens=False)

    assert decoded == unicodedata.normalize("NFKC", text)
    assert mecab_tokenizer.token_to_id("[UNK]") not in encoding.ids


def test_tokens_stay_inside_morphemes(mecab_tokenizer: Tokenizer, livedoor_texts: list[str]) -> None:
    segmenter = MorphemeSegmenter()
    for text in livedoor_texts[:40]:
        boundaries = segmenter.morpheme_ends(text)
        (encoding,) = encode(mecab_tokenizer, [text])
        for start, end in encoding.offsets:
            # The first boundary after the token start must not lie inside the token.
            following = boundaries[bisect.bisect_right(boundaries, start)]
            assert following >= end, text[start:end]


def test_mecab_vocab_has_no_cross_boundary_merge() -> None:
    # MeCab cuts 今日は into 今日 and は; without boundaries BPE merges the whole word.
    texts = ["今日は晴れ。"] * 50
    pieces = [BOUNDARY.join(MorphemeSegmenter().split(text)) for text in texts]
    plain = train(texts, vocab_size=400, min_frequency=1, show_progress=False)
    marked = train(pieces, vocab_size=400, min_frequency=1, show_progress=False)

    assert any("日は" in plain.decode([token_id]) for token_id in range(plain.get_vocab_size()))
    assert not any("日は" in marked.decode([token_id]) for token_id in range(marked.get_vocab_size()))


def test_offsets_are_text_positions(mecab_tokenizer: Tokenizer, livedoor_texts: list[str]) -> None:
    texts = livedoor_texts[:20]
    segmenter = MorphemeSegmenter()
    for text, encoding in zip(texts, encode(mecab_tokenizer, texts), strict=True):
        pieces = segmenter.split(text)
        reference = mecab_tokenizer.encode(pieces, is_pretokenized=True, add_special_tokens=False)
        starts = [sum(len(piece) for piece in pieces[:index]) for index in range(len(pieces))]
        expected = [
            (start + starts[word], end + starts[word])
            for (start, end), word in zip(reference.offsets, reference.word_ids, strict=True)
        ]

        assert encoding.ids == reference.ids
        assert encoding.offsets == expected


def test_recorded_ends_match_fresh_mecab(mecab_tokenizer: Tokenizer, livedoor_texts: list[str]) -> None:
    texts = livedoor_texts[:20]
    ends = [MorphemeSegmenter().morpheme_ends(text) for text in texts]

    recorded = encode(mecab_tokenizer, texts, morpheme_ends=ends)
    fresh = encode(mecab_tokenizer, texts)

    assert [encoding.ids for encoding in recorded] == [encoding.ids for encoding in fresh]


def test_special_tokens_stay_whole(mecab_tokenizer: Tokenizer) -> None:
    (encoding,) = encode(mecab_tokenizer, ["前[SEP]後<br>終"])

    assert mecab_tokenizer.token_to_id("[SEP]") in encoding.ids
    assert mecab_tokenizer.token_to_id("<br>") in encoding.ids


def test_wrong_ends_rejected(mecab_tokenizer: Tokenizer) -> None:
    with pytest.raises(ValueError, match="end at 3 but the text has 5 characters"):
        encode(mecab_tokenizer, ["今日は晴れ"], morpheme_ends=[(2, 3)])


def test_plain_settings_encode_whole_text(mecab_folder: Path) -> None:
    tokenizer = Tokenizer.from_file(str(mecab_folder / TOKENIZER_FILE))
    attach_settings(tokenizer, TokenizerSettings(mecab=False))
    text = "今日は晴れ。"

    (encoding,) = encode(tokenizer, [text])

    assert encoding.ids == tokenizer.encode(text, add_special_tokens=False).ids


def test_pretokenized_recipe_matches_encode(mecab_tokenizer: Tokenizer, livedoor_texts: list[str]) -> None:
    # The README recipe for users of tokenizer.json: split with MeCab, encode pretokenized.
    text = livedoor_texts[0]
    pieces = MorphemeSegmenter().split(text)

    (encoding,) = encode(mecab_tokenizer, [text])

    assert mecab_tokenizer.encode(pieces, is_pretokenized=True, add_special_tokens=False).ids == encoding.ids


def test_tokenizer_json_without_mecab(mecab_folder: Path) -> None:
    script = f"""
import sys, unicodedata
sys.modules["fugashi"] = None
sys.modules["unidic_lite"] = None
sys.modules["pipeline"] = None
from tokenizers import Tokenizer
tokenizer = Tokenizer.from_file({str(mecab_folder / TOKENIZER_FILE)!r})
text = "今日は いい天気です。Hello world"
ids = tokenizer.encode(text).ids
assert ids[0] == tokenizer.token_to_id("[CLS]")
assert ids[-1] == tokenizer.token_to_id("[SEP]")
assert tokenizer.decode(ids) == unicodedata.normalize("NFKC", text)
print(len(ids))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode == 0, result.stderr
    assert int(result.stdout) > 2
