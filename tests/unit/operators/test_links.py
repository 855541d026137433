"""Extra links come from what the task pushed: in memory in the process that pushed, from XCom after a deferral,
and never looked up (no "XCom not found" error line) when a task failed before pushing anything."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.sdk.execution_time.xcom import XCom

from airflow_toloka.operators import links
from airflow_toloka.operators.links import (
    TolokaOperationLink,
    TolokaPoolLink,
    push_link_values,
    start_links,
)


class FakeOperator:
    toloka_conn_id = "toloka_sandbox"


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


@pytest.fixture
def projects(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """The pool lookups the links make (the real toloka.dev is never called): pool 7 is in project 42."""
    asked: list[tuple[str, str]] = []

    def pool_project_id(conn_id: str, pool_id: str) -> str | None:
        asked.append((conn_id, pool_id))
        return {"7": "42"}.get(pool_id)

    monkeypatch.setattr(links, "pool_project_id", pool_project_id)
    return asked


@pytest.mark.parametrize(
    ("base", "pool_url", "op_url"),
    [
        ("https://toloka.dev", "https://platform.toloka.ai/requester/project/42/pool/7", ""),
        ("https://sandbox.toloka.dev", "https://platform.sandbox.toloka.ai/requester/project/42/pool/7", ""),
        (
            "http://127.0.0.1:9",
            "http://127.0.0.1:9/requester/project/42/pool/7",
            "http://127.0.0.1:9/requester/operation/op",
        ),
    ],
)
def test_links_of_a_resumed_task_come_from_xcom(
    xcoms: dict[str, Any], projects: list[tuple[str, str]], base: str, pool_url: str, op_url: str
) -> None:
    xcoms.update({"toloka_url": base, "pool_ids": ["7", "8"], "operation_ids": ["op"]})
    op = FakeOperator()  # a resumed process: execute() never ran here
    assert TolokaPoolLink().get_link(op, ti_key=None) == pool_url  # type: ignore[arg-type]
    assert TolokaOperationLink().get_link(op, ti_key=None) == op_url  # type: ignore[arg-type]
    assert projects == [("toloka_sandbox", "7")]  # the operator's own connection


def test_no_api_endpoint_is_ever_linked(xcoms: dict[str, Any], projects: list[tuple[str, str]]) -> None:
    # a browser sends no token: an API URL answers 401 "Authorization header is missing"
    for base in ("https://toloka.dev", "http://127.0.0.1:9"):
        xcoms.update({"toloka_url": base, "pool_ids": ["7"], "operation_ids": ["op"]})
        for link in (TolokaPoolLink(), TolokaOperationLink()):
            assert "/api/" not in link.get_link(FakeOperator(), ti_key=None)  # type: ignore[arg-type]


def test_a_pool_whose_project_cannot_be_read_gets_no_link(
    xcoms: dict[str, Any], projects: list[tuple[str, str]]
) -> None:
    xcoms.update({"toloka_url": "https://toloka.dev", "pool_ids": ["8"]})
    assert TolokaPoolLink().get_link(FakeOperator(), ti_key=None) == ""  # type: ignore[arg-type]


def test_ids_are_quoted_into_one_path_segment() -> None:
    assert links.pool_page("http://h", "1/2", "a b") == "http://h/requester/project/1%2F2/pool/a%20b"
    assert links.operation_page("http://h", "x/../y") == "http://h/requester/operation/x%2F..%2Fy"


def test_links_of_the_pushing_process_need_no_lookup(
    xcoms: dict[str, Any], projects: list[tuple[str, str]]
) -> None:
    op, ti = FakeOperator(), FakeTI()
    start_links(op)  # type: ignore[arg-type]
    push_link_values(op, ti, {"toloka_url": "http://127.0.0.1:9", "pool_ids": ["7"]})  # type: ignore[arg-type]
    assert ti.pushed == {"toloka_url": "http://127.0.0.1:9", "pool_ids": ["7"]}
    page = "http://127.0.0.1:9/requester/project/42/pool/7"
    assert TolokaPoolLink().get_link(op, ti_key=None) == page  # type: ignore[arg-type]
    assert TolokaOperationLink().get_link(op, ti_key=None) == ""  # type: ignore[arg-type]
    assert "__reads__" not in xcoms


def test_a_task_that_failed_before_pushing_looks_nothing_up(xcoms: dict[str, Any]) -> None:
    op = FakeOperator()
    start_links(op)  # type: ignore[arg-type]
    assert TolokaPoolLink().get_link(op, ti_key=None) == ""  # type: ignore[arg-type]
    assert TolokaOperationLink().get_link(op, ti_key=None) == ""  # type: ignore[arg-type]
    assert "__reads__" not in xcoms  # the lookup is what logs "XCom not found" at error level
