"""Source readers, one module per corpus, each turning raw files into :class:`Document` records.

A reader is a function ``read(config, *, raw_dir, workers) -> Iterator[Document | ReaderReject]``,
where ``workers`` is the number of processes it may use (at least 1). It
yields a :class:`ReaderReject` for an input record it cannot turn into a document, so that the
corpus stage keeps it with its reason instead of dropping it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

from pipeline.config import SourceConfig
from pipeline.document import Document

SOURCE_NAMES = ("livedoor", "wikitext", "jawiki")


class SourceError(RuntimeError):
    """A source that cannot be read; the message names the path or address and the config key."""


class ReaderReject(NamedTuple):
    """An input record that could not become a document. ``document`` contains what was read."""

    document: Document
    reason: str


Reader = Callable[..., Iterator[Document | ReaderReject]]


def get_reader(name: str) -> Reader:
    """Import the reader module of a source lazily and return its ``read`` function."""
    if name not in SOURCE_NAMES:
        raise SourceError(f"unknown source {name!r}; supported sources: {', '.join(SOURCE_NAMES)}")
    module = importlib.import_module(f"pipeline.sources.{name}")
    reader: Reader = module.read
    return reader


def check_local_path(name: str, config: SourceConfig) -> Path:
    """Return ``config.path`` after checking that it exists and is readable."""
    assert config.path is not None
    path = config.path
    if not path.exists():
        raise SourceError(
            f"source {name}: path {path} does not exist; fix sources.{name}.path in the config "
            "or remove it to download the corpus"
        )
    if path.is_file():
        try:
            with path.open("rb") as handle:
                handle.read(1)
        except OSError as error:
            raise SourceError(
                f"source {name}: path {path} is not readable ({error}); fix sources.{name}.path"
            ) from None
    return path
