"""No I/O: which pools of a project closed since a cursor, for the event-driven trigger.

A pool's close is known by Toloka's own stamp, ``last_stopped``, never by a local clock: the triggerer's clock and
Toloka's may differ, and a stamp compared with a stamp cannot. The cursor is the latest stamp reported and the ids
reported at exactly that stamp (two pools may close within one millisecond), so it stays a few bytes however many
pools a project has closed.

A pool reopened and closed again has a new ``last_stopped``: that is a new close, reported again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the triggerer imports this module on its event loop: keep it light
    from airflow_toloka.models import Pool

__all__ = ["CloseCursor", "closed_pool_event", "closes_after", "reasons_of"]

NOT_A_CLOSE = "FOR_UPDATE"
"""The close reason of a pool closed to be edited and opened again (close-for-update): not a finished pool."""


def reasons_of(close_reasons: Iterable[str] | str | None) -> tuple[str, ...] | None:
    """Normalize the close reasons a trigger reports.

    :param close_reasons: ``None`` (every reason but ``FOR_UPDATE``), one reason, or several.
    :return: the reasons upper-cased, each once, in order; ``None`` for every reason but ``FOR_UPDATE``.
    :raises ValueError: when the reasons are empty or not strings.
    """
    if close_reasons is None:
        return None
    raw = [close_reasons] if isinstance(close_reasons, str) else list(close_reasons)
    if not raw or not all(isinstance(r, str) and r.strip() for r in raw):
        raise ValueError(f"close_reasons must be None or non-empty strings, got {close_reasons!r}")
    return tuple(dict.fromkeys(r.strip().upper() for r in raw))


@dataclass(frozen=True)
class CloseCursor:
    """Where a project's closes were read up to.

    :param after: the latest close stamp reported, or ``None`` when no pool of the project had closed yet.
    :param ids: pools whose close at exactly ``after`` is already reported.
    """

    after: datetime | None = None
    ids: tuple[str, ...] = ()

    @classmethod
    def baseline(cls, pools: Iterable[Pool]) -> CloseCursor:
        """The cursor past every close listed now: what a trigger starting afresh reports nothing of.

        :param pools: the project's CLOSED pools.
        :return: the cursor at their latest close.
        """
        cursor = cls()
        for pool in pools:
            if pool.last_stopped is not None and pool.id is not None:
                cursor = cursor.past(pool)
        return cursor

    def is_new(self, pool: Pool) -> bool:
        """Whether a closed pool closed after this cursor.

        :param pool: a pool; one without a close stamp (created CLOSED, never opened) never is.
        :return: ``True`` for a close not yet reported.
        """
        stamp = pool.last_stopped
        if stamp is None or pool.id is None:
            return False
        if self.after is None or stamp > self.after:
            return True
        return stamp == self.after and str(pool.id) not in self.ids

    def past(self, pool: Pool) -> CloseCursor:
        """The cursor once this pool's close is reported (a close before the cursor leaves it as it is).

        :param pool: a pool with ``last_stopped`` and ``id``.
        :return: the new cursor.
        """
        stamp, pool_id = pool.last_stopped, str(pool.id)
        if stamp is None or (self.after is not None and stamp < self.after):
            return self
        if self.after is not None and stamp == self.after:
            return CloseCursor(stamp, (*self.ids, pool_id) if pool_id not in self.ids else self.ids)
        return CloseCursor(stamp, (pool_id,))

    def to_json(self) -> dict[str, Any]:
        """The cursor as JSON, for Airflow's asset state store.

        :return: ``{"after": ISO stamp or None, "ids": [...]}``.
        """
        return {"after": None if self.after is None else self.after.isoformat(), "ids": list(self.ids)}

    @classmethod
    def from_json(cls, value: Any) -> CloseCursor | None:
        """Read a stored cursor back.

        :param value: what :meth:`to_json` returned, as the store gives it back.
        :return: the cursor, or ``None`` for a missing or unreadable value (the trigger then starts afresh).
        """
        if not isinstance(value, Mapping) or not isinstance(value.get("ids"), list):
            return None
        try:
            after = None if value.get("after") is None else datetime.fromisoformat(str(value["after"]))
        except ValueError:
            return None
        return cls(after, tuple(str(i) for i in value["ids"]))


def closes_after(
    pools: Iterable[Pool], cursor: CloseCursor, close_reasons: tuple[str, ...] | None
) -> list[Pool]:
    """The pools that closed after the cursor with a reason asked for, oldest close first.

    :param pools: the project's CLOSED pools.
    :param cursor: what is already reported.
    :param close_reasons: the reasons to report; ``None`` for every reason but ``FOR_UPDATE``.
    :return: the new closes, by close stamp then id.
    """
    found = []
    for pool in pools:
        reason = (pool.last_close_reason or "").upper()
        wanted = reason != NOT_A_CLOSE if close_reasons is None else reason in close_reasons
        if wanted and cursor.is_new(pool):
            found.append(pool)
    return sorted(found, key=lambda p: (p.last_stopped, str(p.id)))


def closed_pool_event(pool: Pool) -> dict[str, Any]:
    """The payload of one close (it becomes the asset event's ``extra["payload"]``).

    :param pool: the closed pool.
    :return: ``pool_id``, ``project_id``, ``status``, ``last_close_reason`` and ``last_stopped`` (ISO, UTC).
    """
    return {
        "pool_id": str(pool.id),
        "project_id": str(pool.project_id),
        "status": pool.status,
        "last_close_reason": pool.last_close_reason,
        "last_stopped": None if pool.last_stopped is None else pool.last_stopped.isoformat(),
    }
