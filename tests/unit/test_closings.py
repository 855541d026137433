"""closings.py: which pools closed after a cursor; the cursor's JSON round trip."""

from __future__ import annotations

from datetime import datetime

import pytest

from airflow_toloka.closings import CloseCursor, closed_pool_event, closes_after, reasons_of
from airflow_toloka.models import Pool

T0 = datetime(2026, 12, 6, 18, 0, 0, 123000)
T1 = datetime(2026, 12, 6, 18, 0, 1)
T2 = datetime(2026, 12, 6, 18, 0, 2)


def pool(pool_id: str, stopped: datetime | None, reason: str | None = "COMPLETED") -> Pool:
    return Pool(
        id=pool_id,
        project_id="7",
        private_name=f"p{pool_id}",
        status="CLOSED",
        last_stopped=stopped,
        last_close_reason=reason,
    )


def test_the_baseline_is_past_every_close_listed_and_pools_never_opened_do_not_count() -> None:
    cursor = CloseCursor.baseline([pool("1", T0), pool("2", T1), pool("3", T1), pool("4", None, None)])
    assert cursor == CloseCursor(T1, ("2", "3"))
    assert closes_after([pool("1", T0), pool("2", T1), pool("3", T1)], cursor, None) == []
    assert CloseCursor.baseline([pool("4", None, None)]) == CloseCursor()


def test_a_close_after_the_cursor_is_new_also_at_the_same_stamp_for_another_pool() -> None:
    cursor = CloseCursor(T1, ("2",))
    listed = [pool("9", T2), pool("2", T1), pool("3", T1), pool("1", T0), pool("5", None, None)]
    assert [p.id for p in closes_after(listed, cursor, None)] == ["3", "9"]  # oldest close first


def test_every_close_is_new_before_any_pool_closed() -> None:
    assert [p.id for p in closes_after([pool("2", T1), pool("1", T0)], CloseCursor(), None)] == ["1", "2"]


def test_advancing_past_each_reported_close_reports_nothing_twice() -> None:
    cursor = CloseCursor(T0, ("1",))
    for p in closes_after([pool("2", T1), pool("3", T1), pool("4", T2)], cursor, None):
        cursor = cursor.past(p)
    assert cursor == CloseCursor(T2, ("4",))
    assert closes_after([pool("2", T1), pool("3", T1), pool("4", T2)], cursor, None) == []
    assert CloseCursor(T1, ("2",)).past(pool("3", T1)) == CloseCursor(T1, ("2", "3"))
    assert CloseCursor(T1, ("2",)).past(pool("2", T1)) == CloseCursor(T1, ("2",))
    assert CloseCursor(T1, ("2",)).past(pool("1", T0)) == CloseCursor(T1, ("2",))


def test_a_pool_reopened_and_closed_again_closes_again() -> None:
    assert [p.id for p in closes_after([pool("2", T2)], CloseCursor(T1, ("2",)), None)] == ["2"]


def test_close_for_update_is_not_a_close_unless_asked_for_and_reasons_filter() -> None:
    listed = [pool("1", T1, "FOR_UPDATE"), pool("2", T1, "MANUAL"), pool("3", T2, "COMPLETED")]
    assert [p.id for p in closes_after(listed, CloseCursor(), None)] == ["2", "3"]
    assert [p.id for p in closes_after(listed, CloseCursor(), ("COMPLETED",))] == ["3"]
    assert [p.id for p in closes_after(listed, CloseCursor(), ("FOR_UPDATE",))] == ["1"]


def test_reasons_are_normalized_and_empty_ones_refused() -> None:
    assert reasons_of(None) is None
    assert reasons_of("completed") == ("COMPLETED",)
    assert reasons_of(["MANUAL", "manual", "EXPIRED"]) == ("MANUAL", "EXPIRED")
    for bad in ([], [""], [3]):
        with pytest.raises(ValueError, match="close_reasons"):
            reasons_of(bad)  # type: ignore[arg-type]


def test_the_cursor_round_trips_through_json_and_garbage_reads_as_no_cursor() -> None:
    for cursor in (CloseCursor(), CloseCursor(T0, ("1", "2"))):
        assert CloseCursor.from_json(cursor.to_json()) == cursor
    for garbage in (None, "x", {"after": "yesterday", "ids": []}, {"after": None}):
        assert CloseCursor.from_json(garbage) is None


def test_the_event_names_the_pool_and_its_close() -> None:
    assert closed_pool_event(pool("9", T0, "MANUAL")) == {
        "pool_id": "9",
        "project_id": "7",
        "status": "CLOSED",
        "last_close_reason": "MANUAL",
        "last_stopped": "2026-12-06T18:00:00.123000",
    }
