from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline import unit_commit
from pipeline.atomic import DiskFullError
from pipeline.fingerprint import Fingerprint
from pipeline.units import FAULT_ENVIRONMENT, StaleOutputError, UnitStore
from tests.conftest import REPOSITORY
from tests.hostile import snapshot
from tests.killing import tiny_filesystem

pytestmark = pytest.mark.timeout(60)

SETTINGS = Fingerprint(config={"shards": {"max_len": 128}}, packages={"pyarrow": "1.0"})
CHANGED = Fingerprint(config={"shards": {"max_len": 64}}, packages={"pyarrow": "1.0"})


def make_store(folder: Path) -> UnitStore:
    return UnitStore(folder, config_key="outputs_dir", outputs=("part-*.bin",))


def write_unit(store: UnitStore, name: str, data: bytes, fingerprint: Fingerprint = SETTINGS) -> None:
    with store.unit(name, fingerprint) as writer:
        writer.path(f"part-{name}.bin").write_bytes(data)
        writer.counts["rows"] = len(data)


def test_commit_writes_marker(tmp_path: Path) -> None:
    store = make_store(tmp_path)

    write_unit(store, "a", b"alpha")

    marker = json.loads((tmp_path / "a.done.json").read_text())
    assert (tmp_path / "part-a.bin").read_bytes() == b"alpha"
    assert marker["files"] == {"part-a.bin": {"bytes": 5, "sha256": hashlib.sha256(b"alpha").hexdigest()}}
    assert marker["counts"] == {"rows": 5}
    assert marker["fingerprint"]["digest"] == SETTINGS.digest
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.done.json", "part-a.bin"]


def test_rerun_skips_done_units(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    write_unit(store, "a", b"alpha")

    plan = store.reconcile({"a": SETTINGS, "b": SETTINGS})

    assert plan.done == ["a"]
    assert plan.todo == ["b"]


def test_error_leaves_nothing(tmp_path: Path) -> None:
    store = make_store(tmp_path)

    with pytest.raises(RuntimeError), store.unit("a", SETTINGS) as writer:
        writer.path("part-a.bin").write_bytes(b"half")
        raise RuntimeError("stage failed")

    assert list(tmp_path.iterdir()) == []


def test_redo_replaces_old_files(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    with store.unit("a", SETTINGS) as writer:
        writer.path("part-a-old.bin").write_bytes(b"old")

    write_unit(store, "a", b"new")

    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.done.json", "part-a.bin"]


def test_reconcile_removes_leftovers(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    write_unit(store, "a", b"alpha")
    (tmp_path / "part-b.bin.tmp").write_bytes(b"half written")
    (tmp_path / "part-c.bin").write_bytes(b"renamed, never marked")
    (tmp_path / "notes.txt").write_text("a file the stage does not own")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.tmp").write_bytes(b"nested temporary")

    plan = store.reconcile({"a": SETTINGS, "b": SETTINGS, "c": SETTINGS})

    assert plan.todo == ["b", "c"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.done.json", "notes.txt", "part-a.bin", "sub"]
    assert list((tmp_path / "sub").iterdir()) == []


def test_journal_rolled_back(tmp_path: Path) -> None:
    store = UnitStore(tmp_path, config_key="outputs_dir")
    (tmp_path / "out-b.bin").write_bytes(b"renamed before the marker")
    (tmp_path / "b.pending.json").write_text(json.dumps({"unit": "b", "files": ["out-b.bin", "../escape"]}))

    plan = store.reconcile({"b": SETTINGS})

    assert plan.todo == ["b"]
    assert list(tmp_path.iterdir()) == []


def test_changed_file_redone(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = make_store(tmp_path)
    write_unit(store, "a", b"alpha")
    (tmp_path / "part-a.bin").write_bytes(b"alphA")

    with caplog.at_level(logging.WARNING, logger="pipeline.units"):
        plan = store.reconcile({"a": SETTINGS})

    assert plan.todo == ["a"]
    assert "output part-a.bin changed content (SHA-256 differs)" in caplog.text
    assert not (tmp_path / "part-a.bin").exists()
    assert not (tmp_path / "a.done.json").exists()


def test_missing_file_redone(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    write_unit(store, "a", b"alpha")
    (tmp_path / "part-a.bin").unlink()

    assert store.reconcile({"a": SETTINGS}).todo == ["a"]


def test_malformed_marker_redone(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    write_unit(store, "a", b"alpha")
    (tmp_path / "a.done.json").write_text('{"unit": "a", "files": ')

    plan = store.reconcile({"a": SETTINGS})

    assert plan.todo == ["a"]
    assert list(tmp_path.iterdir()) == []


def test_stale_unit_rejected(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    write_unit(store, "a", b"alpha")
    write_unit(store, "b", b"beta", CHANGED)
    before = snapshot(tmp_path)

    with pytest.raises(StaleOutputError) as error:
        store.reconcile({"a": SETTINGS, "b": SETTINGS})

    message = str(error.value)
    assert "unit b: config key shards.max_len changed from 64 to 128" in message
    assert "unit a" not in message
    assert "--fresh" in message
    assert f"delete {tmp_path}" in message
    assert snapshot(tmp_path) == before


def test_fresh_rebuilds_stale_only(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    write_unit(store, "a", b"alpha")
    write_unit(store, "b", b"beta", CHANGED)

    plan = store.reconcile({"a": SETTINGS, "b": SETTINGS}, fresh=True)

    assert plan.done == ["a"]
    assert plan.todo == ["b"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.done.json", "part-a.bin"]


def test_unplanned_unit_stale(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    write_unit(store, "a", b"alpha")
    write_unit(store, "old", b"from a larger run")

    with pytest.raises(StaleOutputError, match="unit old: the current config does not produce this unit"):
        store.reconcile({"a": SETTINGS})
    plan = store.reconcile({"a": SETTINGS}, keep_unplanned=True)

    assert plan.done == ["a"]
    assert (tmp_path / "part-old.bin").exists()


def test_hidden_files_kept(tmp_path: Path) -> None:
    store = UnitStore(tmp_path, config_key="outputs_dir", outputs=("*",))
    (tmp_path / ".pipeline.lock").write_text("{}")
    (tmp_path / "stray.bin").write_bytes(b"left over")

    store.reconcile({"a": SETTINGS})

    assert sorted(path.name for path in tmp_path.iterdir()) == [".pipeline.lock"]


def test_unit_names_checked(tmp_path: Path) -> None:
    store = make_store(tmp_path)

    with pytest.raises(ValueError, match="invalid unit name"), store.unit("../a", SETTINGS):
        pass
    with pytest.raises(ValueError, match="must be a relative path"), store.unit("a", SETTINGS) as writer:
        writer.path("../outside.bin")

    assert not (tmp_path.parent / "outside.bin").exists()


# Disk full.


def failing_write(path: Path, data: bytes) -> None:
    with path.open("wb") as handle:
        handle.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")


def test_injected_disk_full(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    write_unit(store, "a", b"alpha")

    with pytest.raises(DiskFullError) as error, store.unit("b", SETTINGS) as writer:
        failing_write(writer.path("part-b.bin"), b"beta" * 100)

    assert str(error.value) == (
        f"disk full while writing {tmp_path / 'part-b.bin'}; free space or point outputs_dir elsewhere, "
        "then rerun: finished units are kept"
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.done.json", "part-a.bin"]
    assert store.reconcile({"a": SETTINGS, "b": SETTINGS}).todo == ["b"]


def test_disk_full_during_marker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = make_store(tmp_path)

    def no_space(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(unit_commit, "write_json_atomic", no_space)
        with pytest.raises(DiskFullError), store.unit("a", SETTINGS) as writer:
            writer.path("part-a.bin").write_bytes(b"alpha")

    assert list(tmp_path.iterdir()) == []


def test_quota_exceeded_is_disk_full(tmp_path: Path) -> None:
    store = make_store(tmp_path)

    with pytest.raises(DiskFullError), store.unit("a", SETTINGS):
        raise OSError(errno.EDQUOT, "Disk quota exceeded")


@pytest.fixture
def tiny(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs inside ``tmp_path``; the injected tests above cover machines that cannot mount one."""
    with tiny_filesystem(tmp_path / "tiny") as mount_point:
        yield mount_point


def test_real_disk_full(tiny: Path) -> None:
    store = make_store(tiny)
    write_unit(store, "a", b"alpha" * 1000)

    with pytest.raises(DiskFullError) as error, store.unit("b", SETTINGS) as writer:
        handle = writer.path("part-b.bin").open("wb")
        with handle:
            for _ in range(32):
                handle.write(os.urandom(64 * 1024))

    assert f"disk full while writing {tiny / 'part-b.bin'}" in str(error.value)
    assert sorted(path.name for path in tiny.iterdir()) == ["a.done.json", "part-a.bin"]
    plan = store.reconcile({"a": SETTINGS, "b": SETTINGS})
    assert plan.done == ["a"]
    assert plan.todo == ["b"]


# Killed between commit steps, through the fault-injection hook.

TOY_STAGE = """
import sys
from pathlib import Path
from pipeline.fingerprint import Fingerprint
from pipeline.units import UnitStore

folder = Path(sys.argv[1])
store = UnitStore(folder, config_key="outputs_dir", outputs=("*.bin", "sub/*.bin"))
planned = {f"u{index}": Fingerprint(config={"index": index}) for index in range(4)}
plan = store.reconcile(planned)
for name in plan.todo:
    with store.unit(name, planned[name]) as writer:
        writer.path(f"{name}.bin").write_bytes(name.encode() * 1000)
        writer.path(f"sub/{name}.bin").write_bytes(name.encode() * 7)
        writer.counts["units"] = 1
total = sum(store.marker(name)["counts"]["units"] for name in planned)
(folder / "total.txt").write_text(str(total))
"""


def run_toy(folder: Path, fault_after: int | None = None) -> int:
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY)}
    environment.pop(FAULT_ENVIRONMENT, None)
    if fault_after is not None:
        environment[FAULT_ENVIRONMENT] = str(fault_after)
    return subprocess.run([sys.executable, "-c", TOY_STAGE, str(folder)], env=environment, timeout=60).returncode


def test_fault_points_resume_identically(tmp_path: Path) -> None:
    assert run_toy(tmp_path / "reference") == 0
    reference = snapshot(tmp_path / "reference")

    # Four units of four steps each (journal, two renames, marker), so step 4k + 1 is the journal
    # of unit k + 1. These cover every kind of step and the first and last unit.
    for step in (1, 2, 3, 4, 7, 12, 13, 16):
        folder = tmp_path / f"killed-{step}"
        assert run_toy(folder, fault_after=step) == -9
        assert not (folder / "total.txt").exists()

        assert run_toy(folder) == 0

        assert snapshot(folder) == reference, f"killed at commit step {step}"
        assert (folder / "total.txt").read_text() == "4"


def test_volatile_file_recorded_without_hash(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    with store.unit("a", SETTINGS) as writer:
        writer.path("part-a.bin").write_bytes(b"alpha")
        writer.write_json("part-a-timings.bin", {"seconds": 1.5}, volatile=True)

    marker = json.loads((tmp_path / "a.done.json").read_text())

    assert marker["files"]["part-a-timings.bin"] == {"volatile": True}
    assert marker["files"]["part-a.bin"]["bytes"] == 5


def test_volatile_file_change_keeps_unit(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    with store.unit("a", SETTINGS) as writer:
        writer.write_json("part-a-timings.bin", {"seconds": 1.5}, volatile=True)
    (tmp_path / "part-a-timings.bin").write_text('{"seconds": 2.25}\n')

    assert store.reconcile({"a": SETTINGS}).done == ["a"]


def test_volatile_file_missing_redoes_unit(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    with store.unit("a", SETTINGS) as writer:
        writer.write_json("part-a-timings.bin", {"seconds": 1.5}, volatile=True)
    (tmp_path / "part-a-timings.bin").unlink()

    assert store.reconcile({"a": SETTINGS}).todo == ["a"]


def test_unfinished_unit_published_without_marker(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    with store.unit("a", SETTINGS) as writer:
        writer.path("part-a.bin").write_bytes(b"partial")
        writer.keep_unfinished()

    assert (tmp_path / "part-a.bin").read_bytes() == b"partial"
    assert not (tmp_path / "a.done.json").exists()
    assert not (tmp_path / "a.pending.json").exists()


def test_unfinished_unit_removed_on_rerun(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    with store.unit("a", SETTINGS) as writer:
        writer.path("part-a.bin").write_bytes(b"partial")
        writer.keep_unfinished()

    plan = store.reconcile({"a": SETTINGS})

    assert plan.todo == ["a"]
    assert not (tmp_path / "part-a.bin").exists()
