"""The order-preserving parallel map that converts jawiki pages on every core."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator

import pytest

from pipeline.sources.ordered_map import ordered_map


def failing_items(count: int) -> Iterator[int]:
    yield from range(count)
    raise ValueError(f"input broken after item {count - 1}")


def worker_process_id(item: int) -> tuple[int, int]:
    return item, os.getpid()


@pytest.mark.timeout(60)
def test_order_kept_with_workers() -> None:
    # Batches of 7 items and a few in flight at once, so many batches finish out of order.
    results = list(ordered_map(math.isqrt, range(1000), workers=2, batch_items=7))
    assert results == [math.isqrt(item) for item in range(1000)]


@pytest.mark.timeout(60)
def test_work_runs_in_other_processes() -> None:
    process_ids = {process_id for _, process_id in ordered_map(worker_process_id, range(100), workers=2, batch_items=5)}
    assert os.getpid() not in process_ids


@pytest.mark.timeout(60)
@pytest.mark.parametrize("workers", [1, 2])
def test_input_error_after_earlier_results(workers: int) -> None:
    results: list[int] = []
    with pytest.raises(ValueError, match="after item 49"):
        for result in ordered_map(math.isqrt, failing_items(50), workers=workers, batch_items=8):
            results.append(result)
    assert results == [math.isqrt(item) for item in range(50)]


@pytest.mark.timeout(60)
def test_function_error_raised() -> None:
    with pytest.raises(ValueError, match="isqrt"):
        list(ordered_map(math.isqrt, [4, -1, 9], workers=2, batch_items=1))


@pytest.mark.timeout(60)
def test_input_read_lazily() -> None:
    consumed: list[int] = []

    def items() -> Iterator[int]:
        for item in range(10_000):
            consumed.append(item)
            yield item

    results = ordered_map(math.isqrt, items(), workers=2, batch_items=10)
    next(results)
    results.close()
    # Only the batches in flight (2 per worker) were read, not the whole input.
    assert len(consumed) <= 2 * 2 * 10 + 10
