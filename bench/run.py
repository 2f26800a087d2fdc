"""Side-by-side benchmarks of this pipeline, its bare libraries and the tools people use today.

``python -m bench.run`` (``make bench``) prepares one corpus and one tokenizer, then measures:

1. tokenization to disk, against bare ``Tokenizer.encode_batch`` writing ``uint16`` ids;
2. loading ``[32, 512]`` batches through a ``DataLoader``, against a bare ``numpy.memmap`` slice;
3. this pipeline's own stages, by running each ``bench/bench_<stage>.py`` present.

Every measurement runs in its own process (:mod:`bench.worker`); contenders alternate and
run at least three times each. ``BENCH_QUICK=1`` or ``--quick`` (``make bench-quick``)
shrinks the corpus for CI. The report is printed and written to ``bench/results/report.md``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import re
import shlex
import shutil
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import load_contenders, tokenize_contenders
from bench.common import (
    MIB,
    MIN_RUNS,
    QUICK_ENV,
    Summary,
    alternating_order,
    cpu_count,
    environment_header,
    markdown_table,
    quick_mode,
    run_measured,
    summarize,
)
from bench.prepare import SEQUENCE_LENGTH, Inputs, prepare

logger = logging.getLogger("bench")

REPOSITORY = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = Path("bench/livedoor.yaml")
STAGE_BENCHES = ("bench_corpus", "bench_segment", "bench_tokenizer", "bench_shards", "bench_loader", "bench_jawiki")
OWN_CONTENDERS = ("bare encode_batch", "pipeline shards", "bare memmap slice", "pipeline ShardDataset")
"""Rows whose failure or skip makes the run exit with status 1, unlike a peer that is not installed."""
SHARDS_TARGET = 0.9
LOADER_TARGET = 0.5
FULL_REPEAT = 20
"""Copies of each Livedoor sample document in a full run: 360 x 20 = 7,200 documents, close to
the 7,367 articles of the whole Livedoor corpus, so that fixed start-up costs weigh as they
would there."""
QUICK_LIMIT = 90
MIN_BATCHES = 50
"""Below this many batches per epoch, the rate after the first batch is not a steady rate: the
batches that ``DataLoader`` workers prefetch while the first one is made are a large part of it."""
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b")


@dataclass
class Runs:
    """Measurements of one contender, in run order, or the reason it has none."""

    results: list[dict[str, Any]] = field(default_factory=list)
    peak_rss: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    rounds: list[int] = field(default_factory=list)
    skipped: str = ""
    failed: str = ""

    def note(self) -> str:
        if self.skipped:
            return f"skipped: {self.skipped}"
        if self.failed:
            return f"failed: {self.failed}"
        return ""


def measure(kind: str, names: list[str], inputs: Inputs, *, runs: int, timeout: float) -> dict[str, Runs]:
    """Run every contender ``runs`` times, alternating, each run in a fresh process and folder."""
    measured = {name: Runs() for name in names}
    for round_number, name in alternating_order(names, runs):
        record = measured[name]
        if record.skipped or record.failed:
            continue
        slug = load_contenders.data_dir_for(inputs, name).name
        run_dir = inputs.workdir / "runs" / f"{kind}-{slug}-{round_number}"
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir(parents=True)
        result_path = run_dir.with_suffix(".json")
        result_path.unlink(missing_ok=True)

        logger.info("%s: %s, run %d of %d", kind, name, round_number + 1, runs)
        argv = [sys.executable, "-m", "bench.worker", kind, name, str(inputs.workdir), str(run_dir), str(result_path)]
        outcome = run_measured(argv, cwd=REPOSITORY, env=_worker_environment(run_dir), timeout=timeout)
        shutil.rmtree(run_dir, ignore_errors=True)

        if outcome.timed_out:
            record.failed = f"timed out after {timeout:.0f} s"
        elif outcome.returncode != 0 or not result_path.exists():
            record.failed = failure_reason(outcome.returncode, outcome.stderr)
            logger.error("%s %s failed:\n%s", kind, name, outcome.stderr[-4000:])
        else:
            result = json.loads(result_path.read_text(encoding="utf-8"))
            if "skipped" in result:
                record.skipped = result["skipped"]
                logger.warning("%s %s skipped: %s", kind, name, record.skipped)
                continue
            record.results.append(result)
            record.rounds.append(round_number)
            record.peak_rss.append(outcome.peak_rss_bytes / MIB)
            record.cpu_seconds.append(result["own_cpu_seconds"] + outcome.descendants_cpu_seconds)
    return measured


def failure_reason(returncode: int, stderr: str) -> str:
    """Return the exception line of a traceback on ``stderr``, or the exit status or signal."""
    exception = [line for line in stderr.splitlines() if EXCEPTION_LINE.match(line)]
    if exception:
        return exception[-1].strip()
    if returncode < 0:
        return f"killed by signal {signal.Signals(-returncode).name}"
    return f"exit status {returncode}"


def _worker_environment(run_dir: Path) -> dict[str, str]:
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPOSITORY), environment.get("PYTHONPATH")]))
    # Keep Hugging Face caches inside the run folder, so that no run reuses another's work.
    environment["HF_HOME"] = str(run_dir / "hf-home")
    environment["HF_DATASETS_CACHE"] = str(run_dir / "hf-datasets")
    environment["HF_HUB_OFFLINE"] = "1"
    return environment


def paired_ratios(rate: dict[int, float], reference_rate: dict[int, float]) -> Summary | None:
    """Summarize ``rate / reference_rate`` over the rounds where both ran; ``None`` if there are none.

    Pairing by round cancels slow drifts of the machine's load, which hit both runs of a round.
    """
    ratios = [rate[r] / reference_rate[r] for r in rate if reference_rate.get(r, 0) > 0]
    return summarize(ratios) if ratios else None


def tokenize_table(measured: dict[str, Runs], inputs: Inputs) -> tuple[str, dict[str, Summary]]:
    """Return the tokenization table and each contender's ratio to the reference."""
    reference = measured[tokenize_contenders.REFERENCE]
    reference_rate = {
        r: inputs.tokens / result["seconds"] for r, result in zip(reference.rounds, reference.results, strict=True)
    }
    rows = []
    ratios: dict[str, Summary] = {}
    for name, record in measured.items():
        if not record.results:
            rows.append([name, "-", "-", "-", "-", "-", record.note()])
            continue
        rate = {r: inputs.tokens / result["seconds"] for r, result in zip(record.rounds, record.results, strict=True)}
        written = summarize(result["tokens_written"] for result in record.results)
        ratio = paired_ratios(rate, reference_rate)
        if ratio is not None:
            ratios[name] = ratio
        rows.append(
            [
                name,
                summarize(v / 1e6 for v in rate.values()).format(3),
                ratio.format(2) if ratio else "-",
                summarize(record.peak_rss).format(0),
                summarize(record.cpu_seconds).format(1),
                f"{written.median:,.0f}",
                record.note(),
            ]
        )
    headers = ["contender", "M tokens/s", "ratio to bare", "peak RSS MiB", "CPU s", "tokens written", "note"]
    return markdown_table(headers, rows), ratios


def load_table(measured: dict[str, Runs]) -> tuple[str, dict[str, Summary]]:
    """Return the loading table and each contender's ratio to the reference."""

    def rates(record: Runs) -> dict[int, float]:
        return {
            r: result["steady_tokens"] / result["steady_seconds"]
            for r, result in zip(record.rounds, record.results, strict=True)
            if result["steady_seconds"] > 0 and result["steady_tokens"] > 0
        }

    reference = measured[load_contenders.REFERENCE]
    reference_rate = rates(reference)
    rows = []
    ratios: dict[str, Summary] = {}
    for name, record in measured.items():
        rate = rates(record)
        if not record.results or not rate:
            note = record.note() or "one batch only: no steady-state rate"
            rows.append([name, "-", "-", "-", "-", "-", "-", note])
            continue
        ratio = paired_ratios(rate, reference_rate)
        if ratio is not None:
            ratios[name] = ratio
        first = record.results[0]
        note = record.note()
        if first["batches"] < MIN_BATCHES:
            note = f"only {int(first['batches'])} batches: too few for a steady rate"
        rows.append(
            [
                name,
                summarize(v / 1e6 for v in rate.values()).format(3),
                ratio.format(3) if ratio else "-",
                summarize(result["first_batch_seconds"] for result in record.results).format(2),
                summarize(record.peak_rss).format(0),
                str(int(first["batches"])),
                "x".join(str(size) for size in first["batch_shape"]),
                note,
            ]
        )
    headers = [
        "contender",
        "M tokens/s",
        "ratio to memmap",
        "first batch s",
        "peak RSS MiB",
        "batches",
        "batch",
        "note",
    ]
    return markdown_table(headers, rows), ratios


def target_lines(tokenize_ratios: dict[str, Summary], load_ratios: dict[str, Summary]) -> list[str]:
    """Return one line per target: the measured median ratio and whether it is met."""
    lines = []
    shards = tokenize_ratios.get("pipeline shards")
    if shards:
        verdict = "met" if shards.median >= SHARDS_TARGET else "missed"
        lines.append(f"- shards stage / bare encode_batch: {shards.median:.3f} (target >= {SHARDS_TARGET}): {verdict}")
    loader = load_ratios.get("pipeline ShardDataset")
    if loader:
        verdict = "met" if loader.median >= LOADER_TARGET else "missed"
        lines.append(
            f"- pipeline loader / bare memmap slice: {loader.median:.3f} (target >= {LOADER_TARGET}): {verdict}"
        )
        for peer in ("datasets with_format(torch)", "datatrove DatatroveFolderDataset", "megatron GPTDataset"):
            if load_ratios.get(peer) and load_ratios[peer].median > 0:
                lines.append(f"- pipeline loader / {peer}: {loader.median / load_ratios[peer].median:.1f}x")
    return lines


def run_stage_benches(*, timeout: float) -> tuple[str, list[str]]:
    """Run each ``bench/bench_<stage>.py`` that exists.

    Returns:
        The Markdown of every report (or why there is none), and the modules that failed.
    """
    sections = []
    failed = []
    for module in STAGE_BENCHES:
        if importlib.util.find_spec(f"bench.{module}") is None:
            sections.append(f"### bench/{module}.py\n\nskipped: bench/{module}.py is not present in this checkout.")
            continue
        logger.info("stage benchmark bench.%s", module)
        environment = dict(os.environ)
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPOSITORY), environment.get("PYTHONPATH")]))
        outcome = run_measured(
            [sys.executable, "-m", f"bench.{module}"], cwd=REPOSITORY, env=environment, timeout=timeout
        )
        if outcome.returncode != 0 or outcome.timed_out:
            reason = f"timed out after {timeout:.0f} s" if outcome.timed_out else f"exit status {outcome.returncode}"
            tail = "\n".join(outcome.stderr.strip().splitlines()[-15:])
            sections.append(f"### bench/{module}.py\n\nfailed: {reason}\n\n```\n{tail}\n```")
            failed.append(module)
            continue
        sections.append(f"### bench/{module}.py ({outcome.wall_seconds:.0f} s)\n\n{outcome.stdout.strip()}")
    return "\n\n".join(sections), failed


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="pipeline YAML config naming the corpus")
    parser.add_argument("--quick", action="store_true", help=f"CI-sized data; the same as {QUICK_ENV}=1")
    parser.add_argument("--runs", type=int, default=MIN_RUNS, help=f"runs per contender, at least {MIN_RUNS}")
    parser.add_argument("--repeat", type=int, help=f"copies of each document (default: {FULL_REPEAT}, quick: 1)")
    parser.add_argument("--limit", type=int, help=f"documents kept per source (default: all, quick: {QUICK_LIMIT})")
    parser.add_argument("--tokenizer", type=Path, help="existing tokenizer.json (default: train one)")
    parser.add_argument("--workdir", type=Path, default=Path("bench/results/work"), help="folder for data and runs")
    parser.add_argument("--output", type=Path, default=Path("bench/results/report.md"), help="Markdown report file")
    parser.add_argument(
        "--only",
        choices=["tokenize", "load", "stages"],
        action="append",
        help="run only this part (repeatable; default: all three)",
    )
    parser.add_argument("--timeout", type=float, help="seconds per measurement (default: 1800, quick: 300)")
    arguments = parser.parse_args(argv)
    if arguments.runs < MIN_RUNS:
        parser.error(f"--runs must be at least {MIN_RUNS} so that the median has a spread, got {arguments.runs}")
    return arguments


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if arguments.quick:
        os.environ[QUICK_ENV] = "1"
    quick = quick_mode()
    repeat = arguments.repeat or (1 if quick else FULL_REPEAT)
    limit = arguments.limit or (QUICK_LIMIT if quick else None)
    timeout = arguments.timeout or (300.0 if quick else 1800.0)
    parts = set(arguments.only or ["tokenize", "load", "stages"])
    command = "python -m bench.run " + " ".join(shlex.quote(argument) for argument in (argv or sys.argv[1:]))
    if quick and not arguments.quick:
        command = f"{QUICK_ENV}=1 {command}"

    inputs = prepare(
        config_path=arguments.config,
        workdir=arguments.workdir,
        cores=cpu_count(),
        limit=limit,
        repeat=repeat,
        tokenizer_path=arguments.tokenizer,
    )
    # An untimed reference run counts the corpus tokens and writes the ids that loaders read.
    reference_dir = inputs.workdir / "reference"
    shutil.rmtree(reference_dir, ignore_errors=True)
    reference_dir.mkdir(parents=True)
    tokenize_contenders.bare_encode_batch(inputs, reference_dir)
    inputs = tokenize_contenders.with_tokens(inputs, reference_dir)
    inputs.save()

    load_at_start = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    sections = ["## Side by side", f"Command: `{command.strip()}`"]
    tokenize: dict[str, Runs] = {}
    load: dict[str, Runs] = {}
    tokenize_ratios: dict[str, Summary] = {}
    load_ratios: dict[str, Summary] = {}
    if "tokenize" in parts:
        names = list(tokenize_contenders.CONTENDERS)
        tokenize = measure("tokenize", names, inputs, runs=arguments.runs, timeout=timeout)
        table, tokenize_ratios = tokenize_table(tokenize, inputs)
        sections += [
            "### Tokenization to disk",
            f"Medians of {arguments.runs} alternating runs (min-max); tokens/s counts the corpus's "
            f"{inputs.tokens:,} content tokens for every contender; CPU s includes worker processes.",
            table,
        ]
    if "load" in parts:
        load = measure_loaders(inputs, runs=arguments.runs, timeout=timeout, reference_dir=reference_dir)
        table, load_ratios = load_table(load)
        sections += [
            "### Loading for training",
            f"One epoch of `[{load_contenders.BATCH_SIZE}, {SEQUENCE_LENGTH}]` batches through `DataLoader` with "
            f"{load_contenders.WORKERS} workers, no shuffling. Tokens/s counts every position of the delivered "
            "id tensors after the first batch; first batch s runs from opening the dataset to the first batch. "
            f"Medians of {arguments.runs} alternating runs (min-max).",
            table,
        ]
    broken = [
        f"{name}: {record.note()}"
        for measured in (tokenize, load)
        for name, record in measured.items()
        if name in OWN_CONTENDERS and (record.failed or record.skipped)
    ]
    targets = target_lines(tokenize_ratios, load_ratios)
    if targets:
        caveat = ["- quick mode: these ratios only check that the harness runs"] if quick else []
        sections += ["### Targets", "\n".join([*targets, *caveat])]
    if "stages" in parts:
        stages, failed_stages = run_stage_benches(timeout=timeout)
        sections += ["### Pipeline stages", stages]
        broken += [f"bench/{module}.py failed" for module in failed_stages]

    # The header goes after the command and reads the load average when measuring has finished.
    header = environment_header(inputs.describe()) + f"\n- load average when measuring started: {load_at_start}"
    sections.insert(2, header)
    report = "\n\n".join(sections) + "\n"
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(report, encoding="utf-8")
    print(report)
    logger.info("report written to %s", arguments.output)
    if broken:
        logger.error("measurements of this pipeline or its references failed: %s", "; ".join(broken))
        return 1
    return 0


def measure_loaders(inputs: Inputs, *, runs: int, timeout: float, reference_dir: Path) -> dict[str, Runs]:
    """Write every loader's data format once, untimed, then measure the loaders that have one."""
    names = list(load_contenders.CONTENDERS)
    unprepared: dict[str, Runs] = {}
    for name, contender in load_contenders.CONTENDERS.items():
        data_dir = load_contenders.data_dir_for(inputs, name)
        shutil.rmtree(data_dir, ignore_errors=True)
        data_dir.mkdir(parents=True)
        try:
            contender.prepare(inputs, reference_dir, data_dir)
        except ImportError as error:
            unprepared[name] = Runs(skipped=f"{type(error).__name__}: {error}")
        except Exception as error:
            logger.exception("preparing data for %s failed", name)
            unprepared[name] = Runs(failed=f"preparing its data: {type(error).__name__}: {error}")
    measured = measure("load", [name for name in names if name not in unprepared], inputs, runs=runs, timeout=timeout)
    return {name: unprepared.get(name) or measured[name] for name in names}


if __name__ == "__main__":
    sys.exit(main())
