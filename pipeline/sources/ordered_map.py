"""A parallel map over a stream that keeps input order and bounded memory."""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

#: Batches queued or running per worker process; more only costs memory.
BATCHES_PER_WORKER = 2


def ordered_map(
    function: Callable[[Item], Result],
    items: Iterable[Item],
    *,
    workers: int,
    weight: Callable[[Item], int] = lambda item: 1,
    batch_weight: int = 1 << 20,
    batch_items: int = 256,
) -> Iterator[Result]:
    """Yield ``function(item)`` for every item, in input order, computed in ``workers`` processes.

    Items travel to the workers in batches, which close at ``batch_items`` items or once their
    total ``weight`` reaches ``batch_weight``. At most ``BATCHES_PER_WORKER * workers`` batches
    are in flight, so memory does not grow with the length of ``items``, and ``items`` is
    read only as fast as the results are consumed.

    Args:
        function: A picklable function (module level, or a ``functools.partial`` of one).
        items: The input stream; read in the calling process.
        workers: Worker processes; 1 or less runs everything in the calling process.
        weight: Cost of one item in any unit, such as its length in characters. Default: 1.
        batch_weight: Total weight at which a batch closes. Default: 1048576.
        batch_items: Items at which a batch closes. Default: 256.

    Raises:
        Exception: Whatever reading ``items`` raised, after the results of every item read
            before it were yielded; or whatever ``function`` raised for an item.
    """
    if workers <= 1:
        for item in items:
            yield function(item)
        return

    batches = _batches(items, weight=weight, batch_weight=batch_weight, batch_items=batch_items)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as executor:
        pending: deque[Future[list[Result]]] = deque()
        input_error: Exception | None = None
        exhausted = False
        while True:
            while not exhausted and len(pending) < BATCHES_PER_WORKER * workers:
                try:
                    batch = next(batches)
                except StopIteration:
                    exhausted = True
                    break
                except Exception as error:  # Raised again once the results before it are out.
                    input_error = error
                    exhausted = True
                    break
                pending.append(executor.submit(_map_batch, function, batch))

            if not pending:
                break
            yield from pending.popleft().result()

    if input_error is not None:
        raise input_error


def _batches(
    items: Iterable[Item], *, weight: Callable[[Item], int], batch_weight: int, batch_items: int
) -> Iterator[list[Item]]:
    batch: list[Item] = []
    total = 0
    try:
        for item in items:
            batch.append(item)
            total += weight(item)
            if total >= batch_weight or len(batch) >= batch_items:
                yield batch
                batch = []
                total = 0
    except Exception:
        # The items read before the error still go out, then the error is raised.
        if batch:
            yield batch
        raise
    if batch:
        yield batch


def _map_batch(function: Callable[[Item], Result], batch: list[Item]) -> list[Result]:
    return [function(item) for item in batch]
