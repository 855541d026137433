"""Transport-level behaviour: auth, content type, unknown routes, fault injection, /_emulator control, speed."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests

from tests.emulator.api import Api
from toloka_emulator import EmulatorProcess

AUTH = {"Authorization": "OAuth test-token"}


def api(emulator: EmulatorProcess, path: str) -> str:
    return f"{emulator.url}/api/v1{path}"


def tasks(n: int, pool: str = "3") -> list[dict[str, Any]]:
    return [{"pool_id": pool, "input_values": {"i": i}, "overlap": 1, "__item_idx": str(i)} for i in range(n)]


def error(resp: requests.Response | httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body: dict[str, Any] = resp.json()
    assert body["code"] == code and body["message"]
    uuid.UUID(body["request_id"])
    return body


# ---------------------------------------------------------------------------------------------- auth and routing


@pytest.mark.parametrize(
    "header", [None, "", "Bearer abc", "OAuth", "OAuth   ", "ApiKey "], ids=lambda h: repr(h)
)
def test_bad_credentials_are_401(toloka_emulator: EmulatorProcess, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    error(requests.get(api(toloka_emulator, "/requester"), headers=headers), 401, "AUTHENTICATION_ERROR")


def test_both_schemes_and_any_token_by_default(toloka_emulator: EmulatorProcess) -> None:
    for header in ("OAuth anything", "ApiKey LrB_oHKYMtXeD-BoVFWTwi.nfNC.xyz"):
        resp = requests.get(api(toloka_emulator, "/requester"), headers={"Authorization": header})
        assert resp.status_code == 200
    assert resp.json() == {
        "id": "emulator-requester",
        "balance": 1_000_000.0,  # the default --balance
        "public_name": {"EN": "Emulator requester"},
        "company": {"id": "1", "superintendent_id": "emulator-requester"},
    }


def test_strict_and_denied_tokens_at_runtime(toloka_emulator: EmulatorProcess) -> None:
    toloka_emulator.configure(token="good", denied_token="banned")
    url = api(toloka_emulator, "/requester")
    assert requests.get(url, headers={"Authorization": "OAuth good"}).status_code == 200
    error(requests.get(url, headers={"Authorization": "OAuth other"}), 401, "AUTHENTICATION_ERROR")
    error(requests.get(url, headers={"Authorization": "ApiKey banned"}), 403, "ACCESS_DENIED")
    banned = {"Authorization": "OAuth banned"}
    error(requests.post(api(toloka_emulator, "/tasks"), json=tasks(1), headers=banned), 403, "ACCESS_DENIED")
    assert toloka_emulator.stats()["objects"]["tasks"] == 0


@pytest.fixture(scope="module")
def strict_emulator() -> Iterator[EmulatorProcess]:
    args = ["--token", "secret", "--denied-token", "nope", "--seed", "1", "--retry-after", "2", "--rate", "5"]
    args += [
        "--fault-route",
        "GET /api/v1/requester",
        "--fault-route",
        "POST /api/v1/tasks",
        "--fault-limit",
        "3",
    ]
    with EmulatorProcess(extra_args=args) as emulator:
        yield emulator


def test_cli_options_reach_the_config(strict_emulator: EmulatorProcess) -> None:
    config = strict_emulator.config()
    assert (config["token"], config["denied_token"], config["seed"]) == ("secret", "nope", 1)
    assert (config["retry_after"], config["rate"]) == (2.0, 5.0)
    assert config["fault_routes"] == ["GET /api/v1/requester", "POST /api/v1/tasks"]
    assert config["fault_limit"] == 3
    url = api(strict_emulator, "/requester")
    assert requests.get(url, headers={"Authorization": "OAuth secret"}).status_code == 200
    error(requests.get(url, headers={"Authorization": "OAuth test-token"}), 401, "AUTHENTICATION_ERROR")
    error(requests.get(url, headers={"Authorization": "OAuth nope"}), 403, "ACCESS_DENIED")


@pytest.mark.parametrize(
    ("args", "complaint"),
    [(["--fault-route", "/api/v1/tasks"], "--fault-route"), (["--fault-limit", "-1"], "--fault-limit")],
)
def test_bad_fault_scope_flags_stop_the_emulator(args: list[str], complaint: str) -> None:
    with pytest.raises(RuntimeError, match=complaint):
        EmulatorProcess(extra_args=args).start()


def test_body_without_json_content_type_is_415(toloka_emulator: EmulatorProcess) -> None:
    body = json.dumps(tasks(1))
    for headers in ({}, {"Content-Type": "text/plain"}):
        resp = requests.post(api(toloka_emulator, "/tasks"), data=body, headers={**AUTH, **headers})
        error(resp, 415, "UNSUPPORTED_MEDIA_TYPE")
    ok = {**AUTH, "Content-Type": "application/json; charset=utf-8"}
    assert requests.post(api(toloka_emulator, "/tasks"), data=body, headers=ok).status_code == 201
    # body-less POSTs (pool open/close, as toloka-kit sends them) need no content type
    resp = requests.post(api(toloka_emulator, "/pools/4/close"), headers=AUTH)
    assert resp.status_code == 202


def test_unknown_routes_and_methods(toloka_emulator: EmulatorProcess) -> None:
    error(requests.get(api(toloka_emulator, "/message-threads"), headers=AUTH), 404, "NOT_FOUND")
    error(requests.get(f"{toloka_emulator.url}/api/v2/tasks", headers=AUTH), 404, "NOT_FOUND")
    error(requests.delete(api(toloka_emulator, "/tasks"), headers=AUTH), 405, "METHOD_NOT_ALLOWED")


# ---------------------------------------------------------------------------------------------- faults


def test_429_before_processing_with_retry_after(toloka_emulator: EmulatorProcess) -> None:
    toloka_emulator.configure(fault_429=1.0, retry_after=1.5)
    resp = requests.post(api(toloka_emulator, "/tasks"), json=tasks(2), headers=AUTH)
    body = error(resp, 429, "TOO_MANY_REQUESTS")
    assert body["payload"] == {"interval": "MIN"}
    assert resp.headers["Retry-After"] == "1.5"
    toloka_emulator.configure(retry_after=None)
    assert "Retry-After" not in requests.get(api(toloka_emulator, "/requester"), headers=AUTH).headers
    stats = toloka_emulator.stats()
    assert stats["objects"]["tasks"] == 0  # nothing was processed
    assert stats["faults"]["429"] == 2 and stats["responses"] == {"429": 2}


def test_503_before_processing(toloka_emulator: EmulatorProcess) -> None:
    toloka_emulator.configure(fault_503=1.0)
    resp = httpx.post(api(toloka_emulator, "/tasks"), json=tasks(2), headers=AUTH)
    error(resp, 503, "REMOTE_SERVICE_UNAVAILABLE")
    stats = toloka_emulator.stats()
    assert stats["objects"]["tasks"] == 0 and stats["faults"]["503"] == 1


def test_500_after_processing_the_work_is_done(toloka_emulator: EmulatorProcess) -> None:
    toloka_emulator.configure(fault_500=1.0)
    op_id = str(uuid.uuid4())
    url = api(toloka_emulator, "/tasks")
    params = {"async_mode": "true", "operation_id": op_id}
    error(requests.post(url, json=tasks(3), params=params, headers=AUTH), 500, "INTERNAL_ERROR")
    toloka_emulator.configure(fault_500=0.0)
    # the client retries with the same operation_id: Toloka already has it
    error(requests.post(url, json=tasks(3), params=params, headers=AUTH), 409, "OPERATION_ALREADY_EXISTS")
    Api(toloka_emulator.url, AUTH["Authorization"]).wait(op_id)
    stats = toloka_emulator.stats()
    assert stats["objects"]["tasks"] == 3 and stats["faults"]["500"] == 1
    posts = {k: v for k, v in stats["responses"].items() if k != "200"}  # 200s: waiting for the operation
    assert posts == {"500": 1, "409": 1}


def test_drop_after_processing_breaks_requests_and_httpx(toloka_emulator: EmulatorProcess) -> None:
    toloka_emulator.configure(fault_drop=1.0)
    url = api(toloka_emulator, "/tasks")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.post(url, json=tasks(2), headers=AUTH)
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(url, json=tasks(2), headers=AUTH)
    with httpx.Client(headers=AUTH) as client, pytest.raises(httpx.TransportError):
        client.get(api(toloka_emulator, "/requester"))
    # a dropped 204 still breaks the connection
    with pytest.raises(requests.exceptions.RequestException):
        requests.post(api(toloka_emulator, "/pools/3/open"), headers=AUTH)
    toloka_emulator.configure(fault_drop=0.0)
    stats = toloka_emulator.stats()
    assert stats["objects"]["tasks"] == 4  # both sync uploads were processed
    assert stats["faults"]["drop"] == 4 and stats["responses"] == {}
    # the emulator itself is fine afterwards
    assert requests.get(api(toloka_emulator, "/requester"), headers=AUTH).status_code == 200


def test_fault_routes_scope_faults_to_route_templates(toloka_emulator: EmulatorProcess) -> None:
    toloka_emulator.configure(fault_503=1.0, fault_routes=["GET /api/v1/operations/{id}"])
    with requests.Session() as s:
        s.headers.update(AUTH)
        assert s.get(api(toloka_emulator, "/requester")).status_code == 200
        assert s.post(api(toloka_emulator, "/tasks"), json=tasks(1)).status_code == 201
        # the template matches whatever id the path carries
        error(s.get(api(toloka_emulator, "/operations/any-id")), 503, "REMOTE_SERVICE_UNAVAILABLE")
        error(s.get(api(toloka_emulator, "/operations/other")), 503, "REMOTE_SERVICE_UNAVAILABLE")
        toloka_emulator.configure(fault_routes=[])  # empty: every route again
        error(s.get(api(toloka_emulator, "/requester")), 503, "REMOTE_SERVICE_UNAVAILABLE")
    stats = toloka_emulator.stats()
    assert stats["faults"]["503"] == 3 and stats["objects"]["tasks"] == 1


def test_fault_limit_caps_the_faults_from_when_it_was_set(toloka_emulator: EmulatorProcess) -> None:
    def statuses(n: int) -> list[int]:
        with requests.Session() as s:
            return [s.get(api(toloka_emulator, "/requester"), headers=AUTH).status_code for _ in range(n)]

    toloka_emulator.configure(fault_429=1.0, fault_limit=2)
    assert statuses(4) == [429, 429, 200, 200]
    toloka_emulator.configure(fault_limit=2)  # set again: two more
    assert statuses(3) == [429, 429, 200]
    toloka_emulator.configure(fault_limit=0)
    assert statuses(2) == [200, 200]
    toloka_emulator.reset()  # the count is one of the counters a reset forgets
    toloka_emulator.configure(fault_limit=1)
    assert statuses(2) == [429, 200]
    toloka_emulator.configure(fault_limit=None)
    assert statuses(3) == [429, 429, 429]
    assert toloka_emulator.stats()["faults"]["429"] == 4


def test_faults_limited_to_both_kinds_and_a_route_count_each_kind(toloka_emulator: EmulatorProcess) -> None:
    # a 500 and a drop share one limit: after the 500, the same route neither fails nor drops
    toloka_emulator.configure(
        fault_500=1.0, fault_drop=1.0, fault_limit=1, fault_routes=["POST /api/v1/tasks"]
    )
    url = api(toloka_emulator, "/tasks")
    error(requests.post(url, json=tasks(1), headers=AUTH), 500, "INTERNAL_ERROR")
    assert requests.post(url, json=tasks(1), headers=AUTH).status_code == 201
    assert toloka_emulator.stats()["faults"] == {"429": 0, "500": 1, "503": 0, "drop": 0}


def test_requests_outside_the_fault_scope_draw_no_randomness(toloka_emulator: EmulatorProcess) -> None:
    route = ["GET /api/v1/requester"]

    def run(interleave: bool) -> list[int]:
        toloka_emulator.configure(fault_429=0.5, fault_routes=route, seed=7)
        out = []
        with requests.Session() as s:
            s.headers.update(AUTH)
            for _ in range(40):
                if interleave:
                    assert s.get(api(toloka_emulator, "/tasks")).status_code == 200
                out.append(s.get(api(toloka_emulator, "/requester")).status_code)
        return out

    alone = run(False)
    assert run(True) == alone and 429 in alone and 200 in alone


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("fault_routes", "POST /api/v1/tasks"),  # a string, not a list
        ("fault_routes", ["/api/v1/tasks"]),
        ("fault_routes", ["post /api/v1/tasks"]),
        ("fault_routes", ["POST /_emulator/reset"]),
        ("fault_routes", [1]),
        ("fault_limit", -1),
        ("fault_limit", 1.5),
        ("fault_limit", True),
        ("fault_limit", "1"),
    ],
)
def test_fault_scope_fields_are_validated(toloka_emulator: EmulatorProcess, field: str, value: Any) -> None:
    resp = requests.post(f"{toloka_emulator.url}/_emulator/config", json={field: value})
    assert resp.status_code == 400 and field in resp.json()["message"]
    assert toloka_emulator.config()[field] is None


@pytest.mark.toloka_emulator(fault_routes=["GET /api/v1/requester"], fault_limit=1, fault_500=1.0)
def test_the_marker_sets_the_fault_scope(toloka_emulator: EmulatorProcess) -> None:
    config = toloka_emulator.config()
    assert (config["fault_routes"], config["fault_limit"]) == (["GET /api/v1/requester"], 1)
    assert requests.get(api(toloka_emulator, "/tasks"), headers=AUTH).status_code == 200
    error(requests.get(api(toloka_emulator, "/requester"), headers=AUTH), 500, "INTERNAL_ERROR")
    assert requests.get(api(toloka_emulator, "/requester"), headers=AUTH).status_code == 200


def test_fault_rates_are_roughly_right_and_seeded(toloka_emulator: EmulatorProcess) -> None:
    def run() -> list[int]:
        toloka_emulator.configure(fault_429=0.2, fault_503=0.2, seed=42)
        with requests.Session() as s:
            return [s.get(api(toloka_emulator, "/requester"), headers=AUTH).status_code for _ in range(200)]

    first, second = run(), run()
    assert first == second  # same seed, same faults
    assert 20 <= first.count(429) <= 60 and 10 <= first.count(503) <= 60 and first.count(200) >= 60


def test_faults_never_touch_the_control_endpoints(toloka_emulator: EmulatorProcess) -> None:
    toloka_emulator.configure(fault_429=1.0, fault_500=1.0, fault_503=1.0, fault_drop=1.0, latency_ms=1)
    for _ in range(5):
        assert toloka_emulator.stats()["faults"] == {"429": 0, "500": 0, "503": 0, "drop": 0}
        assert requests.get(f"{toloka_emulator.url}/_emulator/health").status_code == 200


def test_latency_is_added_to_api_requests(toloka_emulator: EmulatorProcess) -> None:
    toloka_emulator.configure(latency_ms=150)
    started = time.monotonic()
    requests.get(api(toloka_emulator, "/requester"), headers=AUTH)
    assert time.monotonic() - started >= 0.15


# ---------------------------------------------------------------------------------------------- control


def test_stats_count_routes_responses_and_objects(toloka_emulator: EmulatorProcess) -> None:
    # operations finish within microseconds, so the next request completes the suite upload (no clock in it)
    toloka_emulator.configure(pending_seconds=0, rate=1_000_000)
    with requests.Session() as s:
        s.headers.update(AUTH)
        s.post(api(toloka_emulator, "/tasks"), json=tasks(3, pool="1"))
        suites: list[dict[str, Any]] = [{"pool_id": "2", "tasks": [{"input_values": {}}], "overlap": 1}]
        op = s.post(api(toloka_emulator, "/task-suites"), json=suites, params={"async_mode": "true"}).json()
        s.get(api(toloka_emulator, f"/operations/{op['id']}"))
        s.get(api(toloka_emulator, f"/operations/{op['id']}/log"))
        s.get(api(toloka_emulator, "/tasks/x"))
    stats = toloka_emulator.stats()
    assert stats["requests"] == {
        "POST /api/v1/tasks": 1,
        "POST /api/v1/task-suites": 1,
        "GET /api/v1/operations/{id}": 1,
        "GET /api/v1/operations/{id}/log": 1,
        "GET /api/v1/tasks/{id}": 1,
    }
    assert stats["responses"] == {"201": 1, "202": 1, "200": 2, "404": 1}
    assert stats["objects"] == {"tasks": 3, "task_suites": 1, "operations": 1}
    assert stats["tasks_by_pool"] == {"1": 3} and stats["task_suites_by_pool"] == {"2": 1}
    toloka_emulator.reset()
    stats = toloka_emulator.stats()
    assert stats["requests"] == {} and stats["objects"] == {"tasks": 0, "task_suites": 0, "operations": 0}
    assert stats["tasks_by_pool"] == {}


def test_config_endpoint_validates_and_reset_keeps_config(toloka_emulator: EmulatorProcess) -> None:
    url = f"{toloka_emulator.url}/_emulator/config"
    assert requests.post(url, json={"fault_500": 2}).status_code == 400
    assert requests.post(url, json={"no_such_option": 1}).status_code == 400
    assert requests.post(url, json={"rate": 0}).status_code == 400
    assert toloka_emulator.configure(rate=7, latency_ms=0)["rate"] == 7
    toloka_emulator.reset()
    assert toloka_emulator.config()["rate"] == 7


def test_config_is_restored_after_a_test(toloka_emulator: EmulatorProcess) -> None:
    # toloka_emulator restores the start-up config after every test, so earlier tests leave no faults behind
    assert toloka_emulator.config() == toloka_emulator.initial_config
    assert toloka_emulator.initial_config["fault_500"] == 0.0


# ---------------------------------------------------------------------------------------------- speed


def test_100k_tasks_in_10_async_batches(
    toloka_emulator: EmulatorProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    """Timing check, reported rather than asserted (machines differ); the counts are asserted."""
    started = time.perf_counter()
    ops: list[str] = []
    with requests.Session() as s:
        s.headers.update({**AUTH, "Content-Type": "application/json"})
        for b in range(10):
            items = [
                {"pool_id": "77", "input_values": {"i": b * 10_000 + i}, "overlap": 1} for i in range(10_000)
            ]
            body = json.dumps([{**item, "__item_idx": str(i)} for i, item in enumerate(items)])
            resp = s.post(api(toloka_emulator, "/tasks"), data=body, params={"async_mode": "true"})
            assert resp.status_code == 202
            ops.append(resp.json()["id"])
        posted = time.perf_counter()
        while any(
            s.get(api(toloka_emulator, f"/operations/{op}")).json()["status"] != "SUCCESS" for op in ops
        ):
            time.sleep(0.02)
        finished = time.perf_counter()
        entries = sum(len(s.get(api(toloka_emulator, f"/operations/{op}/log")).json()) for op in ops)
        logged = time.perf_counter()
    assert entries == 100_000
    assert toloka_emulator.stats()["tasks_by_pool"] == {"77": 100_000}
    with capsys.disabled():
        print(
            f"\n[emulator timing] 100k tasks: POSTs {posted - started:.2f}s, until done {finished - posted:.2f}s, "
            f"10 logs {logged - finished:.2f}s, total {logged - started:.2f}s"
        )
