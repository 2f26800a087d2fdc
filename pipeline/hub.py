"""Downloads of Hugging Face dataset files into ``<corpora_dir>/raw/<source>/``, checked by SHA-256."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from pipeline.download import sha256_file
from pipeline.sources import SourceError

_SHA256 = re.compile(r"[0-9a-f]{64}")


def download_hub_files(
    repo_id: str,
    *,
    patterns: Sequence[str],
    cache_dir: Path,
    source: str,
    revision: str | None = None,
    endpoint: str | None = None,
) -> list[Path]:
    """Download the files of a Hugging Face dataset repository that match ``patterns``.

    ``huggingface_hub`` keeps them under ``cache_dir`` in its cache layout, resumes an
    interrupted file and checks its size. This function then checks the SHA-256 of every
    file that the hub stores with Git LFS, because its cache name is that digest.

    Args:
        repo_id: Dataset repository, such as ``Salesforce/wikitext``.
        patterns: Glob patterns of repository paths, such as ``wikitext-103-raw-v1/train-*.parquet``.
        cache_dir: Cache folder, ``<corpora_dir>/raw/<source>``.
        source: Source name, used in messages.
        revision: Branch, tag or commit. Default: ``None``, the default branch.
        endpoint: Hub address. Default: ``None``, the address ``huggingface_hub`` is
            configured with (``https://huggingface.co`` unless ``HF_ENDPOINT`` is set).

    Returns:
        The local paths of the matching files, sorted by repository path.

    Raises:
        SourceError: The hub could not be reached and nothing is cached, no file matches,
            or a file does not match its SHA-256.
    """
    from huggingface_hub import snapshot_download

    address = endpoint or "the Hugging Face hub"
    try:
        folder = Path(
            snapshot_download(
                repo_id,
                repo_type="dataset",
                revision=revision,
                cache_dir=cache_dir,
                allow_patterns=list(patterns),
                endpoint=endpoint,
            )
        )
    # huggingface_hub raises OSError subclasses or the errors of its HTTP client, which
    # changed between releases (requests, httpx), so the boundary catches them all here.
    except Exception as error:
        raise SourceError(
            f"source {source}: could not download {', '.join(patterns)} of dataset {repo_id} from {address} "
            f"({type(error).__name__}: {error}); if this machine is offline, set sources.{source}.path "
            "to a local copy"
        ) from None

    files = sorted({file for pattern in patterns for file in folder.glob(pattern) if file.is_file()})
    if not files:
        raise SourceError(
            f"source {source}: dataset {repo_id} has no files matching {', '.join(patterns)}; "
            f"check sources.{source}.hub_config and sources.{source}.splits"
        )
    for file in files:
        verify_hub_file(file, source=source)
    return files


def verify_hub_file(file: Path, *, source: str) -> None:
    """Check a file of the hub cache against the SHA-256 that names its blob, when it has one.

    Files the hub stores with Git LFS are cached as ``blobs/<sha256>`` and linked from the
    snapshot folder. Small files stored in Git are named by their Git hash instead, and
    are checked for size only by ``huggingface_hub``.

    Raises:
        SourceError: The content does not match; the blob is deleted so that the next run
            downloads it again.
    """
    blob = file.resolve()
    if not _SHA256.fullmatch(blob.name):
        return
    digest = sha256_file(blob)
    if digest != blob.name:
        blob.unlink()
        raise SourceError(
            f"source {source}: cached hub file {file} has SHA-256 {digest}, expected {blob.name}; "
            "the corrupt copy was deleted, run again to download it"
        )
