"""Benchmark of the corpus stage: peak memory on a 20-fold Livedoor sample, and throughput per source.

Usage::

    PYTHONPATH=$PWD python bench/bench_corpus.py [--repeats 3] [--copies 20]

Memory: the shared Livedoor sample (360 articles) is rewritten into temporary tarballs that
contain it 10 and ``--copies`` times. Each copy gets distinct member names and one extra body
line naming the copy, so exact deduplication keeps every copy and all of them pass through
every filter and the writer. Each run happens in a fresh subprocess, which reports its peak
RSS (``resource.getrusage``). The ratio of the 20-fold run to the single copy shows whether
memory grows with the input. The single copy (360 documents) never fills one Parquet row
group of 1000 documents, so the ratio to the 10-fold run is printed too. It separates growth
with the input from the fixed cost of buffering one full row group.

Throughput: each source sample, repeated ``--copies`` times in the same way, is cleaned with
the default filters and, as the baseline, with no filters (read and write only). Throughput
is the UTF-8 size of the documents' text as read, divided by the time ``corpus.run`` takes
after a warm-up that loads the libraries pyarrow imports lazily. Runs alternate and the
medians of ``--repeats`` runs are reported, because other processes share the CPU.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

REPOSITORY = Path(__file__).resolve().parents[1]
SHARED = REPOSITORY.parent / "shared" / "corpora"
SAMPLES = {
    "livedoor": SHARED / "livedoor" / "ldcc-sample.tar.gz",
    "wikitext": SHARED / "wikitext" / "wikitext-2-raw",
}


def build_copies(sample: Path, destination: Path, copies: int) -> Path:
    """Write a tarball with every article of ``sample`` repeated ``copies`` times under distinct names."""
    articles: list[tuple[str, bytes]] = []
    with tarfile.open(sample, "r|*") as archive:
        for member in archive:
            handle = archive.extractfile(member) if member.isfile() else None
            if handle is not None:
                articles.append((member.name, handle.read()))

    with tarfile.open(destination, "w:gz") as output:
        for copy in range(copies):
            for name, content in articles:
                path = PurePosixPath(name)
                if path.suffix != ".txt" or path.name in {"LICENSE.txt", "README.txt", "CHANGES.txt"}:
                    if copy:
                        continue
                    data = content
                else:
                    path = path.with_name(f"{path.stem}-copy{copy:02d}.txt")
                    lines = content.split(b"\n")
                    data = b"\n".join([*lines[:3], f"copy {copy}".encode(), *lines[3:]])
                info = tarfile.TarInfo(str(path))
                info.size = len(data)
                output.addfile(info, io.BytesIO(data))
    return destination


def build_wikitext_copies(sample: Path, destination: Path, copies: int) -> Path:
    """Write ``wiki.test.raw`` with every article of ``sample`` repeated ``copies`` times, each with a copy line."""
    lines = (sample / "wiki.test.raw").read_text(encoding="utf-8").splitlines()
    destination.mkdir(parents=True)
    with (destination / "wiki.test.raw").open("w", encoding="utf-8") as output:
        for copy in range(copies):
            for line in lines:
                output.write(line + "\n")
                if line.startswith(" = ") and not line.startswith(" = = "):
                    output.write(f" copy {copy} \n")
    return destination


def text_bytes(source: str, path: Path) -> int:
    """Return the UTF-8 size of the text of every document a source reader yields."""
    from pipeline.config import SourceConfig
    from pipeline.sources import ReaderReject, get_reader

    total = 0
    for record in get_reader(source)(SourceConfig(path=path), raw_dir=Path(tempfile.gettempdir())):
        document = record.document if isinstance(record, ReaderReject) else record
        total += len(document.text.encode("utf-8"))
    return total


def run_child(source: str, path: Path, work: Path, filters: list[Any] | None) -> dict[str, float]:
    """Run the corpus stage in a fresh interpreter; return its seconds and peak RSS in MiB."""
    config: dict[str, Any] = {"corpora_dir": str(work / "corpora"), "sources": {source: {"path": str(path)}}}
    if filters is not None:
        config["clean"] = {"filters": filters}
    work.mkdir(parents=True)
    config_file = work / "config.yaml"
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    completed = subprocess.run(
        [sys.executable, __file__, "--child", str(config_file)],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def child(config_file: Path) -> None:
    """Run the corpus stage once and print its duration and this process's peak RSS as JSON."""
    from pipeline import corpus
    from pipeline.config import load_config
    from pipeline.document import Document
    from pipeline.parquet import documents_to_table

    config = load_config(config_file)
    # The first Arrow conversion imports pandas, a one-time cost of about a second.
    documents_to_table([Document(id="warm/up", source="warm", title="", text="")])
    started = time.perf_counter()
    corpus.run(config)
    seconds = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # ru_maxrss is in KiB on Linux
    print(json.dumps({"seconds": seconds, "peak_rss_mib": peak_mib}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement; medians are reported")
    parser.add_argument("--copies", type=int, default=20, help="copies of the Livedoor sample in the memory run")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        child(arguments.child)
        return

    for path in SAMPLES.values():
        if not path.exists():
            sys.exit(f"corpus sample {path} not found; run from a checkout beside ../shared/corpora")

    with tempfile.TemporaryDirectory(prefix="bench-corpus-") as temporary:
        root = Path(temporary)
        inputs = {1: SAMPLES["livedoor"]}
        for copies in (10, arguments.copies):
            inputs[copies] = build_copies(SAMPLES["livedoor"], root / f"ldcc-x{copies}.tar.gz", copies)

        runs: dict[int, list[dict[str, float]]] = {copies: [] for copies in inputs}
        for index in range(arguments.repeats):
            for copies, path in inputs.items():
                runs[copies].append(run_child("livedoor", path, root / f"x{copies}-{index}", None))
        rss = {copies: statistics.median(run["peak_rss_mib"] for run in runs[copies]) for copies in inputs}
        seconds = {copies: statistics.median(run["seconds"] for run in runs[copies]) for copies in inputs}

        largest = arguments.copies
        print(f"## memory: Livedoor sample x1, x10 and x{largest}, default filters")
        print("peak RSS: " + ", ".join(f"x{copies} {rss[copies]:.1f} MiB" for copies in inputs))
        print(f"peak RSS ratio x{largest}/x1: {rss[largest] / rss[1]:.3f}")
        print(f"peak RSS ratio x{largest}/x10: {rss[largest] / rss[10]:.3f}")
        per_document = {copies: seconds[copies] / copies for copies in inputs}
        print(f"time per document ratio x{largest}/x1: {per_document[largest] / per_document[1]:.2f}")

        print(f"## throughput: samples x{largest}, default filters against no filters (read and write only)")
        repeated = {
            "livedoor": inputs[largest],
            "wikitext": build_wikitext_copies(SAMPLES["wikitext"], root / f"wikitext-x{largest}", largest),
        }
        for source, path in repeated.items():
            megabytes = text_bytes(source, path) / 1e6
            timings: dict[str, list[float]] = {"baseline": [], "filters": []}
            for index in range(arguments.repeats):
                timings["baseline"].append(run_child(source, path, root / f"{source}-base-{index}", [])["seconds"])
                timings["filters"].append(run_child(source, path, root / f"{source}-full-{index}", None)["seconds"])
            baseline = statistics.median(timings["baseline"])
            filtered = statistics.median(timings["filters"])
            print(
                f"{source}: {megabytes:.2f} MB of text; no filters {megabytes / baseline:.2f} MB/s, "
                f"default filters {megabytes / filtered:.2f} MB/s; time ratio filters/no filters "
                f"{filtered / baseline:.2f}"
            )


if __name__ == "__main__":
    main()
