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
    """Counts of documents and characters one filter saw, changed and rejected. Characters are code points."""

    documents_in: int = 0
    documents_out: int = 0
    documents_changed: int = 0
    documents_rejected: int = 0
    characters_in: int = 0
    characters_out: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, int | float]:
        return asdict(self)


RejectSink = Callable[[Document, str, str], None]
"""Called with ``(document, filter_name, reason)`` for every rejected document."""


class Filter:
    """A named cleaning rule.

    Subclasses set ``name`` and implement :meth:`apply`. :meth:`run` applies the rule to a
    stream, counts what changed, and hands every rejected document to a sink so that nothing
    is dropped without a record.
    """

    name: ClassVar[str]

    def __init__(self) -> None:
        self.stats = FilterStats()

    def apply(self, document: Document) -> Document | Reject:
        """Return the document, rewritten if the rule changes it, or a :class:`Reject`."""
        raise NotImplementedError

    def run(self, documents: Iterable[Document], on_reject: RejectSink) -> Iterator[Document]:
        """Apply the rule to every document, yielding the kept ones in order."""
        stats = self.stats
        for document in documents:
            started = time.perf_counter()
            result = self.apply(document)
            stats.seconds += time.perf_counter() - started

            stats.documents_in += 1
            stats.characters_in += len(document.text)
            if isinstance(result, Reject):
                stats.documents_rejected += 1
                on_reject(document, self.name, result.reason)
                continue

            stats.documents_out += 1
            stats.characters_out += len(result.text)
            if result != document:
                stats.documents_changed += 1
            yield result
