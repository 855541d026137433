"""Projects found again: whatever their status, and brought in line with the spec given now."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_toloka.exceptions import TolokaInputError
from airflow_toloka.hooks.objects import KEY_TAG
from tests.unit.hooks.common import fast_hook
from tests.unit.scripted_server import Reply, ScriptedServer

PROJECT: dict[str, Any] = {
    "public_name": "Sentiment",
    "public_description": "Pick the sentiment of a review.",
    "public_instructions": "<p>Pick one.</p>",
    "task_spec": {
        "input_spec": {"text": {"type": "string"}},
        "output_spec": {"label": {"type": "string", "allowed_values": ["pos", "neg"]}},
        "view_spec": {"type": "tb", "config": "{}"},
    },
}


def stored(project_id: str, key: str, status: str = "ACTIVE", **changes: Any) -> dict[str, Any]:
    body = {**PROJECT, **changes, "id": project_id, "status": status, "metadata": {KEY_TAG: [key]}}
    # Toloka fills in what the spec left to its defaults; that is no change of the spec.
    body["task_spec"] = json.loads(json.dumps(body["task_spec"]))
    body["task_spec"]["input_spec"]["text"].update(required=True, hidden=False)
    return body


def page(*items: dict[str, Any]) -> Reply:
    return Reply(body={"items": list(items), "has_more": False})


def test_projects_are_looked_for_whatever_their_status(server: ScriptedServer) -> None:
    server.script("GET /api/v1/projects", page(stored("3", "other"), stored("4", "k", status="ARCHIVED")))
    with fast_hook() as hook:
        assert hook.create_project(PROJECT, idempotency_key="k").id == "4"
        assert hook.create_or_update_project(PROJECT, idempotency_key="k").status == "ARCHIVED"
    listed = [r.path for r in server.requests if r.path.startswith("/api/v1/projects?")]
    assert listed and all("status=" not in p for p in listed)
    assert server.count("POST /api/v1/projects") == 0 and server.count("PUT /api/v1/projects/4") == 0


def test_a_changed_project_is_updated_whole_keeping_its_tag(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    found = stored("4", "k", private_comment="kept: not in the spec")
    server.script("GET /api/v1/projects", page(found))
    server.script("PUT /api/v1/projects/4", Reply(body=found))
    spec = json.loads(json.dumps(PROJECT))
    spec["public_instructions"] = "<p>Pick one; sarcasm is neg.</p>"
    spec["task_spec"]["output_spec"]["label"]["allowed_values"] = ["pos", "neg", "mixed"]
    with fast_hook() as hook:
        hook.create_or_update_project(PROJECT, idempotency_key="k")  # unchanged: nothing sent
        assert server.count("PUT /api/v1/projects/4") == 0
        hook.create_or_update_project(spec, idempotency_key="k")
    (put,) = [json.loads(r.body) for r in server.requests if r.method == "PUT"]
    assert put["public_instructions"] == spec["public_instructions"]
    assert put["task_spec"] == spec["task_spec"] and put["private_comment"] == "kept: not in the spec"
    assert put["metadata"] == {KEY_TAG: ["k"]} and "id" not in put and "status" not in put
    logged = capsys.readouterr().out
    assert "in: task_spec.output_spec.label.allowed_values, public_instructions; updated it" in logged


def test_a_changed_archived_project_is_refused(server: ScriptedServer) -> None:
    server.script("GET /api/v1/projects", page(stored("4", "k", status="ARCHIVED")))
    with fast_hook() as hook, pytest.raises(TolokaInputError) as err:
        hook.create_or_update_project({**PROJECT, "public_name": "Sentiment v2"}, idempotency_key="k")
    assert (
        "project 4 (idempotency key 'k') is ARCHIVED and differs from the given spec in: public_name"
        in str(err.value)
    )
    assert server.count("PUT /api/v1/projects/4") == 0
