"""Running work concurrently and reporting it, for uploads and reviews alike: a bounded thread map that never
reads its input ahead, and one progress line per finished batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

__all__ = ["Progress", "bounded_map"]

T = TypeVar("T")
R = TypeVar("R")


def bounded_map(work: Iterable[T], fn: Callable[[T], R], max_in_flight: int) -> Iterator[R]:
    """Run ``fn`` over ``work`` in threads, at most ``max_in_flight`` at once, yielding results as they finish.

    Work is pulled from ``work`` only when a slot is free, so a lazy input is never read ahead. On an error the
    calls already running finish (uploads are idempotent) but no new one starts.

    :param work: the inputs.
    :param fn: the call.
    :param max_in_flight: most calls at once; 1 runs in the caller's thread.
    :return: the results, in completion order.
    """
    if max_in_flight == 1:
        for item in work:
            yield fn(item)
        return
    with ThreadPoolExecutor(max_in_flight, thread_name_prefix="toloka") as executor:
        running: set[Future[R]] = set()
        try:
            for item in work:
                if len(running) >= max_in_flight:
                    done, running = wait(running, return_when=FIRST_COMPLETED)
                    for fut in done:
                        yield fut.result()
                running.add(executor.submit(fn, item))
            while running:
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()
        finally:
            wait(running)


class Progress:
    """One log line per finished batch, so a user watching the task log sees a long upload move.

    :param logger: where the lines go.
    :param what: what is counted, e.g. ``tasks created``.
    :param total_batches: the number of batches when known.
    """

    def __init__(self, logger: Any, what: str, total_batches: int | None) -> None:
        self.log, self.what, self.total = logger, what, total_batches
        self.batches = self.items = 0
        self.started = time.monotonic()

    def batch_done(self, items: int, detail: str = "") -> None:
        """Log one finished batch.

        :param items: items in the batch.
        :param detail: appended to the line, e.g. running counts.
        """
        self.batches += 1
        self.items += items
        rate = self.items / max(time.monotonic() - self.started, 1e-6)
        of = f"/{self.total}" if self.total else ""
        self.log.info(
            "Toloka %s: batch %d%s, %d items%s, %.0f items/s",
            self.what,
            self.batches,
            of,
            self.items,
            detail,
            rate,
        )
