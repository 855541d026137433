"""Bodies and helpers shared by the lifecycle tests (projects, pools, trainings, the crowd)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from tests.emulator.api import Api
from toloka_emulator import EmulatorProcess

INPUT_SPEC = {
    "text": {"type": "STRING", "required": True},
    "image": {"type": "url", "required": False},
    "truth": {"type": "string", "required": False},
}
OUTPUT_SPEC = {"label": {"type": "string", "required": True, "allowed_values": ["pos", "neg"]}}
CROWD_ARGS = ["--time-scale", "0", "--seed", "11", "--pending-seconds", "0", "--crowd-skip", "0"]


def project_body(**extra: Any) -> dict[str, Any]:
    return {
        "public_name": "Sentiment",
        "public_description": "Pick the sentiment",
        "task_spec": {"input_spec": INPUT_SPEC, "output_spec": OUTPUT_SPEC, "view_spec": {"type": "tb"}},
        "metadata": {"dag": ["x"]},
        **extra,
    }


def later(api_or_emulator: EmulatorProcess | None = None, seconds: float = 86_400) -> str:
    """A ``will_expire`` that far ahead of the emulator's clock (its advanced offset included)."""
    offset = api_or_emulator.stats()["time"]["advanced_seconds"] if api_or_emulator is not None else 0.0
    when = datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(seconds=seconds + offset)
    return when.strftime("%Y-%m-%dT%H:%M:%S")


def pool_body(project_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "project_id": project_id,
        "private_name": "run 1",
        "reward_per_assignment": 0.02,
        "assignment_max_duration_seconds": 600,
        "will_expire": later(),
        "defaults": {"default_overlap_for_new_task_suites": 3, "default_overlap_for_new_tasks": 3},
        "mixer_config": {"real_tasks_count": 2, "golden_tasks_count": 0, "training_tasks_count": 0},
        "unknown_field": {"kept": True},
        **extra,
    }


def make_project(api: Api, **extra: Any) -> str:
    resp = api.post("/projects", project_body(**extra))
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def make_pool(api: Api, project_id: str | None = None, **extra: Any) -> dict[str, Any]:
    resp = api.post("/pools", pool_body(project_id or make_project(api), **extra))
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


def upload(api: Api, pool_id: str, n: int, truth: str = "pos", **extra: Any) -> list[dict[str, Any]]:
    items = [
        {"pool_id": pool_id, "input_values": {"text": f"t{i}", "truth": truth}, **extra} for i in range(n)
    ]
    resp = api.post("/tasks", items, allow_defaults=True)
    assert resp.status_code == 201 and not resp.json()["validation_errors"], resp.text
    return [resp.json()["items"][str(i)] for i in range(n)]


def act(api: Api, path: str) -> dict[str, Any]:
    """Start an action, expect 202 and wait for its operation to succeed."""
    resp = api.post(path)
    assert resp.status_code == 202, resp.text
    op = api.wait(resp.json()["id"])
    assert op["status"] == "SUCCESS", op
    return op


def codes(resp: Any) -> dict[str, str]:
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert body["code"] == "VALIDATION_ERROR"
    return {path: err["code"] for path, err in body["payload"].items()}


def all_assignments(api: Api, pool_id: str, **params: Any) -> list[dict[str, Any]]:
    """Every assignment of a pool, paged by id the way toloka-kit does."""
    got: list[dict[str, Any]] = []
    query: dict[str, Any] = {"pool_id": pool_id, "sort": "id", "limit": 7, **params}
    while True:
        page = api.get_json("/assignments", **query)
        got += page["items"]
        if not page["has_more"]:
            return got
        query["id_gt"] = got[-1]["id"]


def opened_pool(
    api: Api, n: int = 10, truth: str = "pos", **pool: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A new pool with ``n`` tasks (overlap 3 unless ``defaults`` say otherwise), opened."""
    created = make_pool(api, **pool)
    tasks = upload(api, created["id"], n, truth=truth)
    act(api, f"/pools/{created['id']}/open")
    return created, tasks


def patch(api: Api, assignment_id: str, status: str, comment: str | None = "ok") -> Any:
    """``PATCH /assignments/{id}``; the response."""
    body: dict[str, Any] = {"status": status}
    if comment is not None:
        body["public_comment"] = comment
    return api.session.patch(f"{api.base}/api/v1/assignments/{assignment_id}", json=body)
