"""Tests of the side-by-side harness: measurement loop, ratios, tables, targets and stage benches."""

from __future__ import annotations

import pytest

from bench import run
from bench.common import summarize
from bench.prepare import Inputs

TRACEBACK = """Traceback (most recent call last):
  File "x.py", line 1, in <module>
/site-packages/megatron/core/optimizer/__init__.py:24: UserWarning: Apex is not installed.
  warnings.warn(
ValueError: Arrow type map<string, string> does not have a datasets dtype equivalent.
"""


def test_failure_reason_exception_line() -> None:
    assert (
        run.failure_reason(1, TRACEBACK)
        == "ValueError: Arrow type map<string, string> does not have a datasets dtype equivalent."
    )


def test_failure_reason_signal() -> None:
    assert run.failure_reason(-11, "  warnings.warn(\n") == "killed by signal SIGSEGV"


def test_failure_reason_exit_status() -> None:
    assert run.failure_reason(3, "") == "exit status 3"


def test_paired_ratios_by_round() -> None:
    ratio = run.paired_ratios({0: 2.0, 1: 6.0, 2: 3.0}, {0: 4.0, 1: 4.0, 2: 4.0})
    assert ratio == summarize([0.5, 1.5, 0.75])


def test_paired_ratios_without_reference() -> None:
    assert run.paired_ratios({0: 2.0}, {}) is None


def test_tokenize_table_ratio_and_skip(demo_inputs: Inputs) -> None:
    reference = run.Runs(results=[{"seconds": 1.0, "tokens_written": 10, "own_cpu_seconds": 1.0}] * 3, rounds=[0, 1, 2])
    reference.peak_rss = [100.0] * 3
    reference.cpu_seconds = [1.0] * 3
    slower = run.Runs(results=[{"seconds": 2.0, "tokens_written": 12, "own_cpu_seconds": 1.0}] * 3, rounds=[0, 1, 2])
    slower.peak_rss = [200.0] * 3
    slower.cpu_seconds = [2.0] * 3
    measured = {
        "bare encode_batch": reference,
        "pipeline shards": slower,
        "datatrove DocumentTokenizer": run.Runs(skipped="ModuleNotFoundError: No module named 'datatrove'"),
    }
    table, ratios = run.tokenize_table(measured, demo_inputs)
    assert ratios["pipeline shards"].median == 0.5
    assert "| skipped: ModuleNotFoundError: No module named 'datatrove' |" in table


def test_target_lines_missed() -> None:
    lines = run.target_lines({"pipeline shards": summarize([0.5, 0.6, 0.7])}, {})
    assert lines == ["- shards stage / bare encode_batch: 0.600 (target >= 0.9): missed"]


def test_target_lines_loader_multiples() -> None:
    ratios = {"pipeline ShardDataset": summarize([0.6] * 3), "datasets with_format(torch)": summarize([0.05] * 3)}
    lines = run.target_lines({}, ratios)
    assert lines[1] == "- pipeline loader / datasets with_format(torch): 12.0x"


def test_stage_benches_report_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run, "STAGE_BENCHES", ("bench_not_written_yet",))
    report, failed = run.run_stage_benches(timeout=10)
    assert "skipped: bench/bench_not_written_yet.py is not present in this checkout." in report
    assert failed == []


def test_measure_runs_alternately_in_processes(demo_inputs: Inputs) -> None:
    measured = run.measure("tokenize", ["bare encode_batch"], demo_inputs, runs=3, timeout=120)
    record = measured["bare encode_batch"]
    assert record.rounds == [0, 1, 2]
    assert all(result["tokens_written"] == demo_inputs.tokens for result in record.results)
    assert min(record.peak_rss) > 10


def test_arguments_reject_two_runs() -> None:
    with pytest.raises(SystemExit):
        run.parse_arguments(["--runs", "2"])
