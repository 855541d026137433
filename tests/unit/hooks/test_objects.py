"""Projects found again, whatever their status."""

from __future__ import annotations

import json
from typing import Any

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
        found = hook.create_project(PROJECT, idempotency_key="k")
    assert (found.id, found.status) == ("4", "ARCHIVED")
    listed = [r.path for r in server.requests if r.path.startswith("/api/v1/projects?")]
    assert listed and all("status=" not in p for p in listed)
    assert server.count("POST /api/v1/projects") == 0
