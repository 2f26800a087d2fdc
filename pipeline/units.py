"""Units of work with completion markers, so that an interrupted stage resumes where it stopped.

A stage splits its work into units (one source of the corpus stage, the tokenizer, the
shards of one input file) and writes each unit through a :class:`UnitStore`. A unit counts
as done only when its completion marker ``<unit>.done.json`` exists, and the marker is
written last, after every output file is fsynced and renamed into place (the commit order
is in :mod:`pipeline.unit_commit`).

Killed at any step, the folder contains either a unit's complete outputs and its marker, or
files that :meth:`UnitStore.reconcile` removes on the next run: temporary ``*.tmp`` files,
the files a pending journal lists without a marker, and files matching the store's output
patterns that no marker claims. Markers and journals sit in the store folder itself, beside
the outputs. The store assumes one writer per folder: hold :func:`pipeline.lock.folder_lock`.

Typical use in a stage::

    store = UnitStore(config.shards_dir, config_key="outputs_dir", outputs=("shard-*.arrow",))
    planned = {unit.name: unit.fingerprint for unit in units}
    plan = store.reconcile(planned, fresh=fresh)        # raises StaleOutputError on a config change
    for unit in units:
        if unit.name in plan.todo:
            with store.unit(unit.name, planned[unit.name]) as writer:
                write_arrow(writer.path(f"{unit.name}.arrow"), ...)
                writer.counts["rows"] = rows
    manifest = {name: store.marker(name)["counts"] for name in planned}

Tests can stop a stage between two commit steps with the environment variable
``PIPELINE_FAULT_AFTER`` (see :mod:`pipeline.unit_commit`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pipeline.atomic import TEMPORARY_SUFFIX, DiskFullError, is_disk_full, sha256_file
from pipeline.fingerprint import Fingerprint
from pipeline.unit_commit import (
    FAULT_ENVIRONMENT,
    JOURNAL_SUFFIX,
    MARKER_SUFFIX,
    UnitWriter,
    commit_unit,
    journal_path,
    marker_path,
    publish_unfinished,
)

__all__ = ["FAULT_ENVIRONMENT", "MARKER_SUFFIX", "StaleOutputError", "UnitPlan", "UnitStore", "UnitWriter"]

logger = logging.getLogger(__name__)

_UNIT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class StaleOutputError(RuntimeError):
    """The output folder contains units made from another config, other inputs or other package versions.

    Args:
        folder: The stage's output folder.
        stale: For each affected unit, the differences that make it stale.
    """

    def __init__(self, folder: Path, stale: Mapping[str, Sequence[str]]) -> None:
        lines = [f"{folder} contains outputs that the current config would not produce:"]
        for name, reasons in stale.items():
            lines.append(f"  unit {name}: " + "; ".join(reasons))
        lines.append(
            "Rerun with --fresh to rebuild exactly these units (finished units that still match are kept), "
            f"delete {folder} to start over, or point the config at another folder to keep both."
        )
        super().__init__("\n".join(lines))
        self.folder = folder
        self.stale = dict(stale)


@dataclass(frozen=True)
class UnitPlan:
    """Result of :meth:`UnitStore.reconcile`: units to skip and units to (re)do, in plan order."""

    done: list[str] = field(default_factory=list)
    todo: list[str] = field(default_factory=list)


class UnitStore:
    """Completion markers of one stage's units in one output folder.

    Args:
        folder: The stage's output folder; created if missing.
        config_key: Config key that sets the folder (``corpora_dir`` or ``outputs_dir``), named
            in error messages.
        outputs: Glob patterns, relative to ``folder``, of the files this stage writes. A file
            matching one that no marker claims is left over from an interrupted run and is
            deleted by :meth:`reconcile`; hidden files are never deleted. Default: none, so
            only temporary files and files listed in journals are deleted.
        verify: How :meth:`reconcile` checks a finished unit's files: ``sha256`` (read every
            file) or ``size``. Default: ``sha256``.
    """

    def __init__(
        self,
        folder: Path,
        *,
        config_key: str,
        outputs: Sequence[str] = (),
        verify: Literal["sha256", "size"] = "sha256",
    ) -> None:
        self.folder = folder
        self.config_key = config_key
        self.outputs = tuple(outputs)
        self.verify = verify

    def marker_path(self, name: str) -> Path:
        return marker_path(self.folder, name)

    def marker(self, name: str) -> dict[str, Any] | None:
        """Return the parsed completion marker of a unit, or ``None`` when it has none (or a malformed one)."""
        path = self.marker_path(name)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            logger.warning("unreadable completion marker %s (%s); unit %s will be redone", path, error, name)
            return None
        if not isinstance(data, dict) or not isinstance(data.get("files"), dict) or "fingerprint" not in data:
            logger.warning("malformed completion marker %s; unit %s will be redone", path, name)
            return None
        return data

    def markers(self) -> dict[str, dict[str, Any]]:
        """Return the completion markers in the folder, keyed by unit name, in name order."""
        found = {}
        for path in sorted(self.folder.glob(f"*{MARKER_SUFFIX}")):
            name = path.name.removesuffix(MARKER_SUFFIX)
            marker = self.marker(name)
            if marker is not None:
                found[name] = marker
        return found

    def reconcile(
        self, planned: Mapping[str, Fingerprint], *, fresh: bool = False, keep_unplanned: bool = False
    ) -> UnitPlan:
        """Clean up after an interrupted run and decide which planned units still need work.

        Removes temporary files, files from commits that never finished and outputs no marker
        claims. A finished unit is reused when its marker's fingerprint equals the planned one
        and its files still have the recorded size and hash. A unit whose files changed since
        is redone, with a warning.

        Args:
            planned: Fingerprint of every unit the current run produces, in run order.
            fresh: Whether to delete and redo stale units (a different fingerprint, or not
                planned any more) instead of raising. Default: false.
            keep_unplanned: Whether to leave finished units that are not planned alone instead
                of treating them as stale. Default: false.

        Raises:
            StaleOutputError: Some units are stale and ``fresh`` is false. Nothing is deleted
                then, apart from temporary and unfinished files.
        """
        for name in planned:
            _check_unit_name(name)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._roll_back_journals()
        self._remove_temporaries()
        self._remove_malformed_markers()

        done: list[str] = []
        stale: dict[str, list[str]] = {}
        discard: list[str] = []
        for name, marker in self.markers().items():
            fingerprint = planned.get(name)
            if fingerprint is None:
                if not keep_unplanned:
                    stale[name] = ["the current config does not produce this unit"]
                continue
            recorded = marker["fingerprint"]
            if recorded.get("digest") != fingerprint.digest:
                stale[name] = _explain(recorded, fingerprint)
                continue
            problem = self._check_files(marker)
            if problem:
                logger.warning("unit %s in %s: %s since it was written; redoing it", name, self.folder, problem)
                discard.append(name)
            else:
                done.append(name)

        if stale and not fresh:
            raise StaleOutputError(self.folder, stale)
        for name in stale:
            logger.warning("unit %s in %s is stale (%s); rebuilding it", name, self.folder, "; ".join(stale[name]))
        for name in [*stale, *discard]:
            self._remove_unit(name)

        self._remove_unclaimed(keep=set(done) | (set(self.markers()) if keep_unplanned else set()))
        todo = [name for name in planned if name not in done]
        return UnitPlan(done=[name for name in planned if name in done], todo=todo)

    @contextmanager
    def unit(self, name: str, fingerprint: Fingerprint) -> Iterator[UnitWriter]:
        """Write one unit: yield a :class:`UnitWriter`, then commit its files and marker.

        An earlier marker of the same unit and the files it claims are deleted first. On an
        exception nothing of the unit remains; a full disk raises :class:`DiskFullError`.
        When the block called :meth:`UnitWriter.keep_unfinished`, the files are renamed into
        place without a marker instead, and the next :meth:`reconcile` deletes them.
        """
        _check_unit_name(name)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._remove_unit(name)
        writer = UnitWriter(self.folder, name)
        try:
            yield writer
            if writer.unfinished:
                publish_unfinished(writer)
            else:
                commit_unit(writer, fingerprint, config_key=self.config_key)
        except BaseException as error:
            writer.discard()
            if isinstance(error, OSError) and is_disk_full(error) and not isinstance(error, DiskFullError):
                raise DiskFullError(writer.last_path or self.folder, config_key=self.config_key) from error
            raise

    def _journal_path(self, name: str) -> Path:
        return journal_path(self.folder, name)

    def _check_files(self, marker: Mapping[str, Any]) -> str | None:
        for key, record in marker["files"].items():
            path = self.folder / key
            if not path.is_file():
                return f"output {key} is missing"
            if record.get("volatile"):
                continue
            if path.stat().st_size != record.get("bytes"):
                return f"output {key} changed size"
            if self.verify == "sha256" and sha256_file(path) != record.get("sha256"):
                return f"output {key} changed content (SHA-256 differs)"
        return None

    def _remove_unit(self, name: str) -> None:
        """Delete a unit's marker first, then the files it claimed."""
        marker = self.marker(name)
        self.marker_path(name).unlink(missing_ok=True)
        if marker is not None:
            for key in marker["files"]:
                if _is_inside(key):
                    (self.folder / key).unlink(missing_ok=True)

    def _roll_back_journals(self) -> None:
        for journal in sorted(self.folder.glob(f"*{JOURNAL_SUFFIX}")):
            name = journal.name.removesuffix(JOURNAL_SUFFIX)
            if self.marker(name) is None:
                try:
                    files = json.loads(journal.read_text(encoding="utf-8")).get("files", [])
                except (OSError, ValueError, AttributeError):
                    files = []
                logger.warning("removing %d files of unit %s, whose commit was interrupted", len(files), name)
                for key in files:
                    if isinstance(key, str) and _is_inside(key):
                        (self.folder / key).unlink(missing_ok=True)
            journal.unlink()

    def _remove_malformed_markers(self) -> None:
        for path in sorted(self.folder.glob(f"*{MARKER_SUFFIX}")):
            if self.marker(path.name.removesuffix(MARKER_SUFFIX)) is None:
                path.unlink()

    def _remove_temporaries(self) -> None:
        for temporary in sorted(self.folder.rglob(f"*{TEMPORARY_SUFFIX}")):
            if temporary.is_file():
                logger.info("removing unfinished file %s", temporary)
                temporary.unlink()

    def _remove_unclaimed(self, *, keep: set[str]) -> None:
        if not self.outputs:
            return
        claimed = set()
        for name in keep:
            marker = self.marker(name)
            if marker is not None:
                claimed.update(marker["files"])
        for pattern in self.outputs:
            for path in sorted(self.folder.glob(pattern)):
                key = path.relative_to(self.folder).as_posix()
                # Hidden files (the lock, digest caches) and the store's own records are never outputs.
                if path.name.startswith(".") or key.endswith((MARKER_SUFFIX, JOURNAL_SUFFIX)):
                    continue
                if path.is_file() and key not in claimed:
                    logger.warning("removing %s: no completion marker claims it", path)
                    path.unlink()


def _check_unit_name(name: str) -> None:
    if not _UNIT_NAME.fullmatch(name):
        raise ValueError(
            f"invalid unit name {name!r}: use letters, digits, '.', '_' and '-', starting with a letter or digit"
        )


def _is_inside(key: str) -> bool:
    path = PurePosixPath(key)
    return not path.is_absolute() and ".." not in path.parts


def _explain(recorded: Mapping[str, Any], current: Fingerprint) -> list[str]:
    try:
        differences = Fingerprint.from_json(recorded).differences(current)
    except ValueError:
        return ["its marker records a fingerprint in an unknown format"]
    return differences or ["its fingerprint differs in a part this version does not describe"]
