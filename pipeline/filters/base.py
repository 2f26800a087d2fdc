"""The filter contract: keep a document (possibly rewritten) or reject it with a reason."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import ClassVar

from pipeline.document import Document


@dataclass(frozen=True, slots=True)
class Reject:
    """A filter's decision to drop a document, with a reason a person can act on."""

    reason: str


@dataclass(slots=True)
class FilterStats:
    """Counts of documents and characters one filter saw, changed and rejected. Characters are code points.

    The counts always satisfy ``documents_in == documents_out + documents_rejected``.
    ``seconds`` is the time spent in :meth:`Filter.apply`, kept apart from the counts because
    it differs between runs.
    """

    documents_in: int = 0
    documents_out: int = 0
    documents_changed: int = 0
    documents_rejected: int = 0
    characters_in: int = 0
    characters_out: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, int | float]:
        return asdict(self)

    def counts(self) -> dict[str, int]:
        """Return the counts without ``seconds``, so that two runs compare equal."""
        return {key: value for key, value in asdict(self).items() if key != "seconds"}


RejectSink = Callable[[Document, str, str], None]
"""Called with ``(document, filter_name, reason)`` for every rejected document."""


class Filter:
    """A named cleaning rule.

    Subclasses set ``name`` and implement :meth:`apply`. :meth:`process` applies the rule to
    one document and counts the result; :meth:`run` does the same over a stream and hands
    every rejected document to a sink, so that nothing is dropped without a record.

    A subclass that sets ``sources`` applies only to documents of those sources and passes
    the others through unchanged (they still count as in and out).
    """

    name: ClassVar[str]
    sources: ClassVar[frozenset[str] | None] = None

    def __init__(self) -> None:
        self.stats = FilterStats()

    def apply(self, document: Document) -> Document | Reject:
        """Return the document, rewritten if the rule changes it, or a :class:`Reject`."""
        raise NotImplementedError

    def applies_to(self, document: Document) -> bool:
        return self.sources is None or document.source in self.sources

    def process(self, document: Document) -> Document | Reject:
        """Apply the rule to one document, update :attr:`stats` and return the result."""
        stats = self.stats
        stats.documents_in += 1
        stats.characters_in += len(document.text)

        result: Document | Reject = document
        if self.applies_to(document):
            started = time.perf_counter()
            result = self.apply(document)
            stats.seconds += time.perf_counter() - started

        if isinstance(result, Reject):
            stats.documents_rejected += 1
            return result
        stats.documents_out += 1
        stats.characters_out += len(result.text)
        if result is not document and result != document:
            stats.documents_changed += 1
        return result

    def run(self, documents: Iterable[Document], on_reject: RejectSink) -> Iterator[Document]:
        """Apply the rule to every document, yielding the kept ones in order."""
        for document in documents:
            result = self.process(document)
            if isinstance(result, Reject):
                on_reject(document, self.name, result.reason)
                continue
            yield result

    def reset_stats(self) -> None:
        """Start new counts, as the corpus stage does before each source.

        Any state the rule keeps across documents, such as a deduplication index, stays.
        """
        self.stats = FilterStats()


def check_fraction(name: str, value: float) -> float:
    """Return ``value`` if it lies in [0, 1]; raise ``ValueError`` naming the option otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValueError(f"{name} must be a number from 0 to 1, got {value!r}")
    return float(value)


def check_count(name: str, value: int, *, minimum: int = 0) -> int:
    """Return ``value`` if it is an integer of at least ``minimum``; raise ``ValueError`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer of at least {minimum}, got {value!r}")
    return value
