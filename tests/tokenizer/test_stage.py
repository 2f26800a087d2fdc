"""The tokenizer stage on the real samples: output folder, report, transformers and SentencePiece."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from tokenizers import Tokenizer

from pipeline import shards
from pipeline.config import SPECIAL_TOKENS, Config
from pipeline.tokenizer import TOKENIZER_FILE, run
from pipeline.tokenizer.encoding import encode, load_tokenizer, tokenizer_settings
from pipeline.tokenizer.spm import SENTENCEPIECE_FILE
from pipeline.tokenizer.stage import training_texts
from pipeline.tokenizer.training_data import plan_training
from pipeline.units import StaleOutputError

OUTPUT_FILES = {
    "tokenizer.json",
    "pipeline_tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "report.json",
}


@pytest.fixture(scope="module")
def mecab_run(segmented_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Config:
    from pipeline.config import parse_config
    from tests.conftest import LIVEDOOR_SAMPLE, WIKITEXT_SAMPLE

    config = parse_config(
        {
            "corpora_dir": str(segmented_corpus),
            "outputs_dir": str(tmp_path_factory.mktemp("stage-outputs")),
            "sources": {"livedoor": {"path": str(LIVEDOOR_SAMPLE)}, "wikitext": {"path": str(WIKITEXT_SAMPLE)}},
            "segment": {"mecab": True},
            "tokenizer": {"vocab_size": 4000, "holdout_fraction": 0.1, "extra_special_tokens": ["[EXTRA]"]},
            "shards": {"max_len": 96},
        }
    )
    run(config)
    return config


@pytest.fixture(scope="module")
def report(mecab_run: Config) -> dict:
    return json.loads((mecab_run.tokenizer_dir / "report.json").read_text(encoding="utf-8"))


def test_output_files(mecab_run: Config) -> None:
    assert OUTPUT_FILES.issubset(path.name for path in mecab_run.tokenizer_dir.iterdir())


def test_report_per_source(report: dict) -> None:
    assert set(report["sources"]) == {"livedoor", "wikitext"}
    assert report["sources"]["livedoor"]["unit"] == "morpheme"
    assert report["sources"]["wikitext"]["unit"] == "word"


@pytest.mark.parametrize("source", ["livedoor", "wikitext"])
def test_report_quality(report: dict, source: str) -> None:
    row = report["sources"][source]

    assert row["documents"] == report["selection"][source]["report_documents"] > 0
    assert row["round_trip_rate"] == 1.0
    assert row["unknown_rate"] == 0.0
    assert 1.0 < row["characters_per_token"] < 6.0
    assert 0.0 < row["vocabulary_used"] <= 1.0
    assert row["tokens_per_unit"] >= 1.0


def test_report_training_cost(report: dict) -> None:
    training = report["training"]

    assert training["seconds"] > 0
    assert training["peak_memory_bytes"] > 10 * 2**20
    assert training["documents"] == sum(part["training_documents"] for part in report["selection"].values())


def test_held_out_not_trained(report: dict) -> None:
    for selection in report["selection"].values():
        assert selection["training_documents"] + selection["held_out_documents"] == selection["documents"]


def test_stream_length_is_documents(mecab_run: Config, report: dict) -> None:
    settings = tokenizer_settings(load_tokenizer(mecab_run.tokenizer_dir / TOKENIZER_FILE))
    files = {name: sorted((mecab_run.clean_dir / name).glob("documents-*.parquet")) for name in mecab_run.sources}
    plans = plan_training(files, max_characters=None, source_weights={}, holdout_fraction=0.1, report_documents=1000)

    texts = [text for batch in training_texts(mecab_run, plans, settings) for text in batch]

    assert len(texts) == report["training"]["documents"]


def test_auto_tokenizer_loads(mecab_run: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(mecab_run.tokenizer_dir))
    batch = tokenizer(["今日は晴れ。", "短い"], padding=True)

    assert tokenizer.is_fast
    assert [
        tokenizer.pad_token,
        tokenizer.unk_token,
        tokenizer.cls_token,
        tokenizer.mask_token,
        tokenizer.sep_token,
    ] == [
        "[PAD]",
        "[UNK]",
        "[CLS]",
        "[MASK]",
        "[SEP]",
    ]
    assert [tokenizer.pad_token_id, tokenizer.unk_token_id, tokenizer.cls_token_id] == [0, 1, 2]
    assert [tokenizer.mask_token_id, tokenizer.sep_token_id] == [3, 4]
    assert "[EXTRA]" in tokenizer.all_special_tokens
    assert tokenizer.padding_side == "right"
    assert tokenizer.model_max_length == 96
    assert batch["input_ids"][0][0] == 2
    assert batch["input_ids"][1][-1] == 0
    assert tokenizer.decode(batch["input_ids"][0], skip_special_tokens=True) == "今日は晴れ。"


def test_shards_use_morpheme_encoding(mecab_run: Config) -> None:
    folder = shards.run(mecab_run)
    tokenizer = load_tokenizer(mecab_run.tokenizer_dir / TOKENIZER_FILE)
    document = pq.read_table(next((mecab_run.clean_dir / "livedoor").glob("documents-*.parquet"))).slice(0, 1)
    (encoding,) = encode(
        tokenizer, document.column("text").to_pylist(), morpheme_ends=document.column("morpheme_ends").to_pylist()
    )

    import pyarrow as pa

    first_shard = json.loads((folder / "train" / "manifest.json").read_text())["shards"][0]["file"]
    with pa.memory_map(str(folder / "train" / first_shard)) as source:
        first_row = pa.ipc.open_stream(source).read_next_batch().column("input_ids")[0].as_py()

    assert first_row[1:95] == encoding.ids[:94]


@pytest.mark.parametrize("backend", ["sentencepiece_bpe", "sentencepiece_unigram"])
def test_sentencepiece_backend(corpus_config, backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import sentencepiece

    config = corpus_config(
        tokenizer={"backend": backend, "vocab_size": 4000, "max_characters": 400_000, "user_tokens": ["<br>"]},
        shards={"max_len": 64},
    )
    path = run(config)
    tokenizer = Tokenizer.from_file(str(path))
    processor = sentencepiece.SentencePieceProcessor(model_file=str(config.tokenizer_dir / SENTENCEPIECE_FILE))
    report = json.loads((config.tokenizer_dir / "report.json").read_text(encoding="utf-8"))
    lines = ["今日はいい天気ですね。", "The quick brown fox jumps over the lazy dog.", "東京都 渋谷区 ２０２３年"]

    assert OUTPUT_FILES.issubset(file.name for file in config.tokenizer_dir.iterdir())
    assert [tokenizer.token_to_id(token) for token in SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    assert tokenizer.get_vocab_size() == 4000
    for line in lines:
        normalized = unicodedata.normalize("NFKC", line)
        assert tokenizer.encode(line, add_special_tokens=False).ids == processor.encode(normalized), line
        assert tokenizer.decode(tokenizer.encode(line).ids) == normalized
    assert all(row["round_trip_rate"] == 1.0 for row in report["sources"].values())
    assert all(row["unknown_rate"] == 0.0 for row in report["sources"].values())

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    assert AutoTokenizer.from_pretrained(str(config.tokenizer_dir)).is_fast
    assert list((shards.run(config) / "train").glob("livedoor-*-shard-00000.arrow"))


def test_sentencepiece_with_mecab(corpus_config) -> None:
    config = corpus_config(
        segment={"mecab": True},
        tokenizer={"backend": "sentencepiece_unigram", "vocab_size": 4000, "max_characters": 300_000},
    )
    tokenizer = load_tokenizer(run(config))
    report = json.loads((config.tokenizer_dir / "report.json").read_text(encoding="utf-8"))
    text = "今日は　いい天気ですね。\n  Hello world"
    (encoding,) = encode(tokenizer, [text])

    assert tokenizer_settings(tokenizer).mecab
    assert tokenizer.decode(encoding.ids) == unicodedata.normalize("NFKC", text)
    assert all(row["round_trip_rate"] == 1.0 for row in report["sources"].values())


def test_sentencepiece_matches_model_on_sample(corpus_config, livedoor_texts: list[str]) -> None:
    import sentencepiece

    config = corpus_config(
        tokenizer={"backend": "sentencepiece_unigram", "vocab_size": 4000, "max_characters": 300_000}
    )
    tokenizer = Tokenizer.from_file(str(run(config)))
    processor = sentencepiece.SentencePieceProcessor(model_file=str(config.tokenizer_dir / SENTENCEPIECE_FILE))
    lines = [line for text in livedoor_texts[:60] for line in text.split("\n") if line]

    mismatched = [
        line for line in lines if tokenizer.encode(line, add_special_tokens=False).ids != processor.encode(line)
    ]

    assert not mismatched


def test_stale_sentencepiece_model_removed(corpus_config) -> None:
    config = corpus_config(tokenizer={"backend": "sentencepiece_bpe", "vocab_size": 4000, "max_characters": 300_000})
    run(config)
    config = corpus_config(tokenizer={"vocab_size": 1000, "max_characters": 100_000})
    with pytest.raises(StaleOutputError, match=r"config key tokenizer\.backend changed"):
        run(config)
    run(config, fresh=True)

    assert not (config.tokenizer_dir / SENTENCEPIECE_FILE).exists()


def test_missing_corpus_says_how(make_config) -> None:
    config = make_config({"livedoor": {"path": "demo/livedoor"}})

    with pytest.raises(FileNotFoundError, match="make corpus"):
        run(config)


def test_transformers_split_words_match_encode(mecab_run: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    from pipeline.morphemes import MorphemeSegmenter

    text = "今日は　いい天気ですね。\n  Hello world 😀"
    hf_tokenizer = AutoTokenizer.from_pretrained(str(mecab_run.tokenizer_dir))
    (encoding,) = encode(load_tokenizer(mecab_run.tokenizer_dir / TOKENIZER_FILE), [text])

    words = MorphemeSegmenter().split(text)
    ids = hf_tokenizer(words, is_split_into_words=True, add_special_tokens=False)["input_ids"]

    assert ids == encoding.ids


def test_report_without_held_out_documents(make_config, caplog: pytest.LogCaptureFixture) -> None:
    from pipeline import corpus
    from tests.conftest import DEMO

    config = make_config(
        {"livedoor": {"path": str(DEMO / "livedoor")}},
        tokenizer={"vocab_size": 600, "min_frequency": 1, "holdout_fraction": 0.0},
    )
    corpus.run(config)

    run(config)

    row = json.loads((config.tokenizer_dir / "report.json").read_text(encoding="utf-8"))["sources"]["livedoor"]
    assert row["documents"] == 0
    assert row["characters_per_token"] is None
    assert row["unit"] is None
    assert "livedoor: no held-out documents" in caplog.text
