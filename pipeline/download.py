"""Download of remote corpus files into the raw cache folder."""

from __future__ import annotations

import logging
import os
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from pipeline.sources import SourceError

logger = logging.getLogger(__name__)


def download(url: str, destination: Path, *, source: str, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``destination`` unless it is already there, and return the path.

    The file is written under a ``.part`` name and renamed when complete, so an interrupted
    download never looks finished.

    Args:
        url: Address to fetch.
        destination: Final file path inside the raw cache.
        source: Source name, used in error messages.
        timeout: Socket timeout, in seconds. Default: 60.
    """
    if destination.exists():
        return destination

    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".part")
    logger.info("downloading %s to %s", url, destination)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, partial.open("wb") as output:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=destination.name) as progress:
                while chunk := response.read(1 << 20):
                    output.write(chunk)
                    progress.update(len(chunk))
    except (urllib.error.URLError, OSError) as error:
        raise SourceError(
            f"source {source}: download of {url} failed ({error}); if this machine is offline, "
            f"set sources.{source}.path to a local copy"
        ) from None

    os.replace(partial, destination)
    return destination
