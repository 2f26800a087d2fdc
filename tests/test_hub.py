"""Hugging Face downloads, against a server the test starts on 127.0.0.1 and a cache built in tmp_path."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.hub import download_hub_files, verify_hub_file
from pipeline.sources import SourceError
from tests.file_server import FileServer, running_server


@pytest.fixture
def server() -> Iterator[FileServer]:
    with running_server() as file_server:
        yield file_server


def test_hub_unreachable_names_source(server: FileServer, tmp_path: Path) -> None:
    server.status = 404
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"

    with pytest.raises(SourceError) as error:
        download_hub_files(
            "Salesforce/wikitext",
            patterns=["wikitext-2-raw-v1/test-*.parquet"],
            cache_dir=tmp_path / "raw" / "wikitext",
            source="wikitext",
            endpoint=endpoint,
        )

    message = str(error.value)
    assert "source wikitext" in message
    assert endpoint in message
    assert "sources.wikitext.path" in message


def hub_cache(tmp_path: Path, content: bytes, digest: str) -> Path:
    blob = tmp_path / "blobs" / digest
    blob.parent.mkdir(parents=True)
    blob.write_bytes(content)
    link = tmp_path / "snapshots" / "abc" / "test-00000-of-00001.parquet"
    link.parent.mkdir(parents=True)
    link.symlink_to(blob)
    return link


def test_hub_file_checked(tmp_path: Path) -> None:
    link = hub_cache(tmp_path, b"parquet bytes", hashlib.sha256(b"parquet bytes").hexdigest())

    verify_hub_file(link, source="wikitext")

    assert link.read_bytes() == b"parquet bytes"


def test_hub_file_corrupt_deleted(tmp_path: Path) -> None:
    link = hub_cache(tmp_path, b"parquet bytez", hashlib.sha256(b"parquet bytes").hexdigest())

    with pytest.raises(SourceError, match="run again to download it"):
        verify_hub_file(link, source="wikitext")

    assert not link.resolve().exists()
