"""More answers for chosen tasks: ``patch_task_overlap_or_min`` and its suite twin against the emulator's crowd.

Raising a finished task's overlap makes the crowd answer it again; ``open_pool`` reopens a CLOSED pool, and without
it the pool stays closed; asking for fewer answers than were issued settles on the number issued.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from airflow_toloka.batching import TASKS
from airflow_toloka.exceptions import TolokaInputError, TolokaValidationError
from airflow_toloka.hooks.toloka import TolokaHook
from tests.integration.test_labels_emulator import PROJECT
from tests.specs import pool_spec


@pytest.fixture(autouse=True)
def _conn(toloka_emulator_conn: str, toloka_emulator: Any) -> None:
    toloka_emulator.configure(crowd=6, time_scale=0, seed=3)


def answers(hook: TolokaHook, pool_id: str) -> Counter[str]:
    """Submitted answers per task."""
    counted: Counter[str] = Counter()
    for page in hook.get_assignment_pages(pool_id=pool_id, status=["SUBMITTED", "ACCEPTED"]):
        for assignment in page:
            counted.update(str(task["id"]) for task in assignment["tasks"])
    return counted


def finished_pool(hook: TolokaHook, emulator: Any, *, suites: bool = False) -> tuple[str, list[str]]:
    """A pool of 4 tasks (or suites) answered once each, COMPLETED."""
    project_id = str(hook.create_project(PROJECT).id)
    pool_id = str(hook.create_pool(pool_spec(project_id, overlap=1, suite=1)).id)
    if suites:
        made = hook.create_task_suites(
            [{"pool_id": pool_id, "tasks": [{"input_values": {"text": f"s{i}"}}]} for i in range(4)],
            allow_defaults=True,
        )
    else:
        made = hook.create_tasks(
            [{"pool_id": pool_id, "input_values": {"text": f"t{i}"}} for i in range(4)], allow_defaults=True
        )
    hook.open_pool(pool_id)
    emulator.advance(7200)
    assert hook.get_pool(pool_id).status == "CLOSED"
    return pool_id, [made.items[i] for i in sorted(made.items)]


def test_more_overlap_reopens_the_pool_and_the_crowd_answers_again(toloka_emulator: Any) -> None:
    with TolokaHook() as hook:
        pool_id, (first, second, *_) = finished_pool(hook, toloka_emulator)
        assert answers(hook, pool_id)[first] == 1
        task = hook.patch_task_overlap_or_min(first, 3, open_pool=True)
        assert (task.overlap, task.remaining_overlap) == (3, 2)
        assert hook.get_pool(pool_id).status == "OPEN"
        toloka_emulator.advance(7200)
        counted = answers(hook, pool_id)
        assert counted[first] == 3 and counted[second] == 1
        pool = hook.get_pool(pool_id)
        assert (pool.status, pool.last_close_reason) == ("CLOSED", "COMPLETED")
        assert hook.get_task(first).remaining_overlap == 0


def test_without_open_pool_a_closed_pool_stays_closed(toloka_emulator: Any) -> None:
    with TolokaHook() as hook:
        pool_id, (first, *_) = finished_pool(hook, toloka_emulator)
        hook.patch_task_overlap_or_min(first, 2)
        toloka_emulator.advance(7200)
        assert hook.get_pool(pool_id).status == "CLOSED" and answers(hook, pool_id)[first] == 1
        hook.open_pool(pool_id)  # opened later, the crowd gives the answer asked for
        toloka_emulator.advance(7200)
        assert answers(hook, pool_id)[first] == 2


def test_fewer_answers_than_issued_settle_on_the_issued(toloka_emulator: Any) -> None:
    with TolokaHook() as hook:
        _, (first, *_) = finished_pool(hook, toloka_emulator)
        task = hook.patch_task_overlap_or_min(first, 0)
        assert (task.overlap, task.remaining_overlap) == (1, 0)
        again = hook.patch_task_overlap_or_min(first, 0)  # the same call twice: the same state
        assert (again.overlap, again.remaining_overlap) == (1, 0)


def test_the_suite_form(toloka_emulator: Any) -> None:
    with TolokaHook() as hook:
        pool_id, (suite_id, *_) = finished_pool(hook, toloka_emulator, suites=True)
        suite = hook.patch_task_suite_overlap_or_min(suite_id, 2, open_pool=True)
        assert (suite.overlap, suite.remaining_overlap) == (2, 1)
        toloka_emulator.advance(7200)
        suites = Counter(
            str(a["task_suite_id"])
            for page in hook.get_assignment_pages(pool_id=pool_id, status=["SUBMITTED", "ACCEPTED"])
            for a in page
        )
        assert suites[suite_id] == 2 and hook.get_pool(pool_id).status == "CLOSED"


def test_bad_overlaps_are_refused(toloka_emulator: Any) -> None:
    with TolokaHook() as hook:
        _, (first, *_) = finished_pool(hook, toloka_emulator)
        with pytest.raises(TolokaInputError, match="overlap must be"):
            hook.patch_task_overlap_or_min(first, -1)
        with pytest.raises(TolokaValidationError):
            hook._request(  # what a client without the local check would send
                "PATCH",
                f"{TASKS.path}/{first}/set-overlap-or-min",
                body=b'{"overlap": 40000}',
                idempotent=True,
            )
