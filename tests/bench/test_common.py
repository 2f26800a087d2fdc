"""Tests of the shared benchmark helpers: run order, statistics, tables and process measurement."""

from __future__ import annotations

import sys
import textwrap

import pytest

from bench.common import (
    MIB,
    Summary,
    alternating_order,
    environment_header,
    markdown_table,
    quick_mode,
    run_measured,
    summarize,
)


def test_alternating_order_runs_each_once_per_round() -> None:
    order = alternating_order(["a", "b", "c"], 3)
    for run in range(3):
        assert sorted(name for round_number, name in order if round_number == run) == ["a", "b", "c"]


def test_alternating_order_rotates_first() -> None:
    order = alternating_order(["a", "b", "c"], 3)
    firsts = [order[index][1] for index in (0, 3, 6)]
    assert firsts == ["a", "b", "c"]


def test_alternating_order_rejects_zero_runs() -> None:
    with pytest.raises(ValueError, match="runs must be at least 1"):
        alternating_order(["a"], 0)


def test_summarize_median_and_spread() -> None:
    summary = summarize([3.0, 1.0, 2.0, 10.0])
    assert summary == Summary(median=2.5, low=1.0, high=10.0, count=4)


def test_summarize_rejects_empty() -> None:
    with pytest.raises(ValueError, match="at least one value"):
        summarize([])


def test_summary_format_with_spread() -> None:
    assert summarize([1.0, 2.0, 4.0]).format(1) == "2.0 (1.0-4.0)"


def test_summary_format_single_value() -> None:
    assert summarize([1.5]).format(2) == "1.50"


def test_markdown_table_alignment_row() -> None:
    table = markdown_table(["name", "rate", "note"], [["x", 1, "ok"]])
    assert table.splitlines()[1] == "| :--- | ---: | :--- |"


def test_markdown_table_escapes_pipe() -> None:
    table = markdown_table(["name", "note"], [["a|b", "line one\nline two"]])
    assert table.splitlines()[2] == "| a\\|b | line one line two |"


def test_markdown_table_rejects_short_row() -> None:
    with pytest.raises(ValueError, match="has 1 cells, expected 2"):
        markdown_table(["name", "note"], [["only one"]])


@pytest.mark.parametrize(
    ("value", "expected"), [("1", True), ("yes", True), ("", False), ("0", False), ("false", False)]
)
def test_quick_mode_reads_environment(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    monkeypatch.setenv("BENCH_QUICK", value)
    assert quick_mode() is expected


def test_environment_header_names_corpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BENCH_QUICK", raising=False)
    header = environment_header("demo: 3 documents")
    assert "- corpus: demo: 3 documents" in header.splitlines()


def test_environment_header_lists_versions() -> None:
    assert "tokenizers " in environment_header("demo")


def test_run_measured_peak_rss_of_child() -> None:
    # The child touches 200 MiB, so the sampled peak must exceed it.
    code = "import time; data = bytearray(200 * 2**20); time.sleep(0.5); print(len(data))"
    measured = run_measured([sys.executable, "-c", code])
    assert measured.returncode == 0
    assert measured.stdout.strip() == str(200 * MIB)
    assert measured.peak_rss_bytes >= 200 * MIB


def test_run_measured_counts_grandchild_memory() -> None:
    child = textwrap.dedent(
        """
        import subprocess, sys
        code = "import time; data = bytearray(150 * 2**20); time.sleep(0.5)"
        subprocess.run([sys.executable, "-c", code], check=True)
        """
    )
    measured = run_measured([sys.executable, "-c", child])
    assert measured.peak_rss_bytes >= 150 * MIB


def test_run_measured_descendant_cpu() -> None:
    # The grandchild spins until it has used 0.5 s of CPU, however busy the machine is.
    child = textwrap.dedent(
        """
        import subprocess, sys
        code = "import time\\nwhile time.process_time() < 0.5: pass\\ntime.sleep(0.2)"
        subprocess.run([sys.executable, "-c", code], check=True)
        """
    )
    measured = run_measured([sys.executable, "-c", child])
    assert measured.descendants_cpu_seconds >= 0.4


def test_run_measured_timeout_kills() -> None:
    measured = run_measured([sys.executable, "-c", "import time; time.sleep(60)"], timeout=0.5)
    assert measured.timed_out
    assert measured.wall_seconds < 30
