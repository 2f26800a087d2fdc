"""Commit of one unit's output files: fsync, journal, rename into place, completion marker.

:class:`UnitWriter` hands out temporary paths for a unit's files, and :func:`commit_unit`
makes them final in this order:

1. each temporary file is fsynced and hashed;
2. a pending journal ``<unit>.pending.json`` lists the files about to appear;
3. each file is renamed into place and the folders are fsynced;
4. the marker ``<unit>.done.json`` is written atomically, with the unit's fingerprint and
   every file's size and SHA-256 plus the counts the stage recorded;
5. the journal is deleted.

A file that records timings or memory readings differs between two identical runs, so its
size and SHA-256 would make the marker differ too. Such a file is registered with
``volatile=True`` and its marker entry is ``{"volatile": true}``: a rerun checks only that it
exists.

A unit that the stage could not finish (an input that ends early) can still show what it
read: :func:`publish_unfinished` renames its files into place without a journal or a marker.
No marker claims them, so the next run's reconcile deletes them and redoes the unit.

Fault injection, for tests only: when the environment variable ``PIPELINE_FAULT_AFTER`` is
``n``, the process kills itself with SIGKILL at the ``n``-th commit step counted from its
start. The steps are: a journal written, one output renamed into place, a marker written.
This lets a test stop a stage between any two of them, where a timed kill rarely lands.
"""

from __future__ import annotations

import json
import logging
import os
import signal
from pathlib import Path, PurePosixPath

from pipeline.atomic import TEMPORARY_SUFFIX, fsync_file, fsync_folder, sha256_file, temporary_path, write_json_atomic
from pipeline.fingerprint import Fingerprint

logger = logging.getLogger(__name__)

MARKER_SUFFIX = ".done.json"
JOURNAL_SUFFIX = ".pending.json"
FAULT_ENVIRONMENT = "PIPELINE_FAULT_AFTER"

_fault_steps = 0


def fault_point() -> None:
    """Count one commit step and kill this process at the step ``PIPELINE_FAULT_AFTER`` names (tests only)."""
    global _fault_steps
    limit = os.environ.get(FAULT_ENVIRONMENT)
    if not limit:
        return
    _fault_steps += 1
    if _fault_steps >= int(limit):
        logger.debug("%s=%s reached: killing this process", FAULT_ENVIRONMENT, limit)
        os.kill(os.getpid(), signal.SIGKILL)


def check_relative(relative: str | Path) -> str:
    path = PurePosixPath(Path(relative).as_posix())
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ValueError(f"unit output {relative!r} must be a relative path inside the stage folder")
    if path.name.endswith((TEMPORARY_SUFFIX, MARKER_SUFFIX, JOURNAL_SUFFIX)):
        raise ValueError(f"unit output {relative!r} ends with a suffix the unit store reserves")
    return path.as_posix()


class UnitWriter:
    """Outputs of one unit being written. Obtain it from :meth:`pipeline.units.UnitStore.unit`.

    Attributes:
        name: Unit name.
        counts: Counts to record in the marker, such as documents or rows; the stage fills it.
    """

    def __init__(self, folder: Path, name: str) -> None:
        self.name = name
        self.counts: dict[str, int] = {}
        self.folder = folder
        self._files: dict[str, Path] = {}
        self._volatile: set[str] = set()
        self._renamed: list[Path] = []
        self.last_path: Path | None = None
        self.unfinished = False

    def path(self, relative: str | Path, *, volatile: bool = False) -> Path:
        """Return the temporary path to write the output ``relative`` (to the store folder) at.

        The file appears under its final name only when the unit commits. Parent folders are
        created.

        Args:
            relative: Output path relative to the store folder.
            volatile: Whether the content differs between identical runs (timings, memory
                readings). The marker then records only that the file exists. Default: false.
        """
        key = check_relative(relative)
        if volatile:
            self._volatile.add(key)
        else:
            self._volatile.discard(key)
        final = self.folder / key
        temporary = temporary_path(final)
        temporary.parent.mkdir(parents=True, exist_ok=True)
        temporary.unlink(missing_ok=True)
        self._files[key] = temporary
        self.last_path = final
        return temporary

    def write_bytes(self, relative: str | Path, data: bytes, *, volatile: bool = False) -> None:
        """Write a small output file in one call."""
        self.path(relative, volatile=volatile).write_bytes(data)

    def write_json(self, relative: str | Path, value: object, *, volatile: bool = False) -> None:
        """Write ``value`` as indented UTF-8 JSON with a final newline."""
        data = (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        self.write_bytes(relative, data, volatile=volatile)

    def keep_unfinished(self) -> None:
        """Publish the files written so far without a completion marker when the unit's block ends.

        For a unit the stage could not finish but whose partial output a user should see.
        The next :meth:`pipeline.units.UnitStore.reconcile` deletes the files and redoes the unit.
        """
        self.unfinished = True

    def discard(self) -> None:
        """Delete every file of the unit written so far, temporary or already renamed, and its journal."""
        for path in [*self._files.values(), *self._renamed]:
            path.unlink(missing_ok=True)
        journal_path(self.folder, self.name).unlink(missing_ok=True)


def commit_unit(writer: UnitWriter, fingerprint: Fingerprint, *, config_key: str) -> None:
    """Make a unit's files final and write its completion marker, in the order the module describes."""
    records: dict[str, dict[str, object]] = {}
    for key, temporary in sorted(writer._files.items()):
        if not temporary.exists():
            raise FileNotFoundError(f"unit {writer.name}: output {key} was registered but never written")
        fsync_file(temporary)
        if key in writer._volatile:
            records[key] = {"volatile": True}
        else:
            records[key] = {"bytes": temporary.stat().st_size, "sha256": sha256_file(temporary)}

    journal = journal_path(writer.folder, writer.name)
    write_json_atomic(journal, {"unit": writer.name, "files": list(records)}, config_key=config_key)
    fault_point()

    folders = {writer.folder}
    for key, temporary in sorted(writer._files.items()):
        final = writer.folder / key
        os.replace(temporary, final)
        writer._renamed.append(final)
        folders.add(final.parent)
        fault_point()
    for folder in sorted(folders):
        fsync_folder(folder)

    marker = {
        "unit": writer.name,
        "fingerprint": fingerprint.to_json(),
        "files": records,
        "counts": dict(sorted(writer.counts.items())),
    }
    write_json_atomic(marker_path(writer.folder, writer.name), marker, config_key=config_key)
    fault_point()
    journal.unlink()


def publish_unfinished(writer: UnitWriter) -> None:
    """Rename a unit's written files into place without a journal or a marker (see the module docstring)."""
    folders = {writer.folder}
    for key, temporary in sorted(writer._files.items()):
        if not temporary.exists():
            continue
        final = writer.folder / key
        os.replace(temporary, final)
        writer._renamed.append(final)
        folders.add(final.parent)
    for folder in sorted(folders):
        fsync_folder(folder)


def marker_path(folder: Path, name: str) -> Path:
    return folder / f"{name}{MARKER_SUFFIX}"


def journal_path(folder: Path, name: str) -> Path:
    return folder / f"{name}{JOURNAL_SUFFIX}"
