"""An HTTP server on 127.0.0.1 that tests start themselves, with switches for the failures they need."""

from __future__ import annotations

import contextlib
import random
import re
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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


@contextlib.contextmanager
def running_server() -> Iterator[FileServer]:
    """Start a :class:`FileServer` in a thread, and stop it on exit."""
    file_server = FileServer()
    thread = threading.Thread(target=file_server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield file_server
    finally:
        file_server.shutdown()
        file_server.server_close()
        thread.join(timeout=5)
