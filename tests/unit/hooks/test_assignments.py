"""Assignments and aggregation through the hook: paging by cursor, review conflicts, at most one aggregation."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from airflow_toloka.exceptions import TolokaConflictError, TolokaInputError
from tests.unit.hooks.common import fast_hook
from tests.unit.scripted_server import Reply, ScriptedServer


def a(assignment_id: str, status: str = "SUBMITTED") -> dict[str, Any]:
    return {"id": assignment_id, "pool_id": "7", "status": status, "tasks": [], "solutions": []}


def test_assignments_page_by_id_with_toloka_s_filter_syntax(server: ScriptedServer) -> None:
    server.script(
        "GET /api/v1/assignments",
        Reply(body={"items": [a("a1"), a("a2")], "has_more": True}),
        Reply(body={"items": [a("a3")], "has_more": False}),
    )
    with fast_hook() as hook:
        got = [
            x.id
            for x in hook.get_assignments(
                pool_id="7", status=["ACCEPTED", "SUBMITTED"], submitted_gte=datetime(2026, 11, 30)
            )
        ]
    assert got == ["a1", "a2", "a3"]
    first, second = (r.path for r in server.requests)
    assert "status=ACCEPTED%2CSUBMITTED" in first and "sort=id" in first and "limit=1000" in first
    assert "submitted_gte=2026-11-30T00%3A00%3A00.000" in first
    assert "id_gt=a2" in second
    with pytest.raises(TolokaInputError, match="pool_id, task_suite_id or task_id"):
        next(hook.get_assignments(status="ACCEPTED"))


def test_review_already_done_is_success_and_other_conflicts_name_the_status(server: ScriptedServer) -> None:
    conflict = Reply(409, {"code": "INAPPROPRIATE_STATUS", "message": "Inappropriate status"})
    server.script("PATCH /api/v1/assignments/a1", conflict)
    server.script("GET /api/v1/assignments/a1", Reply(body=a("a1", "ACCEPTED")))
    with fast_hook() as hook:
        assert hook.accept_assignment("a1").status == "ACCEPTED"  # accepted elsewhere already
        with pytest.raises(TolokaConflictError, match="assignment a1 is ACCEPTED and cannot become REJECTED"):
            hook.reject_assignment("a1", "wrong answers")
        with pytest.raises(TolokaInputError, match="needs a public_comment"):
            hook.reject_assignment("a1", "  ")
    (body, *_) = [json.loads(r.body) for r in server.requests if r.method == "PATCH"]
    assert body == {"status": "ACCEPTED", "public_comment": ""}
    assert server.count("PATCH /api/v1/assignments/a1") == 2  # the blank rejection sent nothing


AGG = {
    "id": "agg-1",
    "type": "SOLUTION.AGGREGATE",
    "status": "RUNNING",
    "parameters": {"pool_id": "7", "algorithm": "DAWID_SKENE"},
}


def test_an_aggregation_of_an_earlier_try_is_reused(server: ScriptedServer) -> None:
    server.script("GET /api/v1/operations", Reply(body={"items": [AGG], "has_more": False}))
    with fast_hook() as hook:
        op = hook.aggregate_solutions_by_pool("DAWID_SKENE", "7", ["label"], since=datetime(2026, 11, 30))
    assert op.id == "agg-1" and server.count("POST /api/v1/aggregated-solutions/aggregate-by-pool") == 0


def test_a_new_aggregation_is_posted_once_with_toloka_s_body(server: ScriptedServer) -> None:
    server.script(
        "GET /api/v1/operations", Reply(body={"items": [{**AGG, "status": "FAIL"}], "has_more": False})
    )
    server.script("POST /api/v1/aggregated-solutions/aggregate-by-pool", Reply(202, {**AGG, "id": "agg-2"}))
    with fast_hook() as hook:
        op = hook.aggregate_solutions_by_pool(
            "WEIGHTED_DYNAMIC_OVERLAP", "7", ["label"], "skill-1", since=datetime(2026, 11, 30)
        )
        assert op.id == "agg-2"
        with pytest.raises(TolokaInputError, match="exactly one field"):
            hook.aggregate_solutions_by_pool("DAWID_SKENE", "7", ["a", "b"])
        with pytest.raises(TolokaInputError, match="answer_weight_skill_id"):
            hook.aggregate_solutions_by_pool("WEIGHTED_DYNAMIC_OVERLAP", "7", ["label"])
    (body,) = [json.loads(r.body) for r in server.requests if r.method == "POST"]
    assert body == {
        "type": "WEIGHTED_DYNAMIC_OVERLAP",
        "pool_id": "7",
        "fields": [{"name": "label"}],
        "answer_weight_skill_id": "skill-1",
    }


def test_aggregated_solutions_page_by_task_id(server: ScriptedServer) -> None:
    item = {"pool_id": "7", "confidence": 0.9, "output_values": {"label": "pos"}}
    server.script(
        "GET /api/v1/aggregated-solutions/agg-1",
        Reply(body={"items": [{**item, "task_id": "t1"}], "has_more": True}),
        Reply(body={"items": [{**item, "task_id": "t2"}], "has_more": False}),
    )
    with fast_hook() as hook:
        assert [s.task_id for s in hook.get_aggregated_solutions("agg-1")] == ["t1", "t2"]
    assert "task_id_gt=t1" in server.requests[1].path and "sort=task_id" in server.requests[1].path


def test_an_aggregation_of_other_fields_or_skill_is_not_reused(server: ScriptedServer) -> None:
    other_field = {
        **AGG,
        "id": "agg-f",
        "parameters": {**AGG["parameters"], "aggregated_output_fields": ["quality"]},
    }
    other_skill = {
        "id": "agg-s",
        "type": "SOLUTION.AGGREGATE",
        "status": "SUCCESS",
        "parameters": {
            "pool_id": "7",
            "algorithm": "WEIGHTED_DYNAMIC_OVERLAP",
            "answer_weight_skill_id": "s-9",
        },
    }
    server.script(
        "GET /api/v1/operations", Reply(body={"items": [other_field, other_skill], "has_more": False})
    )
    server.script("POST /api/v1/aggregated-solutions/aggregate-by-pool", Reply(202, {**AGG, "id": "agg-new"}))
    with fast_hook() as hook:
        assert (
            hook.aggregate_solutions_by_pool("DAWID_SKENE", "7", ["label"], since=datetime(2026, 11, 30)).id
            == "agg-new"
        )
        wdo = hook.aggregate_solutions_by_pool(
            "WEIGHTED_DYNAMIC_OVERLAP", "7", ["label"], "s-1", since=datetime(2026, 11, 30)
        )
        assert wdo.id == "agg-new"
    assert "sort=-submitted" in next(
        r.path for r in server.requests if r.path.startswith("/api/v1/operations?")
    )


def test_a_rate_limit_longer_than_the_budget_is_not_slept_through(server: ScriptedServer) -> None:
    # Toloka's hourly aggregation limit: waiting an hour on a worker is the caller's decision, not the transport's.
    limited = Reply(
        429, {"code": "TOO_MANY_REQUESTS", "payload": {"interval": "HOUR"}}, headers={"Retry-After": "3600"}
    )
    server.script("POST /api/v1/aggregated-solutions/aggregate-by-pool", limited)
    from airflow_toloka.exceptions import TolokaTooManyRequestsError

    with fast_hook() as hook, pytest.raises(TolokaTooManyRequestsError):
        hook.aggregate_solutions_by_pool("DAWID_SKENE", "7", ["label"])
    assert server.count("POST /api/v1/aggregated-solutions/aggregate-by-pool") == 1
