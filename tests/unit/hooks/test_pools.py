"""Creating projects, pools and clones at most once: tags, look-before-create, and no blind retry of a POST."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_toloka.exceptions import (
    TolokaConflictError,
    TolokaInputError,
    TolokaOperationFailedError,
    TolokaRemoteUnavailableError,
)
from airflow_toloka.hooks.objects import KEY_TAG
from tests.unit.hooks.common import fast_hook
from tests.unit.scripted_server import Reply, ScriptedServer

POOL = {
    "project_id": "7",
    "private_name": "run",
    "reward_per_assignment": 0.02,
    "assignment_max_duration_seconds": 600,
    "will_expire": "2030-01-01T00:00:00",
    "defaults": {"default_overlap_for_new_task_suites": 1},
}


def stored(pool_id: str, key: str | None = None, **extra: Any) -> dict[str, Any]:
    body = {**POOL, "id": pool_id, "status": "CLOSED", **extra}
    if key is not None:
        body["metadata"] = {KEY_TAG: [key]}
    return body


def page(*items: dict[str, Any], has_more: bool = False) -> Reply:
    return Reply(body={"items": list(items), "has_more": has_more})


def posted(server: ScriptedServer, path: str) -> list[dict[str, Any]]:
    return [
        json.loads(r.body) for r in server.requests if r.method == "POST" and r.path.split("?")[0] == path
    ]


def test_create_pool_tags_it_and_a_retry_finds_it(server: ScriptedServer) -> None:
    server.script("GET /api/v1/pools", page(), page(stored("1", "other"), stored("2", "k")))
    server.script("POST /api/v1/pools", Reply(201, stored("2", "k")))
    with fast_hook() as hook:
        first = hook.create_pool(POOL, idempotency_key="k")
        again = hook.create_pool(POOL, idempotency_key="k")
    assert first.id == again.id == "2"
    (body,) = posted(server, "/api/v1/pools")
    assert body["metadata"] == {KEY_TAG: ["k"]}
    lists = [r.path for r in server.requests if r.path.startswith("/api/v1/pools?")]
    assert all("project_id=7" in p and "sort=id" in p for p in lists)


def test_a_lost_answer_is_looked_for_before_sending_again(server: ScriptedServer) -> None:
    # Toloka created the pool but the answer was a 500: the hook must find it, not make a second one.
    server.script("GET /api/v1/pools", page(), page(stored("9", "k")))
    server.script("POST /api/v1/pools", Reply(500, {"code": "INTERNAL_ERROR"}))
    with fast_hook() as hook:
        assert hook.create_pool(POOL, idempotency_key="k").id == "9"
    assert server.count("POST /api/v1/pools") == 1


def test_an_unclear_failure_with_nothing_listed_is_raised_not_sent_twice(server: ScriptedServer) -> None:
    # Not listed may only mean "not listed yet": a second POST now could make a twin; the next try looks again.
    server.script("GET /api/v1/pools", page())
    server.script("POST /api/v1/pools", Reply(500, {"code": "INTERNAL_ERROR"}), Reply(201, stored("3", "k")))
    with fast_hook() as hook:
        with pytest.raises(TolokaRemoteUnavailableError, match="may or may not have created it"):
            hook.create_pool(POOL, idempotency_key="k")
        assert server.count("POST /api/v1/pools") == 1
        assert hook.create_pool(POOL, idempotency_key="k").id == "3"  # the retry: looked, then created
    assert server.count("POST /api/v1/pools") == 2


def test_without_a_key_an_ambiguous_failure_is_not_retried(server: ScriptedServer) -> None:
    server.script("POST /api/v1/pools", Reply(502, {"code": "BAD_GATEWAY"}))
    with fast_hook() as hook, pytest.raises(TolokaRemoteUnavailableError):
        hook.create_pool(POOL)
    assert server.count("POST /api/v1/pools") == 1


def test_search_pages_by_id_not_offset(server: ScriptedServer) -> None:
    server.script("GET /api/v1/pools", page(stored("1"), stored("2"), has_more=True), page(stored("5")))
    with fast_hook() as hook:
        assert [p.id for p in hook.get_pools(project_id="7")] == ["1", "2", "5"]
    second = [r.path for r in server.requests if r.path.startswith("/api/v1/pools?")][1]
    assert "id_gt=2" in second and "offset" not in second


async def test_the_async_search_pages_by_id_too(server: ScriptedServer) -> None:
    server.script("GET /api/v1/pools", page(stored("1"), stored("2"), has_more=True), page(stored("5")))
    async with fast_hook() as hook:
        assert [p.id async for p in hook.aget_pools(project_id="7", status="CLOSED")] == ["1", "2", "5"]
    first, second = [r.path for r in server.requests if r.path.startswith("/api/v1/pools?")]
    assert (
        "status=CLOSED" in first and "project_id=7" in first and "limit=300" in first and "sort=id" in first
    )
    assert "id_gt=2" in second and "offset" not in second


CLONE_OP = {"id": "c1", "type": "POOL.CLONE", "status": "SUCCESS", "parameters": {"pool_id": "1"}}


def test_clone_pool_is_tolokas_clone_sent_once(server: ScriptedServer) -> None:
    server.script("POST /api/v1/pools/1/clone", Reply(202, {**CLONE_OP, "status": "RUNNING"}))
    server.script("GET /api/v1/operations/c1", Reply(body={**CLONE_OP, "details": {"pool_id": "2"}}))
    server.script("GET /api/v1/pools/2", Reply(body=stored("2")))
    with fast_hook() as hook:
        assert hook.clone_pool("1").id == "2"
    server.script("POST /api/v1/pools/1/clone", Reply(503, {"code": "REMOTE_SERVICE_UNAVAILABLE"}))
    with fast_hook() as hook, pytest.raises(TolokaRemoteUnavailableError):
        hook.clone_pool("1")  # Toloka may have started it: not repeated
    assert server.count("POST /api/v1/pools/1/clone") == 2


def test_copy_pool_creates_the_templates_settings_tagged_once(server: ScriptedServer) -> None:
    template = stored("1", "template-key", private_name="template", will_expire="2030-01-01T00:00:00")
    server.script("GET /api/v1/pools/1", Reply(body=template))
    server.script("GET /api/v1/pools", page(template), page(template, stored("2", "k")))
    server.script("POST /api/v1/pools", Reply(201, stored("2", "k")))
    with fast_hook() as hook:
        first = hook.copy_pool("1", {"private_name": "run 7"}, idempotency_key="k")
        again = hook.copy_pool("1", {"private_name": "run 7"}, idempotency_key="k")
    assert first.id == again.id == "2"
    (body,) = posted(server, "/api/v1/pools")
    assert body["private_name"] == "run 7" and body["metadata"] == {KEY_TAG: ["k"]}  # not the template's tag
    assert "id" not in body and "status" not in body and body["reward_per_assignment"] == 0.02


def test_actions_accept_already_there_and_fail_with_tolokas_code(server: ScriptedServer) -> None:
    server.script("POST /api/v1/pools/5/open", Reply(204, None))
    server.script("GET /api/v1/pools/5", Reply(body=stored("5", status="OPEN")))
    server.script(
        "POST /api/v1/pools/6/open",
        Reply(409, {"code": "EMPTY_POOL", "message": "Pool contains no tasks. Operation is not allowed"}),
    )
    server.script(
        "POST /api/v1/pools/7/archive", Reply(202, {"id": "a7", "type": "POOL.ARCHIVE", "status": "RUNNING"})
    )
    server.script(
        "GET /api/v1/operations/a7",
        Reply(body={"id": "a7", "type": "POOL.ARCHIVE", "status": "FAIL", "details": {"x": 1}}),
    )
    with fast_hook() as hook:
        assert hook.open_pool("5").status == "OPEN"
        with pytest.raises(TolokaConflictError, match="EMPTY_POOL"):
            hook.open_pool("6")
        with pytest.raises(TolokaOperationFailedError, match=r"POOL\.ARCHIVE"):
            hook.archive_pool("7")


def test_input_spec_comes_from_the_pools_project(server: ScriptedServer) -> None:
    spec = {"text": {"type": "string"}}
    server.script("GET /api/v1/pools/5", Reply(body=stored("5")))
    server.script(
        "GET /api/v1/projects/7",
        Reply(body={"id": "7", "public_name": "p", "task_spec": {"input_spec": spec}}),
    )
    server.script("GET /api/v1/pools/8", Reply(404, {"code": "DOES_NOT_EXIST"}))
    server.script(
        "GET /api/v1/trainings/8", Reply(body={"id": "8", "project_id": "7", "private_name": "exam"})
    )
    with fast_hook() as hook:
        assert hook.get_input_spec("5") == spec
        assert hook.get_input_spec("8") == spec  # trainings share the pools' id space


def put_bodies(server: ScriptedServer, path: str) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in server.requests if r.method == "PUT" and r.path == path]


def test_a_tagged_pool_is_found_whatever_its_status(server: ScriptedServer) -> None:
    # A re-run of a finished date: its pool is ARCHIVED, and reusing it is what keeps the crowd from being paid twice.
    server.script("GET /api/v1/pools", page(stored("1", "k", status="ARCHIVED"), stored("2", "k")))
    with fast_hook() as hook:
        assert hook.create_pool(POOL, idempotency_key="k").id == "1"  # the first in id order
        again = hook.create_or_update_pool(POOL, idempotency_key="k")
    assert (again.id, again.status) == ("1", "ARCHIVED")
    assert server.count("POST /api/v1/pools") == 0 and server.count("PUT /api/v1/pools/1") == 0


def test_a_changed_spec_updates_a_closed_pool_and_logs_the_fields(
    server: ScriptedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    found = stored("4", "k", private_name="run", auto_accept_solutions=False, extra_server_field=1)
    server.script("GET /api/v1/pools", page(found))
    server.script(
        "PUT /api/v1/pools/4", Reply(body={**found, "private_name": "run 2", "reward_per_assignment": 0.05})
    )
    with fast_hook() as hook:
        hook.create_or_update_pool(POOL, idempotency_key="k")  # unchanged: no PUT
        assert server.count("PUT /api/v1/pools/4") == 0
        updated = hook.create_or_update_pool(
            {**POOL, "private_name": "run 2", "reward_per_assignment": 0.05, "metadata": {"team": ["nlp"]}},
            idempotency_key="k",
        )
    assert updated.private_name == "run 2"
    (body,) = put_bodies(server, "/api/v1/pools/4")
    # The whole pool: the found one with the given fields on top, read-only fields out, the tag kept.
    assert body["private_name"] == "run 2" and body["reward_per_assignment"] == 0.05
    assert body["auto_accept_solutions"] is False and body["extra_server_field"] == 1
    assert body["metadata"] == {"team": ["nlp"], KEY_TAG: ["k"]} and "id" not in body and "status" not in body
    logged = capsys.readouterr().out  # the hook logs through structlog, to stdout
    assert "in: private_name, metadata.team, reward_per_assignment; updated it" in logged


@pytest.mark.parametrize("status", ["OPEN", "ARCHIVED"])
def test_a_changed_spec_of_a_pool_toloka_cannot_change_fails_naming_the_fields(
    server: ScriptedServer, status: str
) -> None:
    server.script("GET /api/v1/pools", page(stored("4", "k", status=status)))
    with fast_hook() as hook, pytest.raises(TolokaInputError) as err:
        hook.create_or_update_pool({**POOL, "reward_per_assignment": 0.05}, idempotency_key="k")
    message = str(err.value)
    assert f"pool 4 (idempotency key 'k') is {status}" in message
    assert (
        "differs from the given spec in: reward_per_assignment" in message
        and "nothing was changed" in message
    )
    assert ("Close it" if status == "OPEN" else "new idempotency_key") in message
    assert server.count("PUT /api/v1/pools/4") == 0


def test_a_relative_will_expire_is_set_on_creation_only(server: ScriptedServer) -> None:
    found = stored("4", "k", status="OPEN", will_expire="2030-01-01T00:00:00")
    server.script("GET /api/v1/pools", page(), page(found))
    server.script("POST /api/v1/pools", Reply(201, found))
    spec = {**POOL, "will_expire": timedelta(days=2)}
    with fast_hook() as hook:
        hook.create_or_update_pool(spec, idempotency_key="k")
        assert hook.create_or_update_pool(spec, idempotency_key="k").id == "4"  # an OPEN pool: not "changed"
        with pytest.raises(TolokaInputError, match="in: will_expire"):  # an absolute one is compared
            hook.create_or_update_pool({**POOL, "will_expire": "2031-01-01T00:00:00"}, idempotency_key="k")
    (body,) = posted(server, "/api/v1/pools")
    sent = datetime.fromisoformat(body["will_expire"]).replace(tzinfo=timezone.utc)
    assert timedelta(days=2) - timedelta(minutes=1) < sent - datetime.now(timezone.utc) <= timedelta(days=2)


def test_an_update_keeps_the_found_will_expire_when_the_given_one_is_relative(server: ScriptedServer) -> None:
    found = stored("4", "k", will_expire="2030-01-01T00:00:00")
    server.script("GET /api/v1/pools", page(found))
    server.script("PUT /api/v1/pools/4", Reply(body=found))
    with fast_hook() as hook:
        hook.create_or_update_pool(
            {**POOL, "will_expire": timedelta(days=2), "private_name": "run 2"}, idempotency_key="k"
        )
    (body,) = put_bodies(server, "/api/v1/pools/4")
    assert body["will_expire"].startswith("2030-01-01T00:00:00") and body["private_name"] == "run 2"


@pytest.mark.parametrize("skip_invalid_items", [False, True])
def test_an_upload_to_an_archived_pool_is_refused_before_sending(
    server: ScriptedServer, skip_invalid_items: bool
) -> None:
    server.script("GET /api/v1/pools/5", Reply(body=stored("5", "dag/2026-11-30/pool/-1", status="ARCHIVED")))
    server.script("GET /api/v1/pools/6", Reply(body=stored("6", status="ARCHIVED")))
    tasks = [{"pool_id": "5", "input_values": {"text": "a"}}]
    with fast_hook() as hook:
        with pytest.raises(TolokaInputError) as err:
            hook.create_tasks(tasks, skip_invalid_items=skip_invalid_items, idempotency_key="u")
        with pytest.raises(
            TolokaInputError, match=r"pool 6 .* is ARCHIVED .* Upload to an OPEN or CLOSED pool"
        ):
            hook.create_tasks([{**tasks[0], "pool_id": "6"}], skip_invalid_items=skip_invalid_items)
    message = str(err.value)
    assert "pool 5 (run) is ARCHIVED and takes no new tasks; nothing was sent" in message
    assert "idempotency key 'dag/2026-11-30/pool/-1'" in message
    assert "give CreatePoolOperator a new idempotency_key" in message
    assert server.count("POST /api/v1/tasks") == 0
    # The pool is read once, for its input spec too: the refusal costs no request of its own.
    assert server.count("GET /api/v1/pools/5") == 1
