"""SIGKILL harness: run a stage as ``python -m pipeline``, kill it mid-way, compare outputs.

A stage is resumable when a run killed at any moment, followed by a plain rerun, leaves
exactly the bytes of an uninterrupted run. :func:`kill_stage` starts the stage in a
subprocess, waits until a trigger detects the moment of interest (a temporary file appearing,
a log line), sleeps a seeded random delay and sends SIGKILL. :func:`snapshot` records every
output file's hash for the comparison.

Two ways to stop a stage at a chosen point:

- a timed kill (:func:`kill_stage`), which can land anywhere, including inside a write;
- the fault-injection hook of :mod:`pipeline.units`: setting ``PIPELINE_FAULT_AFTER=n`` in
  ``environment`` makes a stage that writes through :class:`pipeline.units.UnitStore` kill
  itself at its ``n``-th commit step, between two steps a timed kill rarely separates.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipeline.lock import LOCK_FILE
from pipeline.units import FAULT_ENVIRONMENT
from tests.conftest import REPOSITORY

VOLATILE_KEYS = frozenset({"seconds", "peak_memory_bytes"})
"""JSON keys whose values are timings or memory readings, left out of :func:`snapshot`."""


@dataclass(frozen=True)
class KillOutcome:
    """What happened to one run that was meant to be killed.

    Attributes:
        returncode: Exit status; ``-9`` when SIGKILL ended it.
        killed: Whether the harness sent SIGKILL while the stage was still running.
        delay: Seconds between the trigger and the kill.
        log: Everything the stage wrote to stderr.
    """

    returncode: int
    killed: bool
    delay: float
    log: str


def stage_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the environment for a stage subprocess: this checkout first on ``PYTHONPATH``, no fault hook."""
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY)}
    environment.pop(FAULT_ENVIRONMENT, None)
    environment.update(extra or {})
    return environment


def stage_command(stage: str, config: Path, *arguments: str) -> list[str]:
    return [sys.executable, "-m", "pipeline", stage, "--config", str(config), *arguments]


def write_config(path: Path, data: Mapping[str, Any]) -> Path:
    """Write a config mapping as YAML (JSON is valid YAML) and return its path."""
    path.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    return path


def run_stage(
    stage: str, config: Path, *, environment: Mapping[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """Run a stage to its end; raise ``AssertionError`` with its log when it fails."""
    result = subprocess.run(
        stage_command(stage, config),
        env=stage_environment(environment),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise AssertionError(f"stage {stage} exited with {result.returncode}:\n{result.stderr[-4000:]}")
    return result


def kill_stage(
    stage: str,
    config: Path,
    *,
    seed: int,
    max_delay: float,
    trigger: Callable[[str], bool] = lambda log: True,
    environment: Mapping[str, str] | None = None,
    timeout: float = 180,
) -> KillOutcome:
    """Run a stage and SIGKILL it a seeded random delay after ``trigger`` first returns true.

    Args:
        stage: Stage name, as on the command line.
        config: Config file.
        seed: Seed of the random delay, so a failing case can be replayed.
        max_delay: Upper bound of the uniform random delay, in seconds.
        trigger: Called about every 5 ms with the stderr written so far; the delay starts
            when it first returns true. Default: at once.
        environment: Extra environment variables.
        timeout: Seconds before the run counts as hung and is killed anyway.
    """
    delay = random.Random(seed).uniform(0, max_delay)
    process = subprocess.Popen(
        stage_command(stage, config),
        env=stage_environment(environment),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    chunks: list[str] = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(process.stderr.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()

    deadline = time.monotonic() + timeout
    while process.poll() is None and not trigger("".join(chunks)):
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"stage {stage} never reached its kill trigger:\n{''.join(chunks)[-4000:]}")
        time.sleep(0.005)

    time.sleep(delay)
    killed = process.poll() is None
    if killed:
        process.send_signal(signal.SIGKILL)
    returncode = process.wait(timeout=timeout)
    reader.join(timeout=10)
    return KillOutcome(returncode=returncode, killed=killed, delay=delay, log="".join(chunks))


def run_with_fault(
    stage: str, config: Path, *, step: int, environment: Mapping[str, str] | None = None, timeout: float = 180
) -> int:
    """Run a stage with ``PIPELINE_FAULT_AFTER=step`` and return its exit status (``-9`` when the hook fired).

    Only stages that write through :class:`pipeline.units.UnitStore` reach the hook; others run to their end.
    """
    extra = {**(environment or {}), FAULT_ENVIRONMENT: str(step)}
    result = subprocess.run(
        stage_command(stage, config), env=stage_environment(extra), capture_output=True, text=True, timeout=timeout
    )
    return result.returncode


@contextmanager
def tiny_filesystem(mount_point: Path, *, size: str = "1m") -> Iterator[Path]:
    """Mount a tmpfs of ``size`` at ``mount_point`` for the block; skip the test when mounting is not permitted."""
    mount_point.mkdir(parents=True, exist_ok=True)
    command = ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip() or 'mount failed'}); needs root")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def files_exist(folder: Path, pattern: str) -> Callable[[str], bool]:
    """Return a trigger that fires once a file matching ``pattern`` exists under ``folder``."""
    return lambda log: any(folder.rglob(pattern))


def snapshot(folder: Path, *, volatile_keys: Iterable[str] = VOLATILE_KEYS) -> dict[str, str]:
    """Return ``{relative path: SHA-256}`` of every file under ``folder``, for byte comparisons.

    JSON files are hashed after removing ``volatile_keys`` at any depth, so timings do not
    count. The lock file is left out: it exists only while a run holds the folder.
    """
    volatile = frozenset(volatile_keys)
    tree = {}
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.name == LOCK_FILE:
            continue
        data = path.read_bytes()
        if path.suffix == ".json" and volatile:
            data = json.dumps(_without(json.loads(data), volatile), sort_keys=True).encode()
        tree[path.relative_to(folder).as_posix()] = hashlib.sha256(data).hexdigest()
    return tree


def _without(value: Any, keys: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {key: _without(item, keys) for key, item in value.items() if key not in keys}
    if isinstance(value, list):
        return [_without(item, keys) for item in value]
    return value
