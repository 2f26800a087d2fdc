"""Downloads against an HTTP server that each test starts on 127.0.0.1; nothing else is contacted."""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.config import SourceConfig
from pipeline.document import Document
from pipeline.download import download, read_recorded_sha256
from pipeline.sources import SourceError, livedoor
from tests.file_server import BODY, FileServer, running_server


@pytest.fixture
def server() -> Iterator[FileServer]:
    with running_server() as file_server:
        yield file_server


def fetch(server: FileServer, tmp_path: Path, **options: object) -> Path:
    options = {"timeout": 5.0, "retry_wait": 0.0, **options}
    return download(server.url, tmp_path / "raw" / "livedoor" / "ldcc.tar.gz", source="livedoor", **options)  # type: ignore[arg-type]


def test_download_writes_file(server: FileServer, tmp_path: Path) -> None:
    path = fetch(server, tmp_path)

    assert path.read_bytes() == BODY
    assert server.range_headers == [None]
    assert sorted(p.name for p in path.parent.iterdir()) == ["ldcc.tar.gz", "ldcc.tar.gz.sha256"]


def test_download_records_sha256(server: FileServer, tmp_path: Path) -> None:
    path = fetch(server, tmp_path)

    assert read_recorded_sha256(path) == hashlib.sha256(BODY).hexdigest()
    assert path.with_name("ldcc.tar.gz.sha256").read_text() == f"{hashlib.sha256(BODY).hexdigest()}  ldcc.tar.gz\n"


def test_dropped_connection_resumed(server: FileServer, tmp_path: Path) -> None:
    server.drops = 1

    path = fetch(server, tmp_path, retries=1)

    assert path.read_bytes() == BODY
    assert server.range_headers == [None, f"bytes={len(BODY) // 2}-"]
    assert server.bytes_sent == len(BODY)


def test_next_run_resumes_partial(server: FileServer, tmp_path: Path) -> None:
    server.drops = 1
    with pytest.raises(SourceError, match="the next run resumes it"):
        fetch(server, tmp_path, retries=0)
    partial = tmp_path / "raw" / "livedoor" / "ldcc.tar.gz.part"
    assert partial.stat().st_size == len(BODY) // 2

    path = fetch(server, tmp_path)

    assert path.read_bytes() == BODY
    assert server.range_headers[-1] == f"bytes={len(BODY) // 2}-"
    assert not partial.exists()


def test_range_ignored_restarts(server: FileServer, tmp_path: Path) -> None:
    server.supports_range = False
    server.drops = 1

    path = fetch(server, tmp_path, retries=1)

    assert path.read_bytes() == BODY
    assert server.range_headers == [None, f"bytes={len(BODY) // 2}-"]
    assert server.bytes_sent == len(BODY) // 2 + len(BODY)


def test_changed_file_restarts(server: FileServer, tmp_path: Path) -> None:
    server.drops = 1
    with pytest.raises(SourceError):
        fetch(server, tmp_path, retries=0)
    server.body = BODY[::-1]
    server.etag = '"v2"'

    path = fetch(server, tmp_path)

    assert path.read_bytes() == BODY[::-1]


def test_complete_partial_finished(server: FileServer, tmp_path: Path) -> None:
    # The transfer ended exactly at the end of the file, but before the rename.
    server.drops = 1
    with pytest.raises(SourceError):
        fetch(server, tmp_path, retries=0)
    partial = tmp_path / "raw" / "livedoor" / "ldcc.tar.gz.part"
    partial.write_bytes(BODY)

    path = fetch(server, tmp_path)

    assert path.read_bytes() == BODY
    assert server.range_headers[-1] == f"bytes={len(BODY)}-"


def test_published_sha256_checked(server: FileServer, tmp_path: Path) -> None:
    path = fetch(server, tmp_path, sha256=hashlib.sha256(BODY).hexdigest())

    assert path.read_bytes() == BODY


def test_published_sha256_mismatch(server: FileServer, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"expected 0{64} from sources\.livedoor\.sha256"):
        fetch(server, tmp_path, sha256="0" * 64)

    assert list((tmp_path / "raw" / "livedoor").iterdir()) == []


def test_cached_file_reused(server: FileServer, tmp_path: Path) -> None:
    fetch(server, tmp_path)

    fetch(server, tmp_path)

    assert server.range_headers == [None]


def test_corrupt_cache_downloaded_again(server: FileServer, tmp_path: Path) -> None:
    path = fetch(server, tmp_path)
    path.write_bytes(b"x" + BODY[1:])

    path = fetch(server, tmp_path)

    assert path.read_bytes() == BODY
    assert server.range_headers == [None, None]


def test_unreachable_names_source(server: FileServer, tmp_path: Path) -> None:
    server.hang_up = True

    with pytest.raises(SourceError) as error:
        fetch(server, tmp_path, retries=1)

    message = str(error.value)
    assert "source livedoor" in message
    assert server.url in message
    assert "sources.livedoor.path" in message
    assert len(server.range_headers) == 2


def test_http_error_not_retried(server: FileServer, tmp_path: Path) -> None:
    server.status = 404

    with pytest.raises(SourceError, match=r"HTTP 404 .*sources\.livedoor\.url"):
        fetch(server, tmp_path, retries=3)

    assert len(server.range_headers) == 1


def test_server_error_retried(server: FileServer, tmp_path: Path) -> None:
    server.status = 503

    with pytest.raises(SourceError, match="after 3 attempts"):
        fetch(server, tmp_path, retries=2)

    assert len(server.range_headers) == 3


def article_tarball() -> bytes:
    body = "http://example.com/a\n2020-01-01T00:00:00+0900\nタイトル\n本文です。\n".encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("text/cat/cat-1.txt")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


def test_livedoor_reader_caches_download(server: FileServer, tmp_path: Path) -> None:
    server.body = article_tarball()
    raw_dir = tmp_path / "corpora" / "raw"

    records = list(livedoor.read(SourceConfig(url=server.url), raw_dir=raw_dir))

    assert [record.title for record in records if isinstance(record, Document)] == ["タイトル"]
    assert (raw_dir / "livedoor" / "ldcc.tar.gz").read_bytes() == server.body


def test_non_http_address_rejected(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"expected an http:// or https:// URL"):
        download("file:///etc/hostname", tmp_path / "raw" / "x", source="livedoor")

    assert not (tmp_path / "raw").exists()
