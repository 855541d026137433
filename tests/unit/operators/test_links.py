"""Extra links are built from XCom pushed before deferral, for production, sandbox and any other host."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_toloka.operators import tasks as tasks_module
from airflow_toloka.operators.tasks import TolokaOperationLink, TolokaPoolLink


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
def test_links(monkeypatch: pytest.MonkeyPatch, base: str, pool_url: str, op_url: str) -> None:
    xcoms: dict[str, Any] = {"toloka_url": base, "pool_ids": ["7", "8"], "operation_ids": ["op"]}
    monkeypatch.setattr(tasks_module, "_xcom", lambda ti_key, key: xcoms.get(key))
    assert TolokaPoolLink().get_link(None, ti_key=None) == pool_url  # type: ignore[arg-type]
    assert TolokaOperationLink().get_link(None, ti_key=None) == op_url  # type: ignore[arg-type]
    xcoms.clear()  # nothing pushed yet (e.g. the task failed validating): no link rather than an error
    assert TolokaPoolLink().get_link(None, ti_key=None) == ""  # type: ignore[arg-type]
