"""Projects, pools and trainings: create, read, list, replace, the actions and their operations, errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.emulator.api import Api
from tests.emulator.lifecycle import (
    CROWD_ARGS,
    INPUT_SPEC,
    OUTPUT_SPEC,
    act,
    codes,
    later,
    make_pool,
    make_project,
    pool_body,
    project_body,
    upload,
)
from toloka_emulator import EmulatorProcess
from toloka_emulator.pools import check_pools_spec


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(extra_args=[*CROWD_ARGS, "--crowd", "0"]) as emulator:
        yield emulator


@pytest.fixture
def api(emu: EmulatorProcess) -> Api:
    emu.reset()
    return Api(emu.url)


# ---------------------------------------------------------------------------------------------- projects


def test_project_create_get_list_and_replace(api: Api) -> None:
    resp = api.post("/projects", project_body(x_extra=[1]))
    assert resp.status_code == 201
    project = resp.json()
    assert project["id"].isdigit() and project["status"] == "ACTIVE" and project["created"]
    assert project["owner"]["myself"] is True and project["x_extra"] == [1]
    assert project["task_spec"]["input_spec"]["text"]["type"] == "STRING"  # echoed as sent
    assert api.get_json(f"/projects/{project['id']}") == project
    second = make_project(api)
    page = api.get_json("/projects", limit=1)
    assert [p["id"] for p in page["items"]] == [project["id"]] and page["has_more"] is True
    assert [p["id"] for p in api.get_json("/projects", id_gt=project["id"])["items"]] == [second]
    assert [p["id"] for p in api.get_json("/projects", sort="-id")["items"]] == [second, project["id"]]
    changed = {**project, "public_name": "Renamed", "status": "ARCHIVED", "id": "999"}
    resp = api.session.put(f"{api.base}/api/v1/projects/{project['id']}", json=changed)
    assert resp.status_code == 200
    assert resp.json()["public_name"] == "Renamed" and resp.json()["status"] == "ACTIVE"
    assert resp.json()["id"] == project["id"]
    missing = api.get("/projects/424242")
    assert missing.status_code == 404 and missing.json()["code"] == "DOES_NOT_EXIST"


def test_project_validation_payloads(api: Api) -> None:
    assert codes(api.post("/projects", {"task_spec": {}})) == {
        "public_name": "VALUE_REQUIRED",
        "public_description": "VALUE_REQUIRED",
        "task_spec.input_spec": "VALUE_REQUIRED",
        "task_spec.output_spec": "VALUE_REQUIRED",
    }
    bad = project_body()
    bad["task_spec"] = {"input_spec": {"text": {"type": "text"}, "n": 3}, "output_spec": {"x": {}}}
    resp = api.post("/projects", bad)
    assert codes(resp) == {
        "task_spec.input_spec.text.type": "UNKNOWN_ENUM_VALUE",
        "task_spec.input_spec.n": "OBJECT_EXPECTED",
        "task_spec.output_spec.x.type": "VALUE_REQUIRED",
    }
    assert resp.json()["payload"]["task_spec.input_spec.text.type"]["message"]
    assert codes(api.post("/projects", {**project_body(), "task_spec": "x"})) == {
        "task_spec": "OBJECT_EXPECTED"
    }


def test_project_archive_needs_every_pool_archived(api: Api) -> None:
    project_id = make_project(api)
    pool = make_pool(api, project_id)
    resp = api.post(f"/projects/{project_id}/archive")
    assert resp.status_code == 409 and resp.json()["code"] == "UNARCHIVED_POOLS_CONFLICT"
    act(api, f"/pools/{pool['id']}/archive")
    op = act(api, f"/projects/{project_id}/archive")
    assert op["type"] == "PROJECT.ARCHIVE" and op["parameters"] == {"project_id": project_id}
    assert api.get_json(f"/projects/{project_id}")["status"] == "ARCHIVED"
    assert api.post(f"/projects/{project_id}/archive").status_code == 204
    assert [p["id"] for p in api.get_json("/projects", status="ARCHIVED")["items"]] == [project_id]
    # an archived project takes no new pools
    assert codes(api.post("/pools", pool_body(project_id))) == {"project_id": "DOES_NOT_EXIST"}


# ---------------------------------------------------------------------------------------------- pools


def test_pool_create_echoes_the_body_and_read_only_fields(api: Api) -> None:
    project_id = make_project(api)
    body = pool_body(project_id, id="ignored", status="OPEN")
    resp = api.post("/pools", body)
    assert resp.status_code == 201
    pool = resp.json()
    assert pool["status"] == "CLOSED" and pool["type"] == "REGULAR" and pool["id"] != "ignored"
    assert pool["unknown_field"] == {"kept": True} and pool["owner"]["myself"] is True
    assert {k: pool[k] for k in body if k not in ("id", "status")} == {
        k: v for k, v in body.items() if k not in ("id", "status")
    }
    assert api.get_json(f"/pools/{pool['id']}") == pool
    training = api.post(
        "/trainings",
        {
            "project_id": project_id,
            "private_name": "exam",
            "inherited_instructions": True,
            "training_tasks_in_task_suite_count": 2,
        },
    ).json()
    assert int(training["id"]) == int(pool["id"]) + 1  # one id counter for pools and trainings


def test_pool_validation_payloads(api: Api) -> None:
    project_id = make_project(api)
    assert codes(api.post("/pools", {"defaults": {}})) == {
        "project_id": "VALUE_REQUIRED",
        "private_name": "VALUE_REQUIRED",
        "reward_per_assignment": "VALUE_REQUIRED",
        "assignment_max_duration_seconds": "VALUE_REQUIRED",
        "will_expire": "VALUE_REQUIRED",
        "defaults.default_overlap_for_new_task_suites": "VALUE_REQUIRED",
    }
    ranges = {
        "reward_per_assignment": 0.001,
        "assignment_max_duration_seconds": 4,
        "auto_accept_period_day": 22,
        "auto_close_after_complete_delay_seconds": 259_201,
        "priority": 101,
        "defaults": {"default_overlap_for_new_task_suites": 0, "default_overlap_for_new_tasks": 30_001},
        "will_expire": "2001-01-01T00:00:00",
        "quality_control": {
            "training_requirement": {"training_pool_id": "777", "training_passing_skill_value": 80}
        },
    }
    assert codes(api.post("/pools", pool_body(project_id, **ranges))) == {
        "reward_per_assignment": "VALUE_LESS_THAN_MIN",
        "assignment_max_duration_seconds": "VALUE_LESS_THAN_MIN",
        "will_expire": "DATE_OUT_OF_RANGE",
        "defaults.default_overlap_for_new_task_suites": "VALUE_LESS_THAN_MIN",
        "defaults.default_overlap_for_new_tasks": "VALUE_GREATER_THAN_MAX",
        "auto_accept_period_day": "VALUE_GREATER_THAN_MAX",
        "auto_close_after_complete_delay_seconds": "VALUE_GREATER_THAN_MAX",
        "priority": "VALUE_GREATER_THAN_MAX",
        "quality_control.training_requirement.training_pool_id": "DOES_NOT_EXIST",
    }
    assert codes(api.post("/pools", pool_body("31337"))) == {"project_id": "DOES_NOT_EXIST"}
    assert api.post("/pools", pool_body(project_id, reward_per_assignment=0)).status_code == 201


def test_pool_list_filters_sort_and_limit(api: Api) -> None:
    first, second = make_project(api), make_project(api)
    ids = [make_pool(api, first)["id"] for _ in range(3)] + [make_pool(api, second)["id"]]
    assert [p["id"] for p in api.get_json("/pools", project_id=first)["items"]] == ids[:3]
    page = api.get_json("/pools", limit=2, sort="-id")
    assert [p["id"] for p in page["items"]] == ids[::-1][:2] and page["has_more"] is True
    assert [p["id"] for p in api.get_json("/pools", id_gte=ids[1], id_lt=ids[3])["items"]] == ids[1:3]
    upload(api, ids[0], 1)
    act(api, f"/pools/{ids[0]}/open")
    assert [p["id"] for p in api.get_json("/pools", status="OPEN")["items"]] == [ids[0]]
    started = api.get_json(f"/pools/{ids[0]}")["last_started"]
    assert [p["id"] for p in api.get_json("/pools", last_started_gte=started)["items"]] == [ids[0]]
    assert len(api.get_json("/pools", created_gte="2000-01-01")["items"]) == 4
    assert api.get("/pools", limit=301).status_code == 400
    assert api.get("/pools", sort="color").status_code == 400


def test_pool_put_and_patch(api: Api) -> None:
    pool = make_pool(api)
    changed = {**pool, "private_name": "renamed", "priority": 5, "last_close_reason": "EXPIRED"}
    resp = api.session.put(f"{api.base}/api/v1/pools/{pool['id']}", json=changed)
    assert resp.status_code == 200 and resp.json()["private_name"] == "renamed"
    assert "last_close_reason" not in resp.json()
    patched = api.session.patch(f"{api.base}/api/v1/pools/{pool['id']}", json={"priority": 7})
    assert patched.status_code == 200 and patched.json()["priority"] == 7
    bad = api.session.patch(f"{api.base}/api/v1/pools/{pool['id']}", json={"priority": 200})
    assert codes(bad) == {"priority": "VALUE_GREATER_THAN_MAX"}
    upload(api, pool["id"], 1)
    act(api, f"/pools/{pool['id']}/open")
    resp = api.session.put(f"{api.base}/api/v1/pools/{pool['id']}", json=changed)
    assert resp.status_code == 409 and resp.json()["code"] == "INAPPROPRIATE_STATUS"
    act(api, f"/pools/{pool['id']}/close")
    act(api, f"/pools/{pool['id']}/archive")
    archived = api.session.patch(f"{api.base}/api/v1/pools/{pool['id']}", json={"priority": 1})
    assert archived.status_code == 409


def test_pool_actions_and_their_operations(api: Api, emu: EmulatorProcess) -> None:
    pool = make_pool(api)
    pid = pool["id"]
    empty = api.post(f"/pools/{pid}/open")
    assert empty.status_code == 409 and empty.json()["code"] == "EMPTY_POOL"
    assert api.post(f"/pools/{pid}/close").status_code == 204  # already CLOSED
    upload(api, pid, 2)
    op = act(api, f"/pools/{pid}/open")
    assert (op["type"], op["parameters"]) == ("POOL.OPEN", {"pool_id": pid})
    assert api.post(f"/pools/{pid}/open").status_code == 204
    assert api.post(f"/pools/{pid}/archive").json()["code"] == "INAPPROPRIATE_STATUS"
    op = act(api, f"/pools/{pid}/close")
    assert op["type"] == "POOL.CLOSE"
    closed = api.get_json(f"/pools/{pid}")
    assert (closed["status"], closed["last_close_reason"]) == ("CLOSED", "MANUAL") and closed["last_stopped"]
    op = act(api, f"/pools/{pid}/archive")
    assert op["type"] == "POOL.ARCHIVE" and api.get_json(f"/pools/{pid}")["status"] == "ARCHIVED"
    assert api.post(f"/pools/{pid}/archive").status_code == 204
    refused = api.post(f"/pools/{pid}/open")
    assert refused.status_code == 409 and refused.json()["code"] == "INAPPROPRIATE_STATUS"
    assert api.get("/pools/999999999").status_code == 200  # default mode: unknown pools spring up (legacy)
    assert api.post(f"/pools/{pid}/clone").status_code == 202  # an archived pool can be cloned


def test_close_for_update_reopens_after_the_delay(api: Api, emu: EmulatorProcess) -> None:
    pool = make_pool(api)
    upload(api, pool["id"], 1)
    act(api, f"/pools/{pool['id']}/open")
    op = act(api, f"/pools/{pool['id']}/close-for-update")
    assert op["type"] == "POOL.CLOSE" and op["parameters"] == {"pool_id": pool["id"]}
    now = api.get_json(f"/pools/{pool['id']}")
    assert (now["status"], now["last_close_reason"]) == ("CLOSED", "FOR_UPDATE")
    emu.advance(899)
    assert api.get_json(f"/pools/{pool['id']}")["status"] == "CLOSED"
    emu.advance(2)
    reopened = api.get_json(f"/pools/{pool['id']}")
    assert reopened["status"] == "OPEN" and reopened["last_close_reason"] == "FOR_UPDATE"
    assert reopened["last_started"] > now["last_stopped"]


def test_open_after_will_expire_is_refused_and_an_open_pool_expires(api: Api, emu: EmulatorProcess) -> None:
    pool = make_pool(api, will_expire=later(emu, 3600))
    upload(api, pool["id"], 1)
    emu.advance(3601)
    resp = api.post(f"/pools/{pool['id']}/open")
    assert resp.status_code == 409 and resp.json()["code"] == "CONFLICT_STATE"
    other = make_pool(api, will_expire=later(emu, 3600))
    upload(api, other["id"], 1)
    act(api, f"/pools/{other['id']}/open")
    emu.advance(3601)
    expired = api.get_json(f"/pools/{other['id']}")
    assert (expired["status"], expired["last_close_reason"]) == ("CLOSED", "EXPIRED")


def test_clone_makes_an_empty_closed_copy_findable_by_operation_search(api: Api) -> None:
    pool = make_pool(api, metadata={"run": ["1"]})
    upload(api, pool["id"], 3)
    resp = api.post(f"/pools/{pool['id']}/clone")
    assert resp.status_code == 202 and resp.json()["type"] == "POOL.CLONE"
    op = api.wait(resp.json()["id"])
    assert op["status"] == "SUCCESS" and op["parameters"] == {"pool_id": pool["id"]}
    clone = api.get_json(f"/pools/{op['details']['pool_id']}")
    assert (
        clone["status"] == "CLOSED"
        and clone["id"] != pool["id"]
        and clone["project_id"] == pool["project_id"]
    )
    same = ("id", "created", "status", "last_started", "last_stopped", "last_close_reason")
    assert {k: v for k, v in clone.items() if k not in same} == {
        k: v for k, v in pool.items() if k not in same
    }
    assert api.get_json("/tasks", pool_id=clone["id"])["items"] == []
    found = api.get_json("/operations", type="POOL.CLONE", status="SUCCESS", submitted_gte=op["submitted"])
    assert [o["id"] for o in found["items"]] == [op["id"]]
    assert api.get_json("/operations", type="POOL.CLONE", submitted_gt=op["submitted"])["items"] == []
    newest = api.get_json("/operations", sort="-submitted", limit=1)["items"][0]
    assert newest["id"] == op["id"]


# ---------------------------------------------------------------------------------------------- trainings


def test_trainings(api: Api) -> None:
    project_id = make_project(api)
    assert codes(api.post("/trainings", {"project_id": project_id})) == {
        "private_name": "VALUE_REQUIRED",
        "inherited_instructions": "VALUE_REQUIRED",
        "training_tasks_in_task_suite_count": "VALUE_REQUIRED",
    }
    body = {
        "project_id": project_id,
        "private_name": "exam",
        "inherited_instructions": True,
        "training_tasks_in_task_suite_count": 2,
        "retry_training_after_days": 7,
    }
    training = api.post("/trainings", body).json()
    tid = training["id"]
    assert training["status"] == "CLOSED" and "type" not in training
    assert api.get("/pools/" + tid).status_code == 404  # a training is not a pool
    assert [t["id"] for t in api.get_json("/trainings", project_id=project_id)["items"]] == [tid]
    # tasks go in by pool_id and get the project's input spec; no overlap means infinite
    solution = [{"output_values": {"label": "pos"}}]
    task = api.post("/tasks", {"pool_id": tid, "input_values": {"text": "a"}, "known_solutions": solution})
    assert task.status_code == 201 and task.json()["infinite_overlap"] is True
    assert api.codes({"pool_id": tid, "input_values": {"text": 1}, "overlap": 1}) == {
        "input_values.text": "STRING_EXPECTED"
    }
    op = act(api, f"/trainings/{tid}/open")
    assert (op["type"], op["parameters"], op["details"]) == ("TRAINING.OPEN", {"training_id": tid}, {})
    op = act(api, f"/trainings/{tid}/close")
    assert op["type"] == "TRAINING.CLOSE"
    resp = api.session.put(f"{api.base}/api/v1/trainings/{tid}", json={**training, "private_name": "exam 2"})
    assert resp.status_code == 200 and resp.json()["private_name"] == "exam 2"
    op = act(api, f"/trainings/{tid}/clone")
    assert op["type"] == "TRAINING.CLONE" and api.get_json(f"/trainings/{op['details']['training_id']}")
    pool = make_pool(api, project_id, quality_control={"training_requirement": {"training_pool_id": tid}})
    assert pool["quality_control"]["training_requirement"]["training_pool_id"] == tid
    op = act(api, f"/trainings/{tid}/archive")
    assert op["type"] == "TRAINING.ARCHIVE" and api.post(f"/trainings/{tid}/archive").status_code == 204


# ---------------------------------------------------------------------------------------------- input specs


def test_uploads_into_an_api_pool_use_its_project_input_spec(api: Api) -> None:
    pool = make_pool(api)
    pid = pool["id"]
    assert api.codes({"pool_id": pid, "input_values": {"text": None}, "overlap": 1}) == {
        "input_values.text": "VALUE_REQUIRED"
    }
    assert api.codes({"pool_id": pid, "input_values": {"image": "https://e.com/1.png"}, "overlap": 1}) == {
        "input_values.text": "VALUE_REQUIRED"
    }
    assert api.codes({"pool_id": pid, "input_values": {"text": 5, "image": "not a url"}, "overlap": 1}) == {
        "input_values.text": "STRING_EXPECTED",
        "input_values.image": "INVALID_URL_SYNTAX",
    }
    # the spec is a snapshot: changing the project later does not change what the pool accepts
    project = api.get_json(f"/projects/{pool['project_id']}")
    project["task_spec"] = {"input_spec": {"other": {"type": "string"}}, "output_spec": OUTPUT_SPEC}
    assert api.session.put(f"{api.base}/api/v1/projects/{project['id']}", json=project).status_code == 200
    assert (
        api.post("/tasks", {"pool_id": pid, "input_values": {"text": "x"}, "overlap": 1}).status_code == 201
    )


def test_every_legacy_pool_has_a_project(api: Api) -> None:
    auto = api.get_json("/pools/77")
    project = api.get_json(f"/projects/{auto['project_id']}")
    assert "input_spec" not in project["task_spec"]  # permissive: a client can check nothing against it
    assert api.post("/tasks", {"pool_id": "77", "input_values": {"x": None}, "overlap": 1}).status_code == 400


def test_file_pools_of_one_project_must_share_their_input_spec() -> None:
    spec = {
        "pools": [{"id": "1", "input_spec": INPUT_SPEC}, {"id": "2", "input_spec": {"a": {"type": "url"}}}]
    }
    with pytest.raises(ValueError, match="both in project 1"):
        check_pools_spec(spec, "pools.json")
    spec["pools"][1]["project_id"] = "9"
    check_pools_spec(spec, "pools.json")
