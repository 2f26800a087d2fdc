from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from pipeline.cli import EXIT_LOCKED, _output_folders
from pipeline.config import parse_config
from pipeline.lock import LOCK_FILE, FolderLockedError, folder_lock
from tests.conftest import REPOSITORY

pytestmark = pytest.mark.timeout(60)

# Waits for the start file, takes the lock, prints a line and keeps the lock until the stop file appears.
HOLDER = """
import sys, time
from pathlib import Path
from pipeline.lock import FolderLockedError, folder_lock

folder, start, stop = map(Path, sys.argv[1:4])
while not start.exists():
    time.sleep(0.001)
try:
    with folder_lock(folder):
        print("acquired", flush=True)
        deadline = time.monotonic() + 30
        while not stop.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
except FolderLockedError as error:
    print(error, flush=True)
    sys.exit(75)
"""


def start_holder(folder: Path, start: Path, stop: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder), str(start), str(stop)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPOSITORY)},
    )


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_racing_processes_one_wins(tmp_path: Path) -> None:
    for round_number in range(3):
        start, stop = tmp_path / f"start-{round_number}", tmp_path / f"stop-{round_number}"
        holders = [start_holder(tmp_path / "out", start, stop) for _ in range(2)]
        time.sleep(0.5)  # both interpreters are up and polling for the start file
        start.touch()

        # The loser exits at once; the winner keeps the lock until the stop file appears.
        loser_outputs: list[subprocess.Popen[str]] = []
        deadline = time.monotonic() + 20
        while not loser_outputs and time.monotonic() < deadline:
            loser_outputs = [holder for holder in holders if holder.poll() is not None]
            time.sleep(0.01)
        stop.touch()
        results = [(holder.wait(timeout=20), holder.communicate()[0]) for holder in holders]

        codes = sorted(code for code, _ in results)
        assert codes == [0, 75], results
        winner_output = next(output for code, output in results if code == 0)
        loser_output = next(output for code, output in results if code == 75)
        assert winner_output.strip() == "acquired"
        assert str(tmp_path / "out" / LOCK_FILE) in loser_output
        assert "Wait for that run to finish" in loser_output
        assert not (tmp_path / "out" / LOCK_FILE).exists()


def test_cli_exits_when_locked(tmp_path: Path) -> None:
    corpora = tmp_path / "corpora"
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"corpora_dir": str(corpora), "sources": {"livedoor": {"path": str(config)}}}))

    with folder_lock(corpora):
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "pipeline", "corpus", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(REPOSITORY)},
        )
        elapsed = time.monotonic() - started

    assert result.returncode == EXIT_LOCKED
    assert str(corpora / LOCK_FILE) in result.stderr
    assert f"process {os.getpid()} on host" in result.stderr
    assert f"kill {os.getpid()}" in result.stderr
    assert sorted(path.name for path in corpora.iterdir()) == []
    assert elapsed < 30


def test_stale_lock_taken_over(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    pid = dead_pid()
    folder = tmp_path / "out"
    folder.mkdir()
    record = {"pid": pid, "host": os.uname().nodename, "started": "2020-01-01T00:00:00+0000", "command": "old"}
    (folder / LOCK_FILE).write_text(json.dumps(record))

    with caplog.at_level(logging.WARNING, logger="pipeline.lock"), folder_lock(folder) as path:
        owner = json.loads(path.read_text())

    assert owner["pid"] == os.getpid()
    assert f"process {pid} is no longer running" in caplog.text
    assert str(folder / LOCK_FILE) in caplog.text
    assert not path.exists()


def test_killed_owner_lock_taken_over(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    start, stop = tmp_path / "start", tmp_path / "stop"
    start.touch()
    holder = start_holder(tmp_path / "out", start, stop)
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "acquired"
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=20)
    assert (tmp_path / "out" / LOCK_FILE).exists()

    with caplog.at_level(logging.WARNING, logger="pipeline.lock"), folder_lock(tmp_path / "out"):
        pass

    assert f"process {holder.pid} is no longer running" in caplog.text


def test_held_lock_rejects_second(tmp_path: Path) -> None:
    with folder_lock(tmp_path), pytest.raises(FolderLockedError) as error, folder_lock(tmp_path):
        pass

    assert error.value.owner["pid"] == os.getpid()


def test_lock_released_on_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), folder_lock(tmp_path):
        raise RuntimeError("stage failed")

    assert not (tmp_path / LOCK_FILE).exists()
    with folder_lock(tmp_path) as path:
        assert path.exists()


def test_garbage_lock_file_taken_over(tmp_path: Path) -> None:
    (tmp_path / LOCK_FILE).write_bytes(b"\xff\x00 not json")

    with folder_lock(tmp_path) as path:
        assert json.loads(path.read_text())["pid"] == os.getpid()


def test_same_folder_locked_once(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "data")
    config = parse_config({"corpora_dir": str(tmp_path / "data"), "outputs_dir": str(tmp_path / "link")})

    folders = _output_folders(config, ("corpus", "tokenizer", "shards"))

    assert folders == [tmp_path / "data"]
