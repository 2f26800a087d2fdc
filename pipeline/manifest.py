"""The ``manifest.json`` of each cleaned source: inputs, config, package versions, counts and timings.

The corpus stage writes it as part of the source's unit (see :mod:`pipeline.corpus_units`).

Layout (every count is a number of documents or of characters, i.e. Unicode code points):

- ``source``, ``complete`` (false when reading stopped on an error, named in ``error``);
- ``inputs``: the files read, each with ``path``, ``bytes`` and ``sha256``;
- ``config``: the settings that shape this source's output: ``sources`` (this source and
  the ones before it, whose documents deduplication compares against), ``clean`` and
  ``segment``. Output folders and ``workers`` are left out because they do not change the
  output; ``packages``: Python and library versions;
- ``counts``: ``documents_in``, ``documents_out``, ``documents_rejected``, ``characters_in``,
  ``characters_out``, and ``steps``, one entry per step in order (``read`` first, then each
  filter) with the same keys plus ``documents_changed``. They always satisfy
  ``documents_in == documents_out + documents_rejected``, overall and per step;
- ``outputs``: the Parquet files written, each with ``file``, ``rows`` and ``sha256``;
- ``seconds``: wall time per step, kept apart from ``counts`` because it differs between
  runs. Everything else repeats exactly when the inputs and the config are the same, for
  any worker count and output folder.

A source that failed partway has ``complete: false`` and no completion marker
``clean/<source>.done.json``; the next run deletes its files and reads it again. Later
stages read only sources with a marker.
"""

from __future__ import annotations

import json
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from pipeline.config import Config, SourceConfig
from pipeline.download import sha256_file
from pipeline.fingerprint import to_plain

MANIFEST_FILE = "manifest.json"

PACKAGES = (
    "pipeline",
    "pyarrow",
    "ftfy",
    "datasketch",
    "numpy",
    "datasets",
    "huggingface_hub",
    "defusedxml",
    "mwparserfromhell",
    "fugashi",
    "unidic-lite",
)

# Files of a download cache that are not corpus data: partial transfers, their state,
# recorded digests, and huggingface_hub's locks, references and content-addressed blobs
# (the snapshot links to the blobs are listed instead).
_CACHE_SUFFIXES = (".part", ".part.json", ".sha256", ".lock", ".incomplete")
_CACHE_FOLDERS = frozenset({".locks", "blobs", "refs", ".cache"})


def input_files(name: str, source: SourceConfig, raw_dir: Path) -> list[Path]:
    """List the files a source reads: ``path`` itself, every file under it, or its download cache.

    NOTE: for a folder or a download cache this lists every file there, which can include
    files the reader skips (a LICENSE, another split).
    """
    if source.path is not None:
        if source.path.is_file():
            return [source.path]
        root = source.path
    else:
        root = raw_dir / name
    if not root.is_dir():
        return []
    return sorted(
        file
        for file in root.rglob("*")
        if file.is_file()
        and not file.name.endswith(_CACHE_SUFFIXES)
        and not _CACHE_FOLDERS.intersection(file.relative_to(root).parts)
    )


def describe_files(files: list[Path]) -> list[dict[str, object]]:
    """Return ``path``, size in ``bytes`` and ``sha256`` of each file."""
    return [{"path": str(file), "bytes": file.stat().st_size, "sha256": sha256_file(file)} for file in files]


def package_versions() -> dict[str, str]:
    """Return the versions of Python and of the installed packages in :data:`PACKAGES`."""
    versions = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


SHARDS_ONLY_SOURCE_KEYS = frozenset({"rows_per_shard"})
"""Keys of ``sources.<name>`` that only the shards stage reads."""


def source_settings(source: SourceConfig) -> dict[str, Any]:
    """Return the settings of ``sources.<name>`` that shape the cleaned documents, as JSON values."""
    settings: dict[str, Any] = to_plain(source)
    return {key: value for key, value in settings.items() if key not in SHARDS_ONLY_SOURCE_KEYS}


def manifest_config(config: Config, name: str) -> dict[str, Any]:
    """Return the manifest's ``config``: the sources up to ``name`` in config order, ``clean`` and ``segment``."""
    names = list(config.sources)
    sources = {source: source_settings(config.sources[source]) for source in names[: names.index(name) + 1]}
    return {"sources": sources, "clean": to_plain(config.clean), "segment": to_plain(config.segment)}


def read_manifest(folder: Path) -> dict[str, Any]:
    """Read the ``manifest.json`` of a cleaned source folder.

    Raises:
        FileNotFoundError: The folder has no manifest. The message names the command that creates it.
    """
    path = folder / MANIFEST_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; run `python -m pipeline corpus` with this config first")
    result: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return result
