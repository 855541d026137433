"""Extra links come from what the task pushed: in memory in the process that pushed, from XCom after a deferral,
and never looked up (no "XCom not found" error line) when a task failed before pushing anything."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.sdk.execution_time.xcom import XCom

from airflow_toloka.operators.links import (
    TolokaOperationLink,
    TolokaPoolLink,
    push_link_values,
    start_links,
)


class FakeOperator:
    pass


class FakeTI:
    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


@pytest.fixture
def xcoms(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    stored: dict[str, Any] = {}

    def get_value(*, ti_key: Any, key: str) -> Any:
        stored.setdefault("__reads__", []).append(key)
        return stored.get(key)

    monkeypatch.setattr(XCom, "get_value", get_value)
    return stored


@pytest.mark.parametrize(
    ("base", "pool_url", "op_url"),
    [
        (
            "https://toloka.dev",
            "https://platform.toloka.ai/requester/pool/7",
            "https://toloka.dev/api/v1/operations/op",
        ),
        (
            "https://sandbox.toloka.dev",
            "https://platform.sandbox.toloka.ai/requester/pool/7",
            "https://sandbox.toloka.dev/api/v1/operations/op",
        ),
        (
            "http://127.0.0.1:9",
            "http://127.0.0.1:9/api/v1/pools/7",
            "http://127.0.0.1:9/api/v1/operations/op",
        ),
    ],
)
def test_links_of_a_resumed_task_come_from_xcom(
    xcoms: dict[str, Any], base: str, pool_url: str, op_url: str
) -> None:
    xcoms.update({"toloka_url": base, "pool_ids": ["7", "8"], "operation_ids": ["op"]})
    op = FakeOperator()  # a resumed process: execute() never ran here
    assert TolokaPoolLink().get_link(op, ti_key=None) == pool_url  # type: ignore[arg-type]
    assert TolokaOperationLink().get_link(op, ti_key=None) == op_url  # type: ignore[arg-type]


def test_links_of_the_pushing_process_need_no_lookup(xcoms: dict[str, Any]) -> None:
    op, ti = FakeOperator(), FakeTI()
    start_links(op)  # type: ignore[arg-type]
    push_link_values(op, ti, {"toloka_url": "http://127.0.0.1:9", "pool_ids": ["7"]})  # type: ignore[arg-type]
    assert ti.pushed == {"toloka_url": "http://127.0.0.1:9", "pool_ids": ["7"]}
    assert TolokaPoolLink().get_link(op, ti_key=None) == "http://127.0.0.1:9/api/v1/pools/7"  # type: ignore[arg-type]
    assert TolokaOperationLink().get_link(op, ti_key=None) == ""  # type: ignore[arg-type]
    assert "__reads__" not in xcoms


def test_a_task_that_failed_before_pushing_looks_nothing_up(xcoms: dict[str, Any]) -> None:
    op = FakeOperator()
    start_links(op)  # type: ignore[arg-type]
    assert TolokaPoolLink().get_link(op, ti_key=None) == ""  # type: ignore[arg-type]
    assert TolokaOperationLink().get_link(op, ti_key=None) == ""  # type: ignore[arg-type]
    assert "__reads__" not in xcoms  # the lookup is what logs "XCom not found" at error level
