"""Ids of tasks, task suites and assignments: ``<pool id as 10 hex>--<8 hex creation second><16 hex counter>``.

Like Toloka's (a Mongo-style ObjectId after the pool prefix, its first 8 hex digits the creation time), and
growing monotonically, so a pool's ids sort in creation order as strings.

User bonuses get decimal ids instead (Toloka's examples show digit strings), all of one width and growing, so
their string order is their creation order too: toloka-kit finds the bonuses of an async batch with
``id_gte``/``id_lte`` bounds it computes on strings.
"""

from __future__ import annotations

import random
from datetime import datetime, timezone

__all__ = ["IdSource"]


class IdSource:
    """Where every object id comes from; the (second, counter) pair only ever grows, across resets too.

    :param seed: seeds the counter's start.
    """

    def __init__(self, seed: int | None) -> None:
        self.secs = 0
        self.counter = random.Random(seed).getrandbits(40)
        self.number = 4_000_000_000  # the last decimal id given; 10 digits for the next 6 billion

    def second(self, when: datetime) -> int:
        """The creation second to use for objects created at ``when`` (never less than the last one used).

        :param when: naive UTC creation time.
        :return: Unix seconds.
        """
        self.secs = max(self.secs, int(when.replace(tzinfo=timezone.utc).timestamp()))
        return self.secs

    def new(self, prefix: str, when: datetime) -> str:
        """One fresh id.

        :param prefix: the pool's 10-hex prefix.
        :param when: naive UTC creation time.
        :return: the id.
        """
        secs = self.second(when)
        self.counter += 1
        return f"{prefix}--{secs:08x}{self.counter:016x}"

    def decimal(self) -> str:
        """One fresh fixed-width decimal id (user bonuses), greater as a string than every earlier one.

        :return: 10 digits.
        """
        self.number += 1
        return f"{self.number:010d}"
