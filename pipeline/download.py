"""Verified, resumable downloads of remote corpus files into ``<corpora_dir>/raw/<source>/``.

Beside a downloaded file ``NAME`` the raw folder contains:

- ``NAME.part``: the bytes received so far. The next attempt, or the next run, resumes from
  its end with an HTTP ``Range`` request instead of starting over.
- ``NAME.part.json``: the address, the server's validators (``ETag``, ``Last-Modified``) and
  the expected size of that transfer, so that a resumed transfer continues the same file.
- ``NAME.sha256``: the SHA-256 of the complete file in ``sha256sum`` format. It is written
  after the first complete download (after checking the published digest, if the config
  gives one) and checked before every later use.

Hugging Face datasets go through ``huggingface_hub`` into the same folder, in its cache
layout; see :mod:`pipeline.hub`.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tqdm import tqdm

from pipeline.sources import SourceError

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1 << 20
USER_AGENT = "pipeline-corpus-downloader/0.1"
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
_UNSATISFIED_RANGE = re.compile(r"bytes \*/(\d+)")
_SHA256 = re.compile(r"[0-9a-f]{64}")

# Digests already computed in this process, keyed by (path, size, modification time in ns).
_digests: dict[tuple[str, int, int], str] = {}


class _Interrupted(Exception):
    """A transfer that stopped early and can be resumed or retried."""


def sha256_file(path: Path) -> str:
    """Return the hex SHA-256 of a file, computed once per process for an unchanged file."""
    status = path.stat()
    key = (str(path.resolve()), status.st_size, status.st_mtime_ns)
    if key not in _digests:
        with path.open("rb") as handle:
            _digests[key] = hashlib.file_digest(handle, "sha256").hexdigest()
    return _digests[key]


def download(
    url: str,
    destination: Path,
    *,
    source: str,
    sha256: str | None = None,
    timeout: float = 60.0,
    retries: int = 3,
    retry_wait: float = 2.0,
) -> Path:
    """Return ``destination`` after checking it, downloading ``url`` there first if it is missing.

    Args:
        url: Address to fetch over HTTP or HTTPS.
        destination: Final file path inside the raw cache folder.
        source: Source name, used in messages and in the config key they point to.
        sha256: Published SHA-256 of the file, if the source has one. Default: ``None``,
            which records the digest of the first complete download instead.
        timeout: Socket timeout for connecting and for each read, in seconds. Default: 60.
        retries: Further attempts after a dropped connection, a timeout or an HTTP 5xx
            response, each resuming where the last stopped. Default: 3.
        retry_wait: Wait before the first retry, in seconds, doubled for each further one.
            Default: 2.

    Raises:
        SourceError: The download failed after all retries, the server responded with an
            HTTP error, or the file does not match its SHA-256. The message names the
            source, the address and the config key for a local copy.
    """
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise SourceError(
            f"source {source}: invalid address {url!r}, expected an http:// or https:// URL; "
            f"for a local file set sources.{source}.path instead of url"
        )
    if destination.exists():
        if _cached_file_is_valid(destination, source=source, sha256=sha256):
            return destination
        destination.unlink()

    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = _partial_path(destination)
    logger.info("source %s: downloading %s to %s", source, url, destination)
    for attempt in range(retries + 1):
        try:
            _transfer(url, partial, source=source, timeout=timeout)
            break
        except _Interrupted as error:
            if attempt == retries:
                raise SourceError(
                    f"source {source}: download of {url} failed after {retries + 1} attempts ({error}); "
                    f"the partial file {partial} is kept and the next run resumes it. If this machine "
                    f"is offline, set sources.{source}.path to a local copy"
                ) from None
            wait = retry_wait * 2**attempt
            logger.warning(
                "source %s: download of %s interrupted (%s); retrying in %.1f s (attempt %d of %d)",
                source,
                url,
                error,
                wait,
                attempt + 2,
                retries + 1,
            )
            time.sleep(wait)

    digest = sha256_file(partial)
    if sha256 is not None and digest != sha256:
        partial.unlink()
        _state_path(destination).unlink(missing_ok=True)
        raise SourceError(
            f"source {source}: {url} has SHA-256 {digest}, expected {sha256} from sources.{source}.sha256; "
            "the download was deleted. Run again, or fix the digest in the config"
        )
    _checksum_path(destination).write_text(f"{digest}  {destination.name}\n", encoding="utf-8")
    os.replace(partial, destination)
    _state_path(destination).unlink(missing_ok=True)
    return destination


def _partial_path(destination: Path) -> Path:
    return destination.with_name(destination.name + ".part")


def _state_path(destination: Path) -> Path:
    return destination.with_name(destination.name + ".part.json")


def _checksum_path(destination: Path) -> Path:
    return destination.with_name(destination.name + ".sha256")


def read_recorded_sha256(destination: Path) -> str | None:
    """Return the SHA-256 recorded beside a downloaded file, or ``None`` if there is none."""
    try:
        recorded = _checksum_path(destination).read_text(encoding="utf-8").split()
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    return recorded[0] if recorded and _SHA256.fullmatch(recorded[0]) else None


def _cached_file_is_valid(destination: Path, *, source: str, sha256: str | None) -> bool:
    """Check a cached file against the published and the recorded digest; record one if missing."""
    recorded = read_recorded_sha256(destination)
    expected = sha256 or recorded
    digest = sha256_file(destination)
    if expected is None:
        logger.info("source %s: recording SHA-256 %s of %s", source, digest, destination)
        _checksum_path(destination).write_text(f"{digest}  {destination.name}\n", encoding="utf-8")
        return True
    if digest == expected:
        if recorded != digest:
            _checksum_path(destination).write_text(f"{digest}  {destination.name}\n", encoding="utf-8")
        return True

    logger.warning(
        "source %s: cached %s has SHA-256 %s, expected %s; downloading it again", source, destination, digest, expected
    )
    _checksum_path(destination).unlink(missing_ok=True)
    return False


def _transfer(url: str, partial: Path, *, source: str, timeout: float) -> None:
    """Fetch ``url`` into ``partial``, resuming from its end when the saved state allows.

    Returns when ``partial`` contains the whole file; raises :class:`_Interrupted` when the
    transfer stopped early and may be retried.
    """
    destination = partial.with_name(partial.name.removesuffix(".part"))
    state_path = _state_path(destination)
    state = _read_state(state_path, url)
    offset = partial.stat().st_size if partial.exists() and state is not None else 0

    headers = {"User-Agent": USER_AGENT}
    if offset and state is not None:
        headers["Range"] = f"bytes={offset}-"
        # With If-Range the server sends the whole file instead of a range when it changed.
        validator = state.get("etag") or state.get("last_modified")
        if isinstance(validator, str):
            headers["If-Range"] = validator

    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:
            match = _UNSATISFIED_RANGE.fullmatch(error.headers.get("Content-Range") or "")
            if match and int(match.group(1)) == offset:
                return
            partial.unlink()
            raise _Interrupted("the partial file is larger than the file on the server; starting over") from None
        if error.code >= 500 or error.code == 429:
            raise _Interrupted(f"HTTP {error.code} {error.reason}") from None
        raise SourceError(
            f"source {source}: download of {url} failed with HTTP {error.code} {error.reason}; fix "
            f"sources.{source}.url, or set sources.{source}.path to a local copy"
        ) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        reason = error.reason if isinstance(error, urllib.error.URLError) else error
        raise _Interrupted(f"{type(error).__name__}: {reason}") from None

    with response:
        total: int | None
        if offset and response.status == 206:
            match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range") or "")
            if not match or int(match.group(1)) != offset:
                partial.unlink()
                raise _Interrupted(f"the server resumed at an unexpected range {match and match.group(0)!r}")
            total = None if match.group(3) == "*" else int(match.group(3))
            mode = "ab"
        else:
            if offset:
                logger.info("source %s: the server sent the whole file instead of a range; starting over", source)
            offset = 0
            mode = "wb"
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            state = {
                "url": url,
                "etag": response.headers.get("ETag"),
                "last_modified": response.headers.get("Last-Modified"),
                "size": total,
            }
            state_path.write_text(json.dumps(state) + "\n", encoding="utf-8")

        progress = tqdm(
            total=total,
            initial=offset,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=f"{source} {destination.name}",
        )
        with partial.open(mode) as output, progress:
            try:
                while chunk := response.read(CHUNK_SIZE):
                    output.write(chunk)
                    progress.update(len(chunk))
            except (OSError, http.client.HTTPException) as error:
                raise _Interrupted(f"connection lost after {output.tell()} bytes ({type(error).__name__})") from None

    size = partial.stat().st_size
    if total is not None and size < total:
        raise _Interrupted(f"connection closed after {size} of {total} bytes")
    if total is not None and size > total:
        partial.unlink()
        raise _Interrupted(f"received {size} bytes, more than the {total} announced; starting over")


def _read_state(state_path: Path, url: str) -> dict[str, str | int | None] | None:
    """Return the saved state of an unfinished transfer of ``url``, or ``None`` if there is none."""
    try:
        state = json.loads(state_path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    if not isinstance(state, dict) or state.get("url") != url:
        return None
    return state
