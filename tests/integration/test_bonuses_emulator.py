"""PayBonusesOperator against the emulator: every bonus paid exactly once, counted in the emulator's money."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import pytest

from airflow_toloka.bonuses import pool_comment
from airflow_toloka.exceptions import (
    TolokaCostError,
    TolokaInputError,
    TolokaTimeoutError,
    TolokaValidationError,
)
from airflow_toloka.files import read_records
from airflow_toloka.hooks.toloka import TolokaHook
from airflow_toloka.labels import golden_score
from airflow_toloka.operators import PayBonusesOperator
from tests.integration.test_labels_emulator import labeled_pool

THANKS = {"public_title": "Thank you", "public_message": {"EN": "Great answers", "RU": "Отличные ответы"}}
STRANGER = "f" * 32  # a well-formed id no Toloker has


def context(run_id: str = "r1", logical_date: datetime | None = None, store: Any = None) -> dict[str, Any]:
    ti = MagicMock(dag_id="d", run_id=run_id, task_id="bonus", map_index=-1, try_number=1)
    ctx: dict[str, Any] = {"ti": ti, "logical_date": logical_date}
    if store is not None:
        ctx["task_state_store"] = store
    return ctx


class StateStore:
    """Stands in for Airflow 3.3's task_state_store accessor (get/set of JSON values per task instance)."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def set(self, key: str, value: Any, **_: Any) -> None:
        self.data[key] = value


@pytest.fixture(autouse=True)
def _conn(toloka_emulator_conn: str, toloka_emulator: Any) -> None:
    pass


def tolokers(emulator: Any, n: int) -> list[str]:
    emulator.configure(crowd=max(n, 3), time_scale=0, seed=3)
    users: list[str] = emulator.stats()["crowd"]["user_ids"][:n]
    assert len(users) == n
    return users


def paid(emulator: Any) -> dict[str, Any]:
    """What the emulator paid: ``count``, ``amount`` and ``by_user``."""
    return emulator.stats()["user_bonuses"]  # type: ignore[no-any-return]


def posts(emulator: Any) -> int:
    return int(emulator.stats()["requests"].get("POST /api/v1/user-bonuses", 0))


def bonuses(users: list[str], amount: Any = "0.05", **more: Any) -> list[dict[str, Any]]:
    return [{"user_id": u, "amount": amount, **THANKS, **more} for u in users]


def test_a_list_is_paid_once_and_a_second_run_re_attaches(toloka_emulator: Any, tmp_path: Path) -> None:
    users = tolokers(toloka_emulator, 3)
    results = tmp_path / "paid.jsonl"
    op = PayBonusesOperator(
        task_id="bonus", bonuses=bonuses(users, "0.10"), results_path=str(results), poll_interval=0.1
    )
    first = op.execute(context())
    assert (first["paid"], first["amount"], first["skipped"], first["rejected"]) == (3, 0.3, 0, 0)
    assert paid(toloka_emulator)["count"] == 3 and paid(toloka_emulator)["by_user"] == {u: 0.1 for u in users}
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    assert [(r["row"], r["user_id"], r["status"]) for r in rows] == [
        (i + 1, u, "paid") for i, u in enumerate(users)
    ]
    second = op.execute(context())  # an Airflow retry, a cleared task: the same key and bonuses
    assert second["paid"] == 3 and second["operation_ids"] == first["operation_ids"]
    assert [json.loads(line)["bonus_id"] for line in results.read_text().splitlines()] == [
        r["bonus_id"] for r in rows
    ]
    assert paid(toloka_emulator)["count"] == 3


def test_a_new_run_of_the_same_date_pays_nothing_again(toloka_emulator: Any) -> None:
    users = tolokers(toloka_emulator, 2)
    day = datetime(2026, 12, 1, tzinfo=timezone.utc)

    def run(run_id: str, date: datetime) -> dict[str, Any]:
        return PayBonusesOperator(task_id="bonus", bonuses=bonuses(users), poll_interval=0.1).execute(
            context(run_id, date)
        )

    run("scheduled__2026-12-01", day)
    assert run("manual__rerun", day)["paid"] == 2 and paid(toloka_emulator)["count"] == 2
    run(
        "scheduled__2026-12-02", datetime(2026, 12, 2, tzinfo=timezone.utc)
    )  # another date is another payment
    assert paid(toloka_emulator)["count"] == 4


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "tsv"])
def test_a_file_in_every_format_is_paid_as_written(toloka_emulator: Any, tmp_path: Path, fmt: str) -> None:
    users = tolokers(toloka_emulator, 2)
    path = tmp_path / f"bonuses.{fmt}"
    rows = [
        {"user_id": users[0], "amount": "0.25", **THANKS, "private_comment": "week 49"},
        {"user_id": users[1], "amount": "1.5", "without_message": "true", "assignment_id": "a--1"},
    ]
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    else:
        sep = "," if fmt == "csv" else "\t"
        columns = [
            "user_id",
            "amount",
            "public_title",
            "public_message",
            "private_comment",
            "without_message",
            "assignment_id",
        ]

        def cell(value: Any) -> str:
            text = (
                ""
                if value is None
                else value
                if isinstance(value, str)
                else json.dumps(value, ensure_ascii=False)
            )
            return (
                '"' + text.replace('"', '""') + '"' if fmt == "csv" and ("," in text or '"' in text) else text
            )

        lines = [sep.join(columns)] + [sep.join(cell(r.get(c)) for c in columns) for r in rows]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = PayBonusesOperator(task_id="bonus", bonuses_path=str(path), poll_interval=0.1).execute(
        context()
    )
    assert (summary["paid"], summary["amount"]) == (2, 1.75)
    with TolokaHook() as hook:
        first = next(hook.get_user_bonuses(user_id=users[0]))
        second = next(hook.get_user_bonuses(user_id=users[1]))
    assert first.public_message == THANKS["public_message"] and first.public_title == {"EN": "Thank you"}
    assert first.private_comment == "week 49" and second.without_message and second.public_title is None
    assert second.assignment_id == "a--1" and paid(toloka_emulator)["amount"] == 1.75


@pytest.mark.toloka_emulator(fault_drop=1.0, fault_routes=["POST /api/v1/user-bonuses"], fault_limit=1)
def test_a_lost_answer_to_the_payment_pays_once(toloka_emulator: Any) -> None:
    users = tolokers(toloka_emulator, 3)
    summary = PayBonusesOperator(task_id="bonus", bonuses=bonuses(users), poll_interval=0.1).execute(
        context()
    )
    assert summary["paid"] == 3 and posts(toloka_emulator) == 2  # the answer was dropped, the POST sent again
    assert sum(toloka_emulator.stats()["faults"].values()) == 1
    assert paid(toloka_emulator)["count"] == 3


def test_invalid_input_pays_nothing_and_names_row_and_field(toloka_emulator: Any, tmp_path: Path) -> None:
    users = tolokers(toloka_emulator, 3)
    rows = [*bonuses(users[:2]), {"user_id": users[2], "amount": "0.001", **THANKS}]
    with pytest.raises(TolokaInputError, match=r"bonuses, row 3, field 'amount': 0.001 is below"):
        PayBonusesOperator(task_id="bonus", bonuses=rows).execute(context())
    path = tmp_path / "b.csv"
    path.write_text(
        f"user_id,amount,public_title,public_message\n{users[0]},1,Hi,Thanks\n{users[1].upper()},1,Hi,\n"
    )
    with pytest.raises(TolokaInputError) as info:
        PayBonusesOperator(task_id="bonus", bonuses_path=path).execute(context())
    assert f"{path}, data row 2, field 'user_id'" in str(info.value)
    assert f"{path}, data row 2, field 'public_message': is missing" in str(info.value)
    assert posts(toloka_emulator) == 0 and paid(toloka_emulator)["count"] == 0


def test_a_total_over_max_total_pays_nothing(toloka_emulator: Any) -> None:
    users = tolokers(toloka_emulator, 3)
    with pytest.raises(TolokaInputError, match=r"add up to \$3, more than max_total \$2.99"):
        PayBonusesOperator(task_id="bonus", bonuses=bonuses(users, 1), max_total="2.99").execute(context())
    assert posts(toloka_emulator) == 0
    summary = PayBonusesOperator(
        task_id="bonus", bonuses=bonuses(users, 1), max_total=3, poll_interval=0.1
    ).execute(context())
    assert summary["amount"] == 3.0 and paid(toloka_emulator)["amount"] == 3.0


def test_a_bonus_toloka_refuses_pays_nothing_of_its_batch(toloka_emulator: Any, tmp_path: Path) -> None:
    users = tolokers(toloka_emulator, 2)
    results = tmp_path / "paid.csv"
    op = PayBonusesOperator(
        task_id="bonus",
        bonuses=bonuses([users[0], STRANGER, users[1]]),
        results_path=results,
        poll_interval=0.1,
    )
    with pytest.raises(TolokaValidationError, match=r"bonuses, row 2: user_id ENTITY_DOES_NOT_EXIST"):
        op.execute(context())
    assert paid(toloka_emulator)["count"] == 0
    statuses = [(r["row"], r["status"]) for r in read_records(results)]
    assert statuses == [("1", "rejected"), ("2", "rejected"), ("3", "rejected")]


def test_skip_invalid_items_pays_the_rest_and_reports_each_row(toloka_emulator: Any, tmp_path: Path) -> None:
    users = tolokers(toloka_emulator, 2)
    results = tmp_path / "paid.jsonl"
    rows = [
        *bonuses([users[0], STRANGER]),
        {"user_id": "nobody", "amount": 1, **THANKS},
        *bonuses([users[1]]),
    ]
    summary = PayBonusesOperator(
        task_id="bonus", bonuses=rows, skip_invalid_items=True, results_path=results, poll_interval=0.1
    ).execute(context())
    assert (summary["paid"], summary["rejected"], summary["amount"]) == (2, 2, 0.1)
    by_row = {r["row"]: r for r in map(json.loads, results.read_text().splitlines())}
    assert [by_row[n]["status"] for n in (1, 2, 3, 4)] == ["paid", "rejected", "rejected", "paid"]
    assert "ENTITY_DOES_NOT_EXIST" in by_row[2]["error"] and by_row[3]["error"].startswith(
        "user_id: 'nobody'"
    )
    assert paid(toloka_emulator)["count"] == 2


def accurate_tolokers(pool_id: str, minimum: float) -> set[str]:
    """Who the rule should pay, counted here from the pool's accepted assignments."""
    scores: dict[str, list[int]] = {}
    with TolokaHook() as hook:
        for page in hook.get_assignment_pages(pool_id=pool_id, status="ACCEPTED"):
            for a in page:
                right, total = golden_score(a)
                score = scores.setdefault(a["user_id"], [0, 0])
                score[0], score[1] = score[0] + right, score[1] + total
    return {u for u, (right, total) in scores.items() if total and right / total >= minimum}


RULE = {"min_golden_accuracy": 0.75, "amount": 0.05, **THANKS}


def test_the_rule_pays_each_accurate_toloker_once_per_pool(toloka_emulator: Any, tmp_path: Path) -> None:
    pool_id = labeled_pool(toloka_emulator, golden=2, accuracy=0.8)
    due = accurate_tolokers(pool_id, 0.75)
    assert 0 < len(due) < len(toloka_emulator.stats()["crowd"]["user_ids"])  # the rule tells Tolokers apart
    op = PayBonusesOperator(task_id="bonus", pool_id=pool_id, rule=RULE, poll_interval=0.1)
    first = op.execute(context())
    assert (first["paid"], first["skipped"]) == (len(due), 0)
    assert set(paid(toloka_emulator)["by_user"]) == due
    assert op.execute(context())["skipped"] == len(due)  # the same key again: nobody is paid twice
    results = tmp_path / "again.tsv"
    again = PayBonusesOperator(
        task_id="bonus", pool_id=pool_id, rule=RULE, idempotency_key="another key", results_path=results
    ).execute(context())
    assert (again["paid"], again["skipped"], again["operation_ids"]) == (0, len(due), [])
    assert {r["status"] for r in read_records(results)} == {"skipped"}
    assert paid(toloka_emulator)["count"] == len(due)
    with TolokaHook() as hook:
        assert {b.user_id for b in hook.get_user_bonuses(private_comment=pool_comment(pool_id))} == due


def test_a_retry_waits_for_the_payment_an_earlier_try_left_running(toloka_emulator: Any) -> None:
    pool_id = labeled_pool(toloka_emulator, golden=2, accuracy=0.8)
    due = sorted(accurate_tolokers(pool_id, 0.75))
    assert len(due) >= 2
    store = StateStore()

    def attempt(timeout: float) -> dict[str, Any]:
        op = PayBonusesOperator(
            task_id="bonus", pool_id=pool_id, rule=RULE, batch_size=1, timeout=timeout, poll_interval=0.1
        )
        return op.execute(context(store=store))

    toloka_emulator.configure(pending_seconds=2.0)
    with pytest.raises(TolokaTimeoutError):
        attempt(0)  # the worker is lost while Toloka still holds the payments
    earlier = store.data["toloka_bonus_operation_ids"]
    assert len(earlier) == len(due)
    toloka_emulator.configure(pending_seconds=0.05)
    with TolokaHook() as hook:  # meanwhile someone pays the first Toloker, under the pool's comment
        hook.create_user_bonuses(
            [
                {
                    "user_id": due[0],
                    "amount": 0.05,
                    "private_comment": pool_comment(pool_id),
                    "without_message": True,
                }
            ],
            idempotency_key="by hand",
        )
    retry = attempt(30)
    with TolokaHook() as hook:
        hook.wait_operations(earlier, timeout=30)  # every payment of the first try has landed
    assert retry["paid"] == 0 and retry["skipped"] == len(due)
    by_user = paid(toloka_emulator)["by_user"]
    assert {u: by_user[u] for u in due[1:]} == {u: 0.05 for u in due[1:]}  # nobody paid twice by the retry


def test_a_payment_the_balance_cannot_cover_pays_nothing(toloka_emulator: Any) -> None:
    users = tolokers(toloka_emulator, 3)
    toloka_emulator.configure(balance=1.0, fee_rate=0.3, fee_min=0.001)

    def pay(key: str) -> dict[str, Any]:
        op = PayBonusesOperator(
            task_id="bonus", bonuses=bonuses(users, "0.2"), idempotency_key=key, poll_interval=0.1
        )
        return op.execute(context())

    assert pay("week 49")["paid"] == 3  # $0.60 and $0.18 of fee, of $1
    assert toloka_emulator.stats()["money"]["balance"] == pytest.approx(0.22)
    assert pay("week 49")["paid"] == 3  # a retry: its batches were sent, so nothing is counted against $0.22
    with pytest.raises(
        TolokaCostError, match=r"costs up to \$0.78.* more than the balance \$0.22; nothing was paid"
    ):
        pay("week 50")
    assert paid(toloka_emulator)["count"] == 3 and posts(toloka_emulator) == 2


def test_a_list_changed_between_tries_pays_nothing_more(toloka_emulator: Any) -> None:
    users = tolokers(toloka_emulator, 3)
    store = StateStore()

    def attempt(rows: list[dict[str, Any]]) -> dict[str, Any]:
        return PayBonusesOperator(task_id="bonus", bonuses=rows, poll_interval=0.1).execute(
            context(store=store)
        )

    attempt(bonuses(users[:2]))
    with pytest.raises(TolokaInputError, match="the bonuses changed since an earlier try"):
        attempt(bonuses(users))  # the same batch with one more bonus would pay the first two again
    assert attempt(bonuses(users[:2]))["paid"] == 2 and paid(toloka_emulator)["count"] == 2
