"""Segmentation step of the corpus stage: record MeCab morpheme ends on every document, in parallel.

The ends cut a document's text into pieces, each one morpheme with the whitespace before it,
that join back to the text exactly; :mod:`pipeline.morphemes` defines them. This module runs
the segmenter over a stream of documents on all cores.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from itertools import chain

from pipeline.document import Document
from pipeline.morphemes import DEFAULT_MAX_CHUNK_CHARACTERS, MorphemeSegmenter, shared_segmenter

logger = logging.getLogger(__name__)

TASK_DOCUMENTS = 256
TASK_CHARACTERS = 1_000_000
"""A worker task contains at most this many documents and, unless one document is longer,
about this many characters."""


def resolve_workers(workers: int) -> int:
    """Return the worker count for a ``workers`` setting, where 0 means one per usable core."""
    if workers > 0:
        return workers
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def segment_documents(
    documents: Iterable[Document], *, max_chunk_characters: int = DEFAULT_MAX_CHUNK_CHARACTERS, workers: int = 0
) -> Iterator[Document]:
    """Yield each document with its ``morpheme_ends`` set, in input order.

    Documents go to worker processes in tasks of up to 256 documents and about a million
    characters, and each worker keeps one MeCab tagger for its lifetime. At most two tasks
    per worker are in flight, so memory stays bounded on a corpus of any size. The output is
    the same for any number of workers.

    Args:
        documents: Cleaned documents, streamed.
        max_chunk_characters: Maximum text length handed to MeCab in one call, in characters.
            Default: 20000.
        workers: Worker processes; 0 means one per usable core and 1 segments in this
            process. Default: 0.
    """
    workers = resolve_workers(workers)
    tasks = _tasks(documents)
    head = [task for task in (next(tasks, None), next(tasks, None)) if task is not None]
    tasks = chain(head, tasks)

    if workers == 1 or len(head) < 2:
        segmenter = shared_segmenter(max_chunk_characters)
        for task in tasks:
            for document in task:
                yield document.replace(morpheme_ends=segmenter.morpheme_ends(document.text))
        return

    yield from _segment_in_workers(tasks, max_chunk_characters=max_chunk_characters, workers=workers)


def _segment_in_workers(
    tasks: Iterator[list[Document]], *, max_chunk_characters: int, workers: int
) -> Iterator[Document]:
    # forkserver and spawn start workers without copying this process's threads and locks.
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    pending: deque[tuple[list[Document], Future[list[tuple[int, ...]]]]] = deque()
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_start_worker, initargs=(max_chunk_characters,)
    ) as pool:
        for task in tasks:
            pending.append((task, pool.submit(_segment_task, [document.text for document in task])))
            if len(pending) >= 2 * workers:
                yield from _finish(*pending.popleft())
        while pending:
            yield from _finish(*pending.popleft())


def _finish(task: list[Document], future: Future[list[tuple[int, ...]]]) -> Iterator[Document]:
    try:
        ends_per_document = future.result()
    except BrokenProcessPool:
        raise RuntimeError(
            f"a segmentation worker process died while segmenting documents {task[0].id} to {task[-1].id}; "
            "see the log above for its error, and lower segment.max_chunk_characters if it ran out of memory"
        ) from None
    for document, ends in zip(task, ends_per_document, strict=True):
        yield document.replace(morpheme_ends=ends)


def _tasks(documents: Iterable[Document]) -> Iterator[list[Document]]:
    task: list[Document] = []
    characters = 0
    for document in documents:
        task.append(document)
        characters += len(document.text)
        if len(task) >= TASK_DOCUMENTS or characters >= TASK_CHARACTERS:
            yield task
            task, characters = [], 0
    if task:
        yield task


_worker_segmenter: MorphemeSegmenter | None = None


def _start_worker(max_chunk_characters: int) -> None:
    global _worker_segmenter
    _worker_segmenter = MorphemeSegmenter(max_chunk_characters=max_chunk_characters)


def _segment_task(texts: list[str]) -> list[tuple[int, ...]]:
    assert _worker_segmenter is not None, "worker started without _start_worker"
    return [_worker_segmenter.morpheme_ends(text) for text in texts]
