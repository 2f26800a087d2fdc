"""Shared helpers for every benchmark under ``bench/``.

Conventions that keep the numbers of different benchmarks comparable:

- A benchmark is a module ``bench/bench_<name>.py`` that runs as ``python -m bench.bench_<name>``
  from the repository root and prints Markdown (a heading, a :func:`environment_header` and one
  or more :func:`markdown_table`) to standard output. ``python -m bench.run`` runs every such
  module after the side-by-side tables and reports the ones that are missing.
- ``BENCH_QUICK=1`` in the environment (see :func:`quick_mode`) requests CI-sized data, so that
  all benchmarks together finish in a few minutes.
- Results are ratios against a baseline measured in the same run. Contenders run alternately,
  in the order :func:`alternating_order` gives, at least three times each, and tables show the
  median with the min-max spread (:func:`summarize`, :class:`Summary`).
- Memory and CPU time come from a separate process per measurement (:func:`run_measured`), so
  one contender's imports, caches and worker pools do not count against another.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import statistics
import subprocess
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

QUICK_ENV = "BENCH_QUICK"
MIN_RUNS = 3
PACKAGES = ("torch", "tokenizers", "numpy", "pyarrow", "datasets", "datatrove", "megatron-core", "fugashi")
MIB = 1 << 20


def quick_mode() -> bool:
    """Return whether ``BENCH_QUICK`` requests CI-sized data (any value but empty, ``0``, ``false`` or ``no``)."""
    return os.environ.get(QUICK_ENV, "").strip().lower() not in ("", "0", "false", "no")


def cpu_count() -> int:
    """Return the number of cores this process may run on (the affinity mask, not the machine total)."""
    return len(os.sched_getaffinity(0))


def alternating_order(names: Sequence[str], runs: int) -> list[tuple[int, str]]:
    """Return ``(run, name)`` pairs so that contenders alternate and none always goes first.

    Round ``r`` runs every contender once, starting ``r`` places further along the list, so a
    slow start (cold page cache, another process waking up) does not always hit the same one.
    """
    if runs < 1:
        raise ValueError(f"runs must be at least 1, got {runs}")
    order: list[tuple[int, str]] = []
    for run in range(runs):
        shift = run % len(names) if names else 0
        order.extend((run, name) for name in [*names[shift:], *names[:shift]])
    return order


@dataclass(frozen=True)
class Summary:
    """Median and spread of repeated measurements of one quantity."""

    median: float
    low: float
    high: float
    count: int

    def format(self, digits: int = 2, *, spread: bool = True) -> str:
        """Format as ``median (low-high)``, with ``digits`` significant decimals."""
        text = f"{self.median:.{digits}f}"
        if spread and self.count > 1:
            text += f" ({self.low:.{digits}f}-{self.high:.{digits}f})"
        return text


def summarize(values: Iterable[float]) -> Summary:
    """Return the median and the min-max spread of ``values`` (at least one)."""
    data = sorted(values)
    if not data:
        raise ValueError("summarize needs at least one value")
    return Summary(median=statistics.median(data), low=data[0], high=data[-1], count=len(data))


@dataclass(frozen=True)
class Measured:
    """Outcome of one process run by :func:`run_measured`.

    Attributes:
        returncode: Exit status; negative when a signal ended the process.
        wall_seconds: Time from start to exit, process start-up and imports included.
        peak_rss_bytes: Largest sum of resident set sizes over the process and all its
            descendants, sampled every ``interval`` seconds.
        descendants_cpu_seconds: User plus system CPU seconds of every descendant process
            (not the process itself), each as last sampled before it exited, so up to
            ``interval`` per descendant is missed.
        stdout: Standard output, decoded as UTF-8.
        stderr: Standard error, decoded as UTF-8.
        timed_out: Whether the process was killed for running past its timeout.
    """

    returncode: int
    wall_seconds: float
    peak_rss_bytes: int
    descendants_cpu_seconds: float
    stdout: str
    stderr: str
    timed_out: bool


def run_measured(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 1800.0,
    interval: float = 0.02,
) -> Measured:
    """Run a command and sample the resident memory of its whole process tree until it exits.

    The tree sum counts pages shared between a parent and its forked workers once per process,
    as ``ps`` and ``top`` do, so it is an upper bound on physical memory. A worker that lives
    shorter than ``interval`` can be missed.

    Args:
        argv: Command and arguments.
        cwd: Working directory. Default: the current one.
        env: Full environment for the command. Default: this process's environment.
        timeout: Seconds before the tree is killed. Default: 1800.
        interval: Seconds between memory samples. Default: 0.02.
    """
    started = time.perf_counter()
    with subprocess.Popen(
        list(argv), cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    ) as process:
        # communicate() drains both pipes in a helper thread while this thread samples memory.
        output: dict[str, bytes] = {}
        reader = threading.Thread(target=lambda: output.update(zip(("out", "err"), process.communicate(), strict=True)))
        reader.start()
        peak = 0
        cpu_by_process: dict[tuple[int, float], float] = {}
        timed_out = False
        root = psutil.Process(process.pid)
        while reader.is_alive():
            peak = max(peak, _sample_tree(root, cpu_by_process))
            if time.perf_counter() - started > timeout:
                timed_out = True
                _kill_tree(root)
                break
            reader.join(interval)
        reader.join()
    return Measured(
        returncode=process.returncode,
        wall_seconds=time.perf_counter() - started,
        peak_rss_bytes=peak,
        descendants_cpu_seconds=sum(cpu_by_process.values()),
        stdout=output.get("out", b"").decode("utf-8", "replace"),
        stderr=output.get("err", b"").decode("utf-8", "replace"),
        timed_out=timed_out,
    )


def _sample_tree(root: psutil.Process, cpu_by_process: dict[tuple[int, float], float]) -> int:
    """Return the tree's summed RSS and record each descendant's CPU seconds in ``cpu_by_process``.

    Keys are ``(pid, create_time)``, so a reused process id starts a new entry.
    """
    total = 0
    try:
        descendants = root.children(recursive=True)
    except psutil.Error:
        return 0
    for process in [root, *descendants]:
        try:
            with process.oneshot():
                total += process.memory_info().rss
                if process is not root:
                    times = process.cpu_times()
                    cpu_by_process[(process.pid, process.create_time())] = times.user + times.system
        except psutil.Error:
            continue  # The process exited between listing and reading.
    return total


def _kill_tree(root: psutil.Process) -> None:
    try:
        processes = [*root.children(recursive=True), root]
    except psutil.Error:
        return
    for process in processes:
        try:
            process.kill()
        except psutil.Error:
            continue


def package_version(name: str) -> str:
    """Return the installed version of a distribution, or ``not installed``."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def environment_header(corpus: str, *, packages: Sequence[str] = PACKAGES) -> str:
    """Return Markdown lines naming the machine, the software versions and the corpus measured.

    Args:
        corpus: One line describing the data, such as ``livedoor: 360 documents, 1.9 MB``.
        packages: Distributions whose versions to list. Default: :data:`PACKAGES`.
    """
    memory = psutil.virtual_memory().total / (1 << 30)
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    versions = ", ".join(f"{name} {package_version(name)}" for name in packages)
    lines = [
        f"- machine: {_cpu_model()}, {cpu_count()} cores usable, {memory:.1f} GiB memory, load average now {load}",
        f"- software: Python {platform.python_version()} on {platform.system()} {platform.release()}; {versions}",
        f"- corpus: {corpus}",
    ]
    if quick_mode():
        lines.append(f"- quick mode ({QUICK_ENV}=1): CI-sized data, for checking the harness, not for conclusions")
    return "\n".join(lines)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[object]], *, text_columns: int = 1) -> str:
    """Format rows as a GitHub Markdown table.

    Args:
        headers: Column names.
        rows: Cells, one sequence per row, as many as ``headers``.
        text_columns: The first ``text_columns`` columns and the last column are left-aligned
            (labels and notes); the others are right-aligned numbers. Default: 1.
    """
    align = [":---" if index < text_columns or index == len(headers) - 1 else "---:" for index in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"row {row!r} has {len(row)} cells, expected {len(headers)}")
        cells = [str(cell).replace("|", "\\|").replace("\n", " ") for cell in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
