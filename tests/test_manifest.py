from __future__ import annotations

import hashlib
from pathlib import Path

from pipeline.config import SourceConfig
from pipeline.manifest import describe_files, input_files


def touch(path: Path, content: bytes = b"data") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def test_inputs_local_file(tmp_path: Path) -> None:
    archive = touch(tmp_path / "ldcc.tar.gz")

    assert input_files("livedoor", SourceConfig(path=archive), tmp_path / "raw") == [archive]


def test_inputs_local_folder_sorted(tmp_path: Path) -> None:
    second = touch(tmp_path / "corpus" / "b" / "wiki.valid.raw")
    first = touch(tmp_path / "corpus" / "a" / "wiki.test.raw")

    assert input_files("wikitext", SourceConfig(path=tmp_path / "corpus"), tmp_path / "raw") == [first, second]


def test_inputs_download_cache(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    archive = touch(raw / "livedoor" / "ldcc.tar.gz")
    touch(raw / "livedoor" / "ldcc.tar.gz.sha256")
    touch(raw / "livedoor" / "other.tar.gz.part")
    touch(raw / "livedoor" / "other.tar.gz.part.json")
    touch(raw / "wikitext" / "unrelated.parquet")

    assert input_files("livedoor", SourceConfig(), raw) == [archive]


def test_inputs_hub_cache_snapshots(tmp_path: Path) -> None:
    repository = tmp_path / "raw" / "wikitext" / "datasets--Salesforce--wikitext"
    blob = touch(repository / "blobs" / ("0" * 64))
    touch(repository / "refs" / "main", b"abc")
    touch(tmp_path / "raw" / "wikitext" / ".locks" / "datasets--Salesforce--wikitext" / "x.lock")
    link = repository / "snapshots" / "abc" / "wikitext-2-raw-v1" / "test-00000-of-00001.parquet"
    link.parent.mkdir(parents=True)
    link.symlink_to(blob)

    assert input_files("wikitext", SourceConfig(), tmp_path / "raw") == [link]


def test_describe_files_hashes(tmp_path: Path) -> None:
    file = touch(tmp_path / "a.txt", b"hello")

    assert describe_files([file]) == [{"path": str(file), "bytes": 5, "sha256": hashlib.sha256(b"hello").hexdigest()}]
