"""The bounded thread map: concurrency limit, no read-ahead."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from airflow_toloka.concurrency import bounded_map


def test_bounded_map_never_runs_more_than_asked_nor_reads_ahead() -> None:
    lock = threading.Lock()
    running = peak = finished = 0
    unfinished_when_pulled: list[int] = []
    barrier = threading.Barrier(3, timeout=10)  # the first three calls must be running together

    def work() -> Iterator[int]:
        for i in range(40):
            with lock:
                unfinished_when_pulled.append(i - finished)
            yield i

    def fn(i: int) -> int:
        nonlocal running, peak, finished
        with lock:
            running += 1
            peak = max(peak, running)
        if i < 3:
            barrier.wait()
        with lock:
            running -= 1
            finished += 1
        return i * i

    assert sorted(bounded_map(work(), fn, 3)) == [i * i for i in range(40)]
    assert peak == 3 and max(unfinished_when_pulled) <= 3  # pulled only when a slot is free
    assert list(bounded_map(iter(range(4)), lambda i: i + 1, 1)) == [1, 2, 3, 4]
