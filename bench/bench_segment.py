"""Benchmark MeCab segmentation: throughput with one and two worker processes.

Segments every document of the shared Livedoor and jawiki samples (jawiki pages are read
as raw wikitext, markup included) with :func:`pipeline.segment.segment_documents` and
reports megabytes of UTF-8 text per second and the 2-worker to 1-worker speed ratio. Runs
alternate between the two settings and medians are reported, because other work on the
machine makes single timings noisy. As a baseline from the same run, the same ratio is
measured for pure-Python CPU work split over two processes: it shows how much parallelism
the machine gave at the time. Worker start-up is part of every parallel run.

Usage::

    PYTHONPATH=. python bench/bench_segment.py [--repeats 3] [--copies 2]
"""

from __future__ import annotations

import argparse
import bz2
import multiprocessing
import os
import statistics
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from pipeline.config import SourceConfig
from pipeline.document import Document
from pipeline.segment import segment_documents
from pipeline.sources import ReaderReject
from pipeline.sources.livedoor import read as read_livedoor

SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpora"
LIVEDOOR = SHARED / "livedoor" / "ldcc-sample.tar.gz"
JAWIKI = SHARED / "jawiki" / "jawiki-20230501-pages-articles-sample.xml.bz2"


def load_documents() -> list[Document]:
    """Return the Livedoor articles and the jawiki page texts of the shared samples."""
    records = read_livedoor(SourceConfig(path=LIVEDOOR), raw_dir=Path("unused"))
    documents = [record for record in records if not isinstance(record, ReaderReject)]
    with bz2.open(JAWIKI) as dump:
        for _, element in ElementTree.iterparse(dump):
            if element.tag.endswith("}text"):
                text = element.text or ""
                documents.append(Document(id=f"jawiki/{len(documents)}", source="jawiki", title="", text=text))
            if element.tag.endswith("}page"):
                element.clear()
    return documents


def burn(iterations: int) -> int:
    """Pure-Python CPU work, the baseline for how much parallelism the machine gives now."""
    total = 0
    for value in range(iterations):
        total += value * value
    return total


def time_baseline(workers: int, iterations: int) -> float:
    """Time two units of CPU work in one process, or split over two worker processes."""
    started = time.perf_counter()
    if workers == 1:
        burn(iterations)
        burn(iterations)
    else:
        with multiprocessing.get_context("forkserver").Pool(2) as pool:
            pool.map(burn, [iterations, iterations])
    return time.perf_counter() - started


def time_run(documents: list[Document], workers: int) -> float:
    started = time.perf_counter()
    for _ in segment_documents(documents, workers=workers):
        pass
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per setting (default: 3)")
    parser.add_argument("--copies", type=int, default=2, help="copies of the samples per run (default: 2)")
    parser.add_argument(
        "--baseline-iterations",
        type=int,
        default=20_000_000,
        help="loop iterations per unit of baseline CPU work (default: 20000000)",
    )
    arguments = parser.parse_args()

    documents = load_documents() * arguments.copies
    megabytes = sum(len(document.text.encode()) for document in documents) / 1e6
    print(f"{len(documents)} documents, {megabytes:.1f} MB of UTF-8 text per run")
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    wall: dict[int, list[float]] = {1: [], 2: []}
    baseline: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(arguments.repeats):
        for workers in (1, 2):
            wall[workers].append(time_run(documents, workers))
            baseline[workers].append(time_baseline(workers, arguments.baseline_iterations))

    medians = {workers: statistics.median(times) for workers, times in wall.items()}
    for workers, median in medians.items():
        runs = ", ".join(f"{value:.2f}" for value in wall[workers])
        print(f"workers={workers}: median {median:.2f} s ({runs}), {megabytes / median:.2f} MB/s")
    baseline_medians = {workers: statistics.median(times) for workers, times in baseline.items()}
    print(f"2-worker to 1-worker speed ratio: {medians[1] / medians[2]:.2f}")
    print(
        "baseline, pure-Python CPU work in 2 processes against 1: "
        f"{baseline_medians[1] / baseline_medians[2]:.2f} (2.00 on two idle cores)"
    )
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
