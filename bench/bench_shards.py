"""Shards stage throughput and memory against bare ``Tokenizer.encode_batch``.

    python -m bench.bench_shards [--config configs/shared.yaml] [--repeat 4] [--runs 3]

Prepares the cleaned corpus and the tokenizer of ``--config`` once (under ``--workdir``), then
alternates two contenders ``--runs`` times on the same Parquet files (the corpus repeated
``--repeat`` times):

- reference: load the tokenizer, read the ``text`` column, ``encode_batch`` in batches of the
  stage's ``batch_size``, and write the ids as ``uint16`` with numpy;
- stage: ``pipeline.shards.run`` with the config's settings (global masks, windows, both
  splits, manifests and checksums included).

Throughput is content tokens per second of wall time; the ratio of the medians is the score
(target: at least 0.9). The median of per-run ratios and the ratio of CPU seconds are printed
too, because they vary less when other processes load the machine. Peak RSS of the stage is
measured in a fresh process on the corpus repeated once and ``--rss-repeat`` times.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from pipeline import corpus, shards, tokenizer
from pipeline.config import Config, load_config, parse_config
from pipeline.tokenizer import TOKENIZER_FILE, load_tokenizer

REPOSITORY = Path(__file__).resolve().parents[1]


def prepare(config_path: Path, workdir: Path, *, repeat: int, shard_settings: dict[str, Any]) -> Config:
    """Clean the corpus and train the tokenizer once, then return a config over ``repeat`` copies."""
    base = load_config(config_path)
    sources = {name: {"path": str(source.path)} if source.path else {} for name, source in base.sources.items()}
    prepared = parse_config(
        {
            "corpora_dir": str(workdir / "corpora"),
            "outputs_dir": str(workdir / "outputs"),
            "sources": sources,
            "tokenizer": {"vocab_size": base.tokenizer.vocab_size},
        }
    )
    if not (prepared.tokenizer_dir / TOKENIZER_FILE).exists():
        corpus.run(prepared)
        tokenizer.run(prepared)

    # The repeated corpus is the cleaned files copied under new names, read as more documents.
    copies = workdir / f"corpora-x{repeat}"
    if not copies.exists():
        for name in sources:
            folder = copies / "clean" / name
            folder.mkdir(parents=True)
            for file in sorted((prepared.clean_dir / name).glob("*.parquet")):
                for copy in range(repeat):
                    shutil.copy(file, folder / f"{file.stem}-copy{copy:03d}.parquet")
    config = parse_config(
        {
            "corpora_dir": str(copies),
            "outputs_dir": str(workdir / f"outputs-x{repeat}"),
            "sources": sources,
            "shards": {**_shard_settings(base), **shard_settings},
        }
    )
    if not config.tokenizer_dir.exists():
        shutil.copytree(prepared.tokenizer_dir, config.tokenizer_dir)
    return config


def _shard_settings(config: Config) -> dict[str, Any]:
    settings = config.shards
    return {"layout": settings.layout, "max_len": settings.max_len, "batch_size": settings.batch_size}


def parquet_files(config: Config) -> list[Path]:
    return sorted(file for name in config.sources for file in (config.clean_dir / name).glob("*.parquet"))


def run_reference(config: Config, output: Path) -> int:
    """Encode every text with bare ``encode_batch`` and write ``uint16`` ids; return the token count."""
    bare = load_tokenizer(config.tokenizer_dir / TOKENIZER_FILE)
    tokens = 0
    with output.open("wb") as sink:
        for file in parquet_files(config):
            for batch in pq.ParquetFile(file).iter_batches(batch_size=config.shards.batch_size, columns=["text"]):
                encodings = bare.encode_batch(batch.column(0).to_pylist(), add_special_tokens=False)
                count = sum(len(encoding) for encoding in encodings)
                ids = np.fromiter(
                    itertools.chain.from_iterable(encoding.ids for encoding in encodings), dtype=np.uint16, count=count
                )
                ids.tofile(sink)
                tokens += count
    return tokens


def run_stage(config: Config) -> int:
    """Run the shards stage on an empty shards folder and return the content tokens it wrote."""
    # Finished units of an earlier run would be skipped, so each timed run starts from nothing.
    shutil.rmtree(config.shards_dir, ignore_errors=True)
    root = shards.run(config)
    total = 0
    for split in shards.SPLITS:
        manifest = json.loads((root / split / shards.MANIFEST_FILE).read_text())
        total += sum(source["content_tokens"] for source in manifest["sources"].values())
    return total


def peak_rss_mib(config: Config, workdir: Path, contender: str) -> float:
    """Run ``stage`` or ``reference`` in a fresh process and return its peak resident set size in MiB."""
    config_file = workdir / "rss-config.json"
    config_file.write_text(
        json.dumps(
            {
                "corpora_dir": str(config.corpora_dir),
                "outputs_dir": str(config.outputs_dir),
                "sources": {name: {} for name in config.sources},
                "shards": {"layout": config.shards.layout, "max_len": config.shards.max_len},
            }
        )
    )
    code = (
        "import json, resource, sys, logging\n"
        "logging.disable(logging.INFO)\n"
        "from pathlib import Path\n"
        "from pipeline.config import parse_config\n"
        "from bench.bench_shards import run_reference, run_stage\n"
        "config = parse_config(json.load(open(sys.argv[1])))\n"
        "if sys.argv[2] == 'stage':\n"
        "    run_stage(config)\n"
        "else:\n"
        "    run_reference(config, Path(sys.argv[3]))\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(config_file), contender, str(workdir / "rss-reference-ids.bin")],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        check=True,
    )
    return int(result.stdout.split()[-1]) / 1024


def summarize(name: str, values: list[float], reference: float | None, cpu: list[float]) -> str:
    median = statistics.median(values)
    ratio = f"{median / reference:.3f}" if reference else "1.000"
    spread = f"{min(values) / 1e3:,.0f}–{max(values) / 1e3:,.0f}"
    return f"| {name} | {median / 1e3:,.0f} | {spread} | {ratio} | {statistics.median(cpu):.2f} |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=REPOSITORY / "configs" / "shared.yaml", help="corpus config")
    parser.add_argument(
        "--workdir", type=Path, default=REPOSITORY / "bench" / "results" / "shards", help="scratch folder"
    )
    parser.add_argument("--repeat", type=int, default=4, help="copies of the corpus in the timed runs (default: 4)")
    parser.add_argument("--runs", type=int, default=3, help="alternating runs per contender (default: 3)")
    parser.add_argument("--rss-repeat", type=int, default=20, help="copies for the peak-RSS run (default: 20)")
    parser.add_argument("--no-rss", action="store_true", help="skip the peak-RSS comparison")
    parser.add_argument("--layout", choices=["window", "packed"], help="shard layout (default: the config's)")
    arguments = parser.parse_args(argv)

    import logging

    logging.disable(logging.INFO)
    workdir = arguments.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    overrides = {"layout": arguments.layout} if arguments.layout else {}
    config = prepare(arguments.config, workdir, repeat=arguments.repeat, shard_settings=overrides)
    reference_output = workdir / "reference-ids.bin"

    speeds: dict[str, list[float]] = {"reference": [], "stage": []}
    cpu_seconds: dict[str, list[float]] = {"reference": [], "stage": []}
    tokens: dict[str, int] = {}
    for run in range(arguments.runs):
        # Alternate which contender goes first, so drift in machine load hits both.
        order = ["reference", "stage"] if run % 2 == 0 else ["stage", "reference"]
        for name in order:
            start, start_cpu = time.perf_counter(), time.process_time()
            count = run_reference(config, reference_output) if name == "reference" else run_stage(config)
            speeds[name].append(count / (time.perf_counter() - start))
            cpu_seconds[name].append(time.process_time() - start_cpu)
            tokens[name] = count
    if tokens["reference"] != tokens["stage"]:
        raise SystemExit(f"token counts differ: reference {tokens['reference']}, stage {tokens['stage']}")

    reference = statistics.median(speeds["reference"])
    print(f"machine: {platform.machine()}, {platform.processor() or 'unknown CPU'}, python {platform.python_version()}")
    print(f"corpus: {arguments.config} x{arguments.repeat}, {tokens['stage']:,} content tokens")
    print(f"settings: {json.dumps(_shard_settings(config))}, policies {list(config.shards.policies)}")
    print()
    print("| contender | median k tokens/s | min–max | ratio to reference | median CPU s |")
    print("|---|---|---|---|---|")
    print(
        summarize("bare encode_batch + numpy uint16 (reference)", speeds["reference"], None, cpu_seconds["reference"])
    )
    print(summarize("shards stage", speeds["stage"], reference, cpu_seconds["stage"]))
    print()
    # Each run times both contenders back to back, so both run under similar machine load.
    paired = [stage / bare for stage, bare in zip(speeds["stage"], speeds["reference"], strict=True)]
    cpu_ratio = statistics.median(cpu_seconds["reference"]) / statistics.median(cpu_seconds["stage"])
    ratio_of_medians = statistics.median(speeds["stage"]) / reference
    print(f"shards stage / reference, ratio of medians over {arguments.runs} runs: {ratio_of_medians:.3f}")
    print(f"median of per-run ratios: {statistics.median(paired):.3f} (min–max {min(paired):.3f}–{max(paired):.3f})")
    print(f"CPU-time ratio (reference CPU s / stage CPU s, medians): {cpu_ratio:.3f}")

    if not arguments.no_rss:
        one = prepare(arguments.config, workdir, repeat=1, shard_settings=overrides)
        many = prepare(arguments.config, workdir, repeat=arguments.rss_repeat, shard_settings=overrides)
        rss_one, rss_many = peak_rss_mib(one, workdir, "stage"), peak_rss_mib(many, workdir, "stage")
        rss_reference = peak_rss_mib(many, workdir, "reference")
        print(
            f"peak RSS of the stage: x1 {rss_one:.0f} MiB, x{arguments.rss_repeat} {rss_many:.0f} MiB, "
            f"ratio {rss_many / rss_one:.2f}; reference on x{arguments.rss_repeat}: {rss_reference:.0f} MiB"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
