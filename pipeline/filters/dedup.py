"""Exact and near-duplicate removal across every source of a corpus run.

The corpus stage builds the filters once per run and reads the sources in config order, so
an index filled while cleaning one source also rejects copies in the sources after it. The
first occurrence in that order is the one kept, which makes the result deterministic.

Both filters can hand out the index entries added since a point (:meth:`index_rows`) and take
them back (:meth:`load_index_rows`). The corpus stage stores each source's entries beside its
output, so a rerun that skips a finished source still deduplicates the sources after it as an
uninterrupted run does.
"""

from __future__ import annotations

import hashlib
import unicodedata
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from pipeline.document import Document
from pipeline.filters.base import Filter, Reject, check_count, check_fraction

if TYPE_CHECKING:
    import pyarrow as pa


def normalize_for_dedup(text: str) -> str:
    """Return the text under NFKC, case-folded and with all whitespace removed.

    Two documents that differ only in width, case, spacing or line breaks get the same key.
    """
    return "".join(unicodedata.normalize("NFKC", text).casefold().split())


@runtime_checkable
class CrossSourceIndex(Protocol):
    """A step whose index of earlier documents outlives one source, such as a deduplication filter."""

    def index_size(self) -> int:
        """Return the number of entries in the index."""
        ...

    def index_rows(self, start: int) -> pa.Table:
        """Return the entries added after the first ``start``, in insertion order."""
        ...

    def load_index_rows(self, table: pa.Table) -> None:
        """Append entries from :meth:`index_rows` output, as if their documents had passed again."""
        ...


class ExactDedupFilter(Filter):
    """Reject a document whose normalized text equals that of a document seen before.

    The index maps a 128-bit BLAKE2b digest of the normalized text to the id of the first
    document with it, so memory grows by roughly 150 bytes per kept document.
    """

    name = "exact_dedup"

    def __init__(self) -> None:
        super().__init__()
        self._first_ids: dict[bytes, str] = {}

    def apply(self, document: Document) -> Document | Reject:
        key = hashlib.blake2b(normalize_for_dedup(document.text).encode("utf-8"), digest_size=16).digest()
        first_id = self._first_ids.setdefault(key, document.id)
        if first_id != document.id:
            return Reject(f"exact duplicate of {first_id} after normalization")
        return document

    def index_size(self) -> int:
        return len(self._first_ids)

    def index_rows(self, start: int) -> pa.Table:
        """Return the ``key`` (16-byte digest) and ``id`` of the entries added after the first ``start``."""
        import pyarrow as pa

        entries = list(self._first_ids.items())[start:]
        return pa.table(
            {
                "key": pa.array([key for key, _ in entries], pa.binary(16)),
                "id": pa.array([identifier for _, identifier in entries], pa.string()),
            }
        )

    def load_index_rows(self, table: pa.Table) -> None:
        for key, identifier in zip(table.column("key").to_pylist(), table.column("id").to_pylist(), strict=True):
            self._first_ids.setdefault(key, identifier)


class NearDedupFilter(Filter):
    """Reject a document whose character n-grams overlap those of an earlier one (MinHash LSH).

    The text is normalized as for exact deduplication and cut into overlapping character
    n-grams, which works for Japanese without word segmentation. ``datasketch`` estimates
    the Jaccard similarity of the n-gram sets with MinHash signatures and finds candidates
    with locality-sensitive hashing. A candidate counts as a duplicate only when the
    similarity estimated from its stored signature reaches ``threshold``.

    Args:
        threshold: Estimated Jaccard similarity at or above which a document is a near
            duplicate. Default: 0.8.
        num_perm: Permutations in a MinHash signature; more is slower and more accurate.
            Default: 128.
        ngram: Characters per n-gram. Default: 5.
        seed: Seed of the MinHash permutations, fixed so that runs repeat. Default: 1.

    NOTE: the signatures of kept documents stay in memory (4 bytes per permutation, 512
    bytes per document at the default) plus the LSH tables, so this filter is off by default.
    """

    name = "near_dedup"

    def __init__(self, *, threshold: float = 0.8, num_perm: int = 128, ngram: int = 5, seed: int = 1) -> None:
        super().__init__()
        self.threshold = check_fraction("threshold", threshold)
        if self.threshold == 0:
            raise ValueError("threshold must be above 0, got 0")
        self.num_perm = check_count("num_perm", num_perm, minimum=2)
        self.ngram = check_count("ngram", ngram, minimum=1)
        self.seed = check_count("seed", seed)
        self._lsh: Any = None
        self._scheme = ""
        self._signatures: list[Any] = []
        self._ids: list[str] = []

    def apply(self, document: Document) -> Document | Reject:
        signature = self._signature(document.text)
        best_index, best_similarity = -1, 0.0
        for candidate in sorted(self._lsh.query(signature)):
            similarity = float((self._signatures[candidate] == signature.hashvalues).mean())
            if similarity > best_similarity:
                best_index, best_similarity = candidate, similarity
        if best_index >= 0 and best_similarity >= self.threshold:
            return Reject(
                f"near duplicate of {self._ids[best_index]} (estimated Jaccard similarity "
                f"{best_similarity:.2f}, threshold {self.threshold})"
            )

        self._lsh.insert(len(self._ids), signature, check_duplication=False)
        self._signatures.append(signature.hashvalues.astype(np.uint32))
        self._ids.append(document.id)
        return document

    def index_size(self) -> int:
        return len(self._ids)

    def index_rows(self, start: int) -> pa.Table:
        """Return the ``id`` and MinHash ``signature`` (``num_perm`` uint32 values) of entries after ``start``."""
        import pyarrow as pa

        signatures = self._signatures[start:]
        values = np.concatenate(signatures) if signatures else np.empty(0, np.uint32)
        return pa.table(
            {
                "id": pa.array(self._ids[start:], pa.string()),
                "signature": pa.FixedSizeListArray.from_arrays(pa.array(values, pa.uint32()), self.num_perm),
            }
        )

    def load_index_rows(self, table: pa.Table) -> None:
        from datasketch import LeanMinHash

        self._ensure_lsh()
        scheme = self._scheme
        ids = table.column("id").to_pylist()
        values = table.column("signature").combine_chunks().flatten().to_numpy().reshape(len(ids), self.num_perm)
        for identifier, signature in zip(ids, values, strict=True):
            # MinHash keeps its values as uint64, and LSH bands hash those bytes, so widen them back.
            minhash = LeanMinHash(seed=self.seed, hashvalues=signature.astype(np.uint64), scheme=scheme)
            self._lsh.insert(len(self._ids), minhash, check_duplication=False)
            self._signatures.append(signature.astype(np.uint32))
            self._ids.append(identifier)

    def _ensure_lsh(self) -> None:
        from datasketch import MinHash, MinHashLSH

        if self._lsh is None:
            self._lsh = MinHashLSH(threshold=self.threshold, num_perm=self.num_perm)
            self._scheme = MinHash(num_perm=self.num_perm, seed=self.seed).scheme

    def _signature(self, text: str) -> Any:
        from datasketch import MinHash

        self._ensure_lsh()

        normalized = normalize_for_dedup(text)
        size = self.ngram
        grams = {normalized[start : start + size] for start in range(max(1, len(normalized) - size + 1))}
        signature = MinHash(num_perm=self.num_perm, seed=self.seed)
        signature.update_batch([gram.encode("utf-8") for gram in grams])
        return signature
