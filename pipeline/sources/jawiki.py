"""Japanese Wikipedia reader (not yet available)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pipeline.config import SourceConfig
from pipeline.document import Document
from pipeline.sources import ReaderReject, SourceError


def read(config: SourceConfig, *, raw_dir: Path) -> Iterator[Document | ReaderReject]:
    raise SourceError("source jawiki is not available yet; remove sources.jawiki from the config")
