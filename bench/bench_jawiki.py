"""Throughput of the jawiki dump route: wikitext to prose, on 1 and 2 worker processes.

Run from the repository root:

    PYTHONPATH=$PWD python bench/bench_jawiki.py [--dump PATH] [--repeat 8] [--runs 3]

Three measurements, each the median of ``--runs`` runs; the runs alternate 1 and 2 workers so
that load from other processes hits both alike:

- conversion: the dump's articles, read into memory once and repeated ``--repeat`` times, go
  through ``ordered_map(page_to_document)``; this is the part that runs on every core.
- end to end: ``jawiki.read`` over a multistream bz2 dump that contains the dump's pages
  ``--repeat`` times, written to a temporary folder first. With 1 worker, a thread
  decompresses while the main thread parses and converts; with 2, each worker decompresses,
  parses and converts whole bz2 streams.
- reading: ``iter_pages`` alone over that dump (decompression and XML parsing, no
  conversion), the part that stays serial in a single-stream dump.

Besides wall-clock time, each run records the CPU time of all processes. MB per CPU-second
shows the work per core even when other processes share the machine, and "cores used" (CPU
time over wall-clock time) shows how much of the machine the run actually got.

Throughput is megabytes (10^6 bytes) of UTF-8 wikitext per second. The projection for full
jawiki scales the measured time per article to 1.4 million articles; it is an estimate.
"""

from __future__ import annotations

import argparse
import bz2
import functools
import re
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pipeline.config import SourceConfig
from pipeline.sources import jawiki, jawiki_dump
from pipeline.sources.mediawiki_xml import iter_pages
from pipeline.sources.ordered_map import ordered_map

SHARED_CORPORA = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"
SAMPLE = SHARED_CORPORA / "jawiki" / "jawiki-20230501-pages-articles-sample.xml.bz2"
FULL_JAWIKI_ARTICLES = 1_400_000


def cpu_seconds() -> float:
    """Return the CPU time of this process and of its finished child processes, in seconds."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def median_seconds(runs: int, work: dict[int, Callable[[], object]]) -> dict[int, tuple[float, float]]:
    """Run each callable ``runs`` times, alternating between them.

    Returns the median wall-clock seconds and the median CPU seconds (all processes) by key.
    """
    times: dict[int, list[tuple[float, float]]] = {key: [] for key in work}
    for _ in range(runs):
        for key, function in work.items():
            wall, cpu = time.perf_counter(), cpu_seconds()
            function()
            times[key].append((time.perf_counter() - wall, cpu_seconds() - cpu))
    return {
        key: (statistics.median(wall for wall, _ in values), statistics.median(cpu for _, cpu in values))
        for key, values in times.items()
    }


def write_repeated_dump(dump: Path, repeat: int, destination: Path) -> Path:
    """Write the pages of ``dump``, repeated ``repeat`` times, as a multistream bz2 dump.

    Like the multistream dumps on dumps.wikimedia.org, the header, every 100 pages and the
    closing tag are separate bz2 streams written back to back.
    """
    with bz2.open(dump, "rt", encoding="utf-8") if dump.suffix == ".bz2" else dump.open(encoding="utf-8") as handle:
        xml = handle.read()
    start = xml.index("  <page>")
    end = xml.rindex("</mediawiki>")
    pages = re.findall(r"  <page>.*?</page>\n", xml[start:end], flags=re.DOTALL) * repeat
    streams = [xml[:start], *("".join(pages[index : index + 100]) for index in range(0, len(pages), 100)), xml[end:]]
    path = destination / "repeated-pages-articles-multistream.xml.bz2"
    path.write_bytes(b"".join(bz2.compress(stream.encode()) for stream in streams))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dump", type=Path, default=SAMPLE, help="MediaWiki dump (.xml or .xml.bz2)")
    parser.add_argument("--repeat", type=int, default=8, help="copies of the articles in the conversion run")
    parser.add_argument("--runs", type=int, default=3, help="runs per worker count; the median is reported")
    arguments = parser.parse_args()

    pages = [page for page in iter_pages(arguments.dump, source="bench") if page.namespace == 0 and not page.redirect]
    megabytes = sum(len(page.text.encode()) for page in pages) / 1e6
    print(f"dump {arguments.dump.name}: {len(pages)} articles, {megabytes:.2f} MB of wikitext")

    convert = functools.partial(jawiki_dump.page_to_document, keep_reference_sections=False)
    repeated = pages * arguments.repeat

    def conversion(workers: int) -> Callable[[], object]:
        return lambda: sum(1 for _ in ordered_map(convert, repeated, workers=workers, weight=jawiki_dump.page_size))

    conversion_times = median_seconds(arguments.runs, {1: conversion(1), 2: conversion(2)})

    with tempfile.TemporaryDirectory() as folder:
        repeated_dump = write_repeated_dump(arguments.dump, arguments.repeat, Path(folder))
        config = SourceConfig(path=repeated_dump)

        def end_to_end(workers: int) -> Callable[[], object]:
            return lambda: sum(1 for _ in jawiki.read(config, raw_dir=Path(folder), workers=workers))

        end_to_end_times = median_seconds(arguments.runs, {1: end_to_end(1), 2: end_to_end(2)})
        reading_times = median_seconds(
            arguments.runs, {1: lambda: sum(1 for _ in iter_pages(repeated_dump, source="bench"))}
        )

    size = megabytes * arguments.repeat
    print(
        f"{'measurement':<12} {'workers':>7} {'wall s':>8} {'CPU s':>8} {'cores used':>10} {'MB/s':>7} "
        f"{'MB/s/core':>9} {'MB/CPU-s':>8} {'2:1 speed-up':>12}"
    )
    for name, times in (("conversion", conversion_times), ("end to end", end_to_end_times), ("reading", reading_times)):
        for workers, (wall, cpu) in times.items():
            speedup = f"{times[1][0] / times[2][0]:.2f}" if workers == 2 else ""
            print(
                f"{name:<12} {workers:>7} {wall:>8.3f} {cpu:>8.3f} {cpu / wall:>10.2f} {size / wall:>7.2f} "
                f"{size / wall / workers:>9.2f} {size / cpu:>8.2f} {speedup:>12}"
            )

    per_article = end_to_end_times[2][0] / (len(pages) * arguments.repeat)
    hours = FULL_JAWIKI_ARTICLES * per_article / 3600
    print(
        f"estimate for {FULL_JAWIKI_ARTICLES:,} articles of this sample's mean length "
        f"({megabytes * 1e3 / len(pages):.0f} kB): {hours:.1f} h end to end with 2 workers"
    )


if __name__ == "__main__":
    main()
