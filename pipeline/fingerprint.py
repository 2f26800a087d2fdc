"""Fingerprints of a unit of work: the config, input files and package versions it depends on.

A stage records the fingerprint of every unit it finishes (see :mod:`pipeline.units`). On a
rerun, a unit whose recorded fingerprint equals the current one is reused; any difference
means its output was made from something else, and :meth:`Fingerprint.differences` describes
the change in words a user can act on: a config key, an input file or a package version.

A fingerprint has three parts, and its digest is the SHA-256 of their canonical JSON
(sorted keys, no spaces, UTF-8):

- ``config``: the config sections the unit depends on, keyed by their YAML path
  (``{"sources.livedoor": ..., "clean": ...}``). Values are converted to plain JSON, so a
  dataclass section and the equivalent mapping give the same digest.
- ``inputs``: every input file by a label (usually its path) with its size and SHA-256.
  Only content counts: touching a file or copying it elsewhere under the same label keeps
  the fingerprint. :class:`DigestCache` skips rehashing a file whose size and modification
  time are unchanged since the last run.
- ``packages``: the installed versions of the packages that shape the output.

Fingerprint per unit, so that a change invalidates exactly the units it affects:

- corpus stage, one unit per source: ``sources.<name>`` and ``clean``, the source's input
  files, and the versions of ``pyarrow``, ``ftfy``, ``fugashi``, ``unidic-lite`` and
  ``pipeline``. Changing one source's path or file redoes that source only; changing
  ``clean`` redoes every source. A filter that looks across sources (exact deduplication
  keeping the first occurrence) makes a source depend on the sources before it, so its
  fingerprint must then also carry their digests.
- tokenizer stage, one unit: ``tokenizer`` and the list of source names in order, the
  cleaned Parquet files as inputs, and ``tokenizers``, ``pyarrow`` and ``pipeline``.
- shards stage, one unit per cleaned Parquet file: ``shards``, that Parquet file and
  ``tokenizer.json`` as inputs, and ``tokenizers``, ``pyarrow``, ``numpy`` and ``pipeline``.
  A retrained tokenizer redoes every shard; a changed source redoes only its own shards.

Paths to the output folders (``corpora_dir``, ``outputs_dir``) stay out of every
fingerprint, so moving an output folder keeps its units valid.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from pipeline.atomic import sha256_file, write_json_atomic

logger = logging.getLogger(__name__)

DEFAULT_PACKAGES = ("numpy", "pyarrow", "tokenizers", "fugashi", "unidic-lite", "pipeline")
"""Packages whose versions go into a fingerprint when a stage names none."""

NOT_INSTALLED = "not installed"


def to_plain(value: Any) -> Any:
    """Convert dataclasses, paths, tuples and sets to JSON values, recursively.

    Sets become sorted lists. Mapping keys become strings.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {item.name: to_plain(getattr(value, item.name)) for item in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(key): to_plain(item) for key, item in value.items()}
    if isinstance(value, PurePath):
        return value.as_posix()
    if isinstance(value, list | tuple):
        return [to_plain(item) for item in value]
    if isinstance(value, set | frozenset):
        return sorted(to_plain(item) for item in value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"cannot put a {type(value).__name__} into a fingerprint: {value!r}")


def canonical_json(value: Any) -> str:
    """Serialize ``value`` as canonical JSON: sorted keys, no spaces, non-ASCII kept."""
    return json.dumps(to_plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def package_versions(names: Sequence[str]) -> dict[str, str]:
    """Return the installed version of each package, or ``"not installed"``."""
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = NOT_INSTALLED
    return versions


@dataclass(frozen=True)
class FileDigest:
    """Size in bytes and hexadecimal SHA-256 of one input file."""

    bytes: int
    sha256: str


class DigestCache:
    """SHA-256 digests of input files, reused while a file's size and modification time stay the same.

    The cache is a JSON file mapping each resolved path to ``[size, mtime_ns, sha256]``. A
    file whose size or modification time differs from the cached values is hashed again.

    NOTE: like ``make`` and ``rsync`` without ``--checksum``, this misses an edit that keeps
    both the size and the nanosecond modification time. Pass ``path=None`` (or delete the
    cache file) to hash every file.

    Args:
        path: Cache file, or ``None`` for no persistence.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._entries: dict[str, list[Any]] = {}
        if path is not None and path.exists():
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"))
                if isinstance(loaded, dict):
                    self._entries = loaded
            except (OSError, ValueError) as error:
                logger.warning("ignoring unreadable digest cache %s (%s); every input is hashed again", path, error)

    def digest(self, file: Path) -> FileDigest:
        """Return the size and SHA-256 of ``file``, from the cache when its size and mtime match."""
        key = str(file.resolve())
        status = file.stat()
        cached = self._entries.get(key)
        if isinstance(cached, list) and len(cached) == 3 and cached[:2] == [status.st_size, status.st_mtime_ns]:
            return FileDigest(bytes=status.st_size, sha256=str(cached[2]))

        sha256 = sha256_file(file)
        self._entries[key] = [status.st_size, status.st_mtime_ns, sha256]
        return FileDigest(bytes=status.st_size, sha256=sha256)

    def save(self) -> None:
        """Write the cache file atomically (nothing when the cache has no path)."""
        if self.path is not None:
            write_json_atomic(self.path, dict(sorted(self._entries.items())))


@dataclass(frozen=True)
class Fingerprint:
    """The config, input files and package versions one unit's output depends on.

    Build it with :func:`make_fingerprint`.
    """

    config: Mapping[str, Any] = field(default_factory=dict)
    inputs: Mapping[str, FileDigest] = field(default_factory=dict)
    packages: Mapping[str, str] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        """Hexadecimal SHA-256 of the canonical JSON of the three parts."""
        return hashlib.sha256(canonical_json(self._parts()).encode("utf-8")).hexdigest()

    def _parts(self) -> dict[str, Any]:
        return {
            "config": to_plain(self.config),
            "inputs": {label: to_plain(digest) for label, digest in sorted(self.inputs.items())},
            "packages": dict(sorted(self.packages.items())),
        }

    def to_json(self) -> dict[str, Any]:
        """Return the parts and the digest as a JSON mapping, as stored in completion markers."""
        return {"digest": self.digest, **self._parts()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Fingerprint:
        """Rebuild a fingerprint from :meth:`to_json` output; raises ``ValueError`` on a malformed one."""
        try:
            inputs = {
                label: FileDigest(bytes=int(item["bytes"]), sha256=str(item["sha256"]))
                for label, item in data["inputs"].items()
            }
            return cls(config=dict(data["config"]), inputs=inputs, packages=dict(data["packages"]))
        except (KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"malformed fingerprint record ({error!r})") from None

    def differences(self, current: Fingerprint) -> list[str]:
        """Describe how ``current`` differs from this (recorded) fingerprint, one line per change."""
        lines = []

        recorded_config, current_config = _flatten(to_plain(self.config)), _flatten(to_plain(current.config))
        for key in sorted(recorded_config.keys() | current_config.keys()):
            before, after = recorded_config.get(key, _UNSET), current_config.get(key, _UNSET)
            if before != after:
                lines.append(f"config key {key} changed from {_show(before)} to {_show(after)}")

        for label in sorted(self.inputs.keys() | current.inputs.keys()):
            before_file, after_file = self.inputs.get(label), current.inputs.get(label)
            if before_file is None:
                lines.append(f"input file {label} was added")
            elif after_file is None:
                lines.append(f"input file {label} was removed")
            elif before_file != after_file:
                lines.append(
                    f"input file {label} changed ({before_file.bytes} bytes, SHA-256 {before_file.sha256[:12]}... "
                    f"became {after_file.bytes} bytes, SHA-256 {after_file.sha256[:12]}...)"
                )

        for name in sorted(self.packages.keys() | current.packages.keys()):
            before_version = self.packages.get(name, NOT_INSTALLED)
            after_version = current.packages.get(name, NOT_INSTALLED)
            if before_version != after_version:
                lines.append(f"package {name} changed from {before_version} to {after_version}")
        return lines


class _Unset:
    def __repr__(self) -> str:
        return "(not set)"


_UNSET = _Unset()


def _show(value: Any) -> str:
    if isinstance(value, _Unset):
        return repr(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten nested mappings to dotted keys; lists and scalars are leaves."""
    if not isinstance(value, dict) or (prefix and not value):
        return {prefix: value}
    flat: dict[str, Any] = {}
    for key, item in value.items():
        flat.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def make_fingerprint(
    *,
    config: Mapping[str, Any],
    inputs: Mapping[str, Path | str] | Sequence[Path] = (),
    packages: Sequence[str] = DEFAULT_PACKAGES,
    cache: DigestCache | None = None,
) -> Fingerprint:
    """Fingerprint a unit of work.

    Args:
        config: Config sections the unit depends on, keyed by their YAML path, such as
            ``{"shards": config.shards}``.
        inputs: Input files, as ``{label: path}`` or a list of paths labelled by their
            POSIX path string. Default: none.
        packages: Distribution names whose installed versions are recorded. Default:
            :data:`DEFAULT_PACKAGES`.
        cache: Digest cache that skips rehashing unchanged files. Default: hash every file.
    """
    labelled = (
        {str(Path(item).as_posix()): Path(item) for item in inputs}
        if isinstance(inputs, Sequence)
        else {label: Path(path) for label, path in inputs.items()}
    )
    digests = {}
    for label, path in sorted(labelled.items()):
        if not path.is_file():
            raise FileNotFoundError(f"input file {path} not found while fingerprinting; check the paths in the config")
        digests[label] = (
            cache.digest(path)
            if cache is not None
            else FileDigest(bytes=os.path.getsize(path), sha256=sha256_file(path))
        )
    return Fingerprint(config=to_plain(dict(config)), inputs=digests, packages=package_versions(packages))
