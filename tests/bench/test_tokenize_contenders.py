"""Tests of the tokenization contenders on the demo corpus: each writes the whole corpus."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from tokenizers import Tokenizer

from bench import worker
from bench.prepare import Inputs
from bench.tokenize_contenders import CONTENDERS, REFERENCE_IDS, REFERENCE_LENGTHS
from tests.bench.conftest import DEMO_DOCUMENTS


def texts(inputs: Inputs) -> list[str]:
    return [value for path in inputs.files for value in pq.read_table(path).column("text").to_pylist()]


def run_contender(name: str, inputs: Inputs, run_dir: Path) -> int:
    run_dir.mkdir()
    CONTENDERS[name].run(inputs, run_dir)
    return CONTENDERS[name].count(inputs, run_dir)


def test_bare_ids_decode_to_text(demo_inputs: Inputs) -> None:
    reference_dir = demo_inputs.workdir / "reference"
    ids = np.fromfile(reference_dir / REFERENCE_IDS, dtype=np.uint16)
    lengths = np.load(reference_dir / REFERENCE_LENGTHS)
    tokenizer = Tokenizer.from_file(str(demo_inputs.tokenizer_path))
    first = tokenizer.decode(ids[: lengths[0]].tolist())
    assert first == unicodedata.normalize("NFKC", texts(demo_inputs)[0])


def test_bare_one_length_per_document(demo_inputs: Inputs) -> None:
    lengths = np.load(demo_inputs.workdir / "reference" / REFERENCE_LENGTHS)
    assert len(lengths) == 2 * DEMO_DOCUMENTS


def test_bare_count_matches_file(demo_inputs: Inputs) -> None:
    size = (demo_inputs.workdir / "reference" / REFERENCE_IDS).stat().st_size
    assert demo_inputs.tokens == size // 2


def test_pipeline_shards_adds_cls_sep_per_row(demo_inputs: Inputs, tmp_path: Path) -> None:
    written = run_contender("pipeline shards", demo_inputs, tmp_path / "run")
    manifests = [
        json.loads(path.read_text(encoding="utf-8")) for path in (tmp_path / "run" / "shards").glob("*/manifest.json")
    ]
    rows = sum(manifest["rows"] for manifest in manifests)

    assert written == demo_inputs.tokens + 2 * rows


def test_datasets_map_writes_every_token(demo_inputs: Inputs, tmp_path: Path) -> None:
    pytest.importorskip("datasets")
    assert run_contender("datasets map", demo_inputs, tmp_path / "run") == demo_inputs.tokens


def test_datatrove_adds_cls_sep_per_document(demo_inputs: Inputs, tmp_path: Path) -> None:
    pytest.importorskip("datatrove")
    written = run_contender("datatrove DocumentTokenizer", demo_inputs, tmp_path / "run")
    assert written == demo_inputs.tokens + 2 * demo_inputs.documents


def test_megatron_adds_eod_per_document(demo_inputs: Inputs, tmp_path: Path) -> None:
    pytest.importorskip("megatron.core")
    written = run_contender("megatron IndexedDatasetBuilder", demo_inputs, tmp_path / "run")
    assert written == demo_inputs.tokens + demo_inputs.documents


def test_worker_result_has_timings(demo_inputs: Inputs, tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    result_path = tmp_path / "result.json"
    arguments = ["tokenize", "bare encode_batch", str(demo_inputs.workdir), str(tmp_path / "run"), str(result_path)]
    assert worker.main(arguments) == 0
    result = json.loads(result_path.read_text(encoding="utf-8"))
    assert result["tokens_written"] == demo_inputs.tokens
    assert result["seconds"] > 0


def test_worker_skips_missing_package(demo_inputs: Inputs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A contender whose import fails must be reported as skipped with the import error.
    from bench import tokenize_contenders

    contender = tokenize_contenders.Contender(
        tokenize_contenders.bare_encode_batch, tokenize_contenders.count_bare, ("package_that_is_not_installed",)
    )
    monkeypatch.setitem(tokenize_contenders.CONTENDERS, "missing", contender)
    (tmp_path / "run").mkdir()
    result_path = tmp_path / "result.json"
    assert worker.main(["tokenize", "missing", str(demo_inputs.workdir), str(tmp_path / "run"), str(result_path)]) == 0
    result = json.loads(result_path.read_text(encoding="utf-8"))
    assert "package_that_is_not_installed" in result["skipped"]
