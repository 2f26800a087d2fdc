"""One measurement in its own process: ``python -m bench.worker KIND NAME WORKDIR RUN_DIR RESULT``.

``KIND`` is ``tokenize`` or ``load``, ``NAME`` a contender label from
:mod:`bench.tokenize_contenders` or :mod:`bench.load_contenders`, ``WORKDIR`` the folder holding
``inputs.json``, ``RUN_DIR`` an empty folder for the contender's output or caches, and
``RESULT`` the JSON file this process writes. The result contains the timings, or ``skipped``
with the ``ImportError`` message when a peer is not installed. Any other error exits with
status 1 and a traceback on standard error.
"""

from __future__ import annotations

import importlib
import json
import resource
import sys
import time
from pathlib import Path

from bench.prepare import Inputs


def own_cpu_seconds() -> float:
    """Return user plus system CPU seconds of this process, all its threads included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure_tokenize(name: str, inputs: Inputs, run_dir: Path) -> dict[str, object]:
    from bench.tokenize_contenders import CONTENDERS

    contender = CONTENDERS[name]
    for module in contender.imports:
        importlib.import_module(module)
    cpu_before = own_cpu_seconds()
    started = time.perf_counter()
    contender.run(inputs, run_dir)
    seconds = time.perf_counter() - started
    cpu = own_cpu_seconds() - cpu_before
    return {"seconds": seconds, "own_cpu_seconds": cpu, "tokens_written": contender.count(inputs, run_dir)}


def measure_load(name: str, inputs: Inputs, run_dir: Path) -> dict[str, object]:
    from bench.load_contenders import CONTENDERS, batch_ids, data_dir_for

    contender = CONTENDERS[name]
    data_dir = data_dir_for(inputs, name)
    for module in contender.imports:
        importlib.import_module(module)
    cpu_before = own_cpu_seconds()
    started = time.perf_counter()
    loader = contender.build(inputs, data_dir, run_dir)
    batches = iter(loader)
    first = batch_ids(next(batches), contender.key)
    first_batch_seconds = time.perf_counter() - started

    tokens = 0
    count = 1
    for batch in batches:
        tokens += batch_ids(batch, contender.key).numel()
        count += 1
    seconds = time.perf_counter() - started
    return {
        "first_batch_seconds": first_batch_seconds,
        "seconds": seconds,
        "steady_seconds": seconds - first_batch_seconds,
        "steady_tokens": tokens,
        "batches": count,
        "batch_shape": list(first.shape),
        "own_cpu_seconds": own_cpu_seconds() - cpu_before,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 5 or argv[0] not in ("tokenize", "load"):
        print(__doc__, file=sys.stderr)
        return 2
    kind, name, workdir, run_dir, result_path = argv
    inputs = Inputs.load(Path(workdir))
    measure = measure_tokenize if kind == "tokenize" else measure_load
    try:
        result = measure(name, inputs, Path(run_dir))
    except ImportError as error:
        result = {"skipped": f"{type(error).__name__}: {error}"}
    Path(result_path).write_text(json.dumps(result) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
