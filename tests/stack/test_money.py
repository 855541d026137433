"""Money on the real stack (scheduler, LocalExecutor, triggerer, PostgreSQL): bonuses paid exactly once through a
lost answer, an Airflow retry, a cleared task and a new run of the same logical date, counted by the emulator."""

from __future__ import annotations

import json

import pytest

from tests.stack.conftest import Stack, wait_for
from toloka_emulator import EmulatorProcess

pytestmark = pytest.mark.stack

DAG_ID, DATE = "stack_bonuses", "2026-11-30T00:00:00+00:00"


def test_each_bonus_is_paid_once_through_retries_clears_and_reruns(
    stack: Stack, stack_emulator: EmulatorProcess
) -> None:
    users = stack_emulator.stats()["crowd"]["user_ids"][:5]
    amounts = {user: round(0.05 * (n + 1), 2) for n, user in enumerate(users)}
    path = stack.home / "data" / "bonuses.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join(
            json.dumps({"user_id": u, "amount": a, "public_title": "Thanks", "public_message": "Good work"})
            + "\n"
            for u, a in amounts.items()
        )
    )
    start = stack_emulator.stats()  # the stack's emulator serves the whole session: compare with what it had
    before, drops = start["money"], start["faults"].get("drop", 0)
    posts = start["requests"].get("POST /api/v1/user-bonuses", 0)
    # Two answers to the payment POST are lost: the first after Toloka acted, the second to the hook's own retry
    # (a 409 that never arrives). The hook gives up after one retry, so the task fails and Airflow retries it.
    stack_emulator.configure(fault_drop=1.0, fault_routes=["POST /api/v1/user-bonuses"], fault_limit=2)

    def paid() -> dict[str, float]:
        """What this test paid: each Toloker's bonuses since it started, and no one else's."""
        now, then = stack_emulator.stats()["user_bonuses"], start["user_bonuses"]
        assert now["count"] - then["count"] == len(amounts), now
        return {u: round(now["by_user"].get(u, 0) - then["by_user"].get(u, 0), 6) for u in users}

    def run_and_wait(run_id: str) -> None:
        stack.cli("dags", "unpause", DAG_ID)
        conf = json.dumps({"path": str(path)})
        stack.cli("dags", "trigger", DAG_ID, "--run-id", run_id, "--conf", conf, "--logical-date", DATE)
        assert stack.wait_run(DAG_ID, run_id, timeout=240) == "success", stack.task_states(DAG_ID, run_id)

    run_and_wait("stack_bonuses_1")
    assert stack.task_states(DAG_ID, "stack_bonuses_1")["pay"] == ("success", 2)  # the Airflow retry paid
    stats = stack_emulator.stats()
    assert (
        stats["faults"]["drop"] - drops == 2 and stats["requests"]["POST /api/v1/user-bonuses"] - posts == 3
    )
    assert paid() == amounts
    (result,) = stack.xcom(DAG_ID, "stack_bonuses_1", "pay")
    assert result["paid"] == 5 and result["amount"] == pytest.approx(sum(amounts.values()))
    spent = stats["money"]["spent"] - before["spent"]
    assert spent == pytest.approx(
        sum(a + max(a * 0.3, 0.001) for a in amounts.values())
    )  # amount + fee, once

    # A cleared task runs a third try, which finds the payment made.
    # -t is a substring of task ids in Airflow 3.3 (not a regex); the DAG has this one task and this one run
    cleared = stack.cli("tasks", "clear", DAG_ID, "-t", "pay", "-y")
    seen: list[tuple[str, int]] = []

    def ran_again() -> bool:
        seen.append(stack.task_states(DAG_ID, "stack_bonuses_1")["pay"])
        return seen[-1] == ("success", 3)

    try:
        wait_for("the cleared task to run again", ran_again, 240)
    except TimeoutError as exc:
        raise AssertionError(
            f"{exc}; (state, try) seen: {sorted(set(seen))}; clear said: {cleared}"
        ) from None
    assert paid() == amounts

    # A new run of the same logical date (the first deleted, as the UI's "Delete" does) finds it as well.
    stack.query("DELETE FROM dag_run WHERE dag_id = %s AND run_id = %s", DAG_ID, "stack_bonuses_1")
    run_and_wait("stack_bonuses_2")
    assert paid() == amounts
    assert stack_emulator.stats()["money"]["spent"] - before["spent"] == pytest.approx(spent)
    (again,) = stack.xcom(DAG_ID, "stack_bonuses_2", "pay")
    assert again["paid"] == 5 and again["operation_ids"] == result["operation_ids"]
