"""Downloads against an HTTP server that each test starts on 127.0.0.1; nothing else is contacted."""

from __future__ import annotations

import hashlib
import io
import random
import re
import socket
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pipeline.config import SourceConfig
from pipeline.document import Document
from pipeline.download import download, download_hub_files, read_recorded_sha256, verify_hub_file
from pipeline.sources import SourceError, livedoor

BODY = random.Random(0).randbytes(300_000)


class FileServer(ThreadingHTTPServer):
    """Serves ``body`` at every path, with switches for the failures a test needs."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), FileHandler)
        self.body = BODY
        self.etag = '"v1"'
        self.supports_range = True
        self.drops = 0  # responses that stop halfway and close the connection
        self.hang_up = False  # close every connection without a response
        self.status = 200
        self.range_headers: list[str | None] = []
        self.bytes_sent = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/files/ldcc.tar.gz"


class FileHandler(BaseHTTPRequestHandler):
    server: FileServer

    def do_GET(self) -> None:
        server = self.server
        server.range_headers.append(self.headers.get("Range"))
        if server.hang_up:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if server.status != 200:
            self.send_error(server.status)
            return

        body = server.body
        start = 0
        requested = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if_range = self.headers.get("If-Range")
        if requested and server.supports_range and (if_range is None or if_range == server.etag):
            start = int(requested.group(1))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        payload = body[start:]
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("ETag", server.etag)
        self.end_headers()

        # Counted before sending, because the client may finish reading before this thread resumes.
        if server.drops:
            server.drops -= 1
            payload = payload[: len(payload) // 2]
            server.bytes_sent += len(payload)
            self.wfile.write(payload)
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        server.bytes_sent += len(payload)
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[FileServer]:
    file_server = FileServer()
    thread = threading.Thread(target=file_server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield file_server
    file_server.shutdown()
    file_server.server_close()
    thread.join(timeout=5)


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
