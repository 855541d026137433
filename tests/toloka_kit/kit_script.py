"""Drive the emulator with the official toloka-kit 1.2.3 (run by ``.venv-kit/bin/python``, never imported by pytest).

Usage: ``kit_script.py EMULATOR_URL``. Expects the emulator to be started with the pools file that
``test_toloka_kit_against_emulator.py`` writes (pool 101 OPEN with an ``image: url`` input spec and default
overlaps, pool 102 CLOSED with the same spec, auto-creation of other pools on). Then the lifecycle after upload:
project, pool, clone, open, the simulated crowd finishing the pool (``/_emulator/advance``), assignments, close and
archive, each waited on with ``wait_operation`` where kit returns an operation; then a manual-review pool:
``accept_assignment``/``reject_assignment`` and server-side aggregation (``aggregate_solutions_by_pool``,
``wait_operation``, ``get_aggregated_solutions``). Every step checks what toloka-kit
returned; the last line on stdout is a JSON summary: ``{"ok", "failures", "steps", "expected"}``, where
``expected`` holds the object counts the emulator should end with.
"""

from __future__ import annotations

import json
import sys
import traceback
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
from toloka.client import Pool, Project, Task, TaskSuite, TolokaClient
from toloka.client.aggregation import AggregatedSolutionType, PoolAggregatedSolutionRequest
from toloka.client.batch_create_results import TaskBatchCreateResult, TaskSuiteBatchCreateResult
from toloka.client.exceptions import IncorrectActionsApiError, ValidationApiError
from toloka.client.pool.mixer_config import MixerConfig
from toloka.client.project import ClassicViewSpec
from toloka.client.project.field_spec import StringSpec
from toloka.client.project.task_spec import TaskSpec
from toloka.client.search_requests import AggregatedSolutionSearchRequest
from toloka.client.task import CreateTasksParameters

POOL = "101"
CLOSED_POOL = "102"
SUITE_POOL = "103"

steps: dict[str, Any] = {}
failures: list[str] = []
expected = {"tasks": 0, "task_suites": 0, "tasks_by_pool": {}, "task_suites_by_pool": {}}


def url(i: int) -> str:
    return f"https://example.com/{i}.jpg"


def task(i: int, pool: str = POOL, **kwargs: Any) -> Task:
    return Task(pool_id=pool, input_values={"image": url(i)}, **kwargs)


def bad_task(i: int) -> Task:
    return Task(pool_id=POOL, input_values={"imagis": url(i)})


def created(kind: str, pool: str, n: int) -> None:
    expected[kind] += n
    by_pool = expected[f"{kind}_by_pool"]
    by_pool[pool] = by_pool.get(pool, 0) + n


def check(condition: bool, what: str) -> None:
    if not condition:
        raise AssertionError(what)


def step(name: str) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
    def register(fn: Callable[[], Any]) -> Callable[[], Any]:
        try:
            steps[name] = fn() or "ok"
        except Exception:
            failures.append(f"{name}: {traceback.format_exc()}")
            steps[name] = "FAILED"
        return fn

    return register


def check_batch(result: TaskBatchCreateResult, inputs: dict[str, int]) -> None:
    """Every index maps to the task made from that input."""
    check(set(result.items) == set(inputs), f"items keys {sorted(result.items)} != {sorted(inputs)}")
    for idx, n in inputs.items():
        item = result.items[idx]
        check(item.id is not None and item.created is not None, f"item {idx} has no id/created")
        check(item.input_values == {"image": url(n)}, f"item {idx} is {item.input_values}, want input {n}")


def advance(base_url: str, seconds: float) -> None:
    """Move the emulator's time forward (its control API, outside /api): the crowd works that long."""
    httpx.post(f"{base_url}/_emulator/advance", params={"seconds": seconds}, timeout=30).raise_for_status()


def lifecycle_steps(client: TolokaClient, base_url: str) -> None:
    """Project -> pool -> clone -> upload -> open -> the crowd finishes -> assignments -> close/archive."""
    ids: dict[str, str] = {}

    @step("create_project")
    def _() -> Any:
        project = Project(
            public_name="Sentiment",
            public_description="Pick the sentiment",
            task_spec=TaskSpec(
                input_spec={"text": StringSpec(), "truth": StringSpec(required=False)},
                output_spec={"label": StringSpec(allowed_values=["pos", "neg"])},
                view_spec=ClassicViewSpec(markup="<p>{{text}}</p>", script="", styles=""),
            ),
        )
        created_project = client.create_project(project)
        check(
            created_project.id is not None and created_project.status.value == "ACTIVE", f"{created_project}"
        )
        ids["project"] = created_project.id
        return {"id": created_project.id}

    @step("create_pool")
    def _() -> Any:
        pool = Pool(
            project_id=ids["project"],
            private_name="kit pool",
            reward_per_assignment=0.01,
            assignment_max_duration_seconds=600,
            will_expire=datetime.utcnow() + timedelta(days=1),
            defaults=Pool.Defaults(default_overlap_for_new_task_suites=2, default_overlap_for_new_tasks=2),
            mixer_config=MixerConfig(real_tasks_count=1, golden_tasks_count=0, training_tasks_count=0),
        )
        created_pool = client.create_pool(pool)
        check(created_pool.status.value == "CLOSED" and created_pool.id is not None, f"{created_pool}")
        ids["template"] = created_pool.id
        return {"id": created_pool.id}

    @step("clone_pool_and_wait_operation")
    def _() -> Any:
        op = client.clone_pool_async(ids["template"])
        op = client.wait_operation(op, disable_progress=True)
        check(op.status.value == "SUCCESS" and op.details.pool_id is not None, f"{op}")
        clone = client.clone_pool(ids["template"])
        check(clone.status.value == "CLOSED" and clone.project_id == ids["project"], f"{clone}")
        check(
            clone.private_name == "kit pool" and clone.id not in (ids["template"], op.details.pool_id),
            "clone",
        )
        ids["pool"] = clone.id
        return {"clone": clone.id}

    @step("open_pool_and_get_pool")
    def _() -> Any:
        tasks = [Task(pool_id=ids["pool"], input_values={"text": f"t{i}", "truth": "pos"}) for i in range(5)]
        result = client.create_tasks(tasks, allow_defaults=True)
        check(len(result.items) == 5, f"{len(result.items)} tasks")
        created("tasks", ids["pool"], 5)
        op = client.open_pool_async(ids["pool"])
        op = client.wait_operation(op, disable_progress=True)
        check(op.status.value == "SUCCESS" and op.parameters.pool_id == ids["pool"], f"{op}")
        check(client.get_pool(ids["pool"]).status.value == "OPEN", "not OPEN after open")
        check(client.open_pool(ids["pool"]).status.value == "OPEN", "open_pool on an OPEN pool (204)")

    @step("get_assignments_after_the_crowd_finished")
    def _() -> Any:
        advance(base_url, 3600)
        pool = client.get_pool(ids["pool"])
        check(pool.status.value == "CLOSED" and pool.last_close_reason.value == "COMPLETED", f"{pool}")
        # the default crowd skips or abandons a few suites, which others then redo
        every = list(client.get_assignments(pool_id=ids["pool"]))
        check({a.status.value for a in every} <= {"ACCEPTED", "SKIPPED", "EXPIRED"}, "unexpected statuses")
        assignments = list(client.get_assignments(pool_id=ids["pool"], status=["ACCEPTED"]))
        check(len(assignments) == 10, f"{len(assignments)} accepted assignments, want 5 tasks x overlap 2")
        check(
            all(len(a.tasks) == len(a.solutions) == 1 for a in assignments), "tasks and solutions misaligned"
        )
        check(
            all(a.solutions[0].output_values["label"] in ("pos", "neg") for a in assignments), "bad answers"
        )
        return {"assignments": len(assignments)}

    @step("review_accept_and_reject_assignments")
    def _() -> Any:
        pool = client.clone_pool(ids["template"])
        pool.auto_accept_solutions = False
        pool.auto_accept_period_day = 5
        pool = client.update_pool(pool.id, pool)
        ids["review"] = pool.id
        truths = ["pos", "neg"]
        tasks = [
            Task(pool_id=pool.id, input_values={"text": f"r{i}", "truth": truths[i % 2]}) for i in range(8)
        ]
        client.create_tasks(tasks, allow_defaults=True, open_pool=True)
        created("tasks", pool.id, 8)
        advance(base_url, 3600)
        waiting = list(client.get_assignments(pool_id=pool.id, status="SUBMITTED"))
        check(len(waiting) >= 16, f"{len(waiting)} submitted assignments, want 8 tasks x overlap 2")
        accepted = client.accept_assignment(waiting[0].id, "Well done")
        check(accepted.status.value == "ACCEPTED" and accepted.accepted is not None, f"{accepted}")
        check(accepted.public_comment == "Well done" and accepted.solutions, "accepted: comment or solutions")
        rejected = client.reject_assignment(waiting[1].id, "Wrong label")
        check(rejected.status.value == "REJECTED" and rejected.rejected is not None, f"{rejected}")
        try:
            client.accept_assignment(waiting[0].id, "again")
        except IncorrectActionsApiError as exc:
            check(exc.status_code == 409 and exc.code == "INAPPROPRIATE_STATUS", f"{exc}")
        else:
            raise AssertionError("accepting an ACCEPTED assignment did not raise")
        for a in waiting[2:]:
            client.accept_assignment(a.id, "ok")
        left = list(client.get_assignments(pool_id=pool.id, status=["SUBMITTED"]))
        check(left == [], f"{len(left)} still SUBMITTED")
        return {"reviewed": len(waiting)}

    @step("aggregate_solutions_by_pool_and_get_aggregated_solutions")
    def _() -> Any:
        request = PoolAggregatedSolutionRequest(
            type=AggregatedSolutionType.WEIGHTED_DYNAMIC_OVERLAP,
            pool_id=ids["review"],
            answer_weight_skill_id="1",
            fields=[PoolAggregatedSolutionRequest.Field(name="label")],
        )
        op = client.aggregate_solutions_by_pool(request)
        check(op.id is not None and op.parameters.pool_id == ids["review"], f"{op}")
        op = client.wait_operation(op, disable_progress=True)
        check(op.status.value == "SUCCESS", f"{op}")
        found = list(client.get_aggregated_solutions(op.id, AggregatedSolutionSearchRequest(), batch_size=3))
        check(len(found) == 8, f"{len(found)} aggregated solutions, want one per task")
        ids_seen = [s.task_id for s in found]
        check(ids_seen == sorted(ids_seen) and len(set(ids_seen)) == 8, "not paged by task_id")
        check(
            all(0 <= s.confidence <= 1 and s.output_values["label"] in ("pos", "neg") for s in found), "bad"
        )
        ds = client.aggregate_solutions_by_pool(
            type="DAWID_SKENE", pool_id=ids["review"], fields=[{"name": "label"}], answer_weight_skill_id=""
        )
        ds = client.wait_operation(ds, disable_progress=True)
        check(ds.status.value == "SUCCESS", f"{ds}")
        return {"solutions": len(found)}

    @step("close_pool_and_archive_pool")
    def _() -> Any:
        closed = client.close_pool(ids["template"])  # a new pool is CLOSED already: 204, kit GETs it
        check(closed.status.value == "CLOSED", f"{closed}")
        op = client.archive_pool_async(ids["pool"])
        check(op is not None, "archive returned 204 on a CLOSED pool")
        op = client.wait_operation(op, disable_progress=True)
        check(op.status.value == "SUCCESS", f"{op}")
        archived = client.archive_pool(ids["template"])
        check(archived.status.value == "ARCHIVED", f"{archived}")
        check(client.get_pool(ids["pool"]).status.value == "ARCHIVED", "pool not ARCHIVED")


def main(base_url: str) -> int:
    client = TolokaClient(token="kit-token", url=base_url, retries=0, timeout=30)

    @step("requester")
    def _() -> Any:
        requester = client.get_requester()
        check(requester.id is not None and requester.balance is not None, "requester has no id/balance")
        return {"id": requester.id}

    @step("create_task_default_sync_via_async")
    def _() -> Any:
        t = client.create_task(task(1, overlap=2))
        check(t.id is not None and t.pool_id == POOL and t.overlap == 2, f"bad task {t}")
        check(t.input_values == {"image": url(1)}, "wrong input_values")
        created("tasks", POOL, 1)
        return {"id": t.id}

    @step("create_task_async_mode_false")
    def _() -> Any:
        t = client.create_task(task(2, overlap=1), async_mode=False)
        check(t.id is not None and t.remaining_overlap == 1, f"bad task {t}")
        created("tasks", POOL, 1)
        return {"id": t.id}

    @step("create_task_allow_defaults")
    def _() -> Any:
        t = client.create_task(task(3), allow_defaults=True)
        check(t.overlap == 3, f"pool default overlap 3 not applied: {t.overlap}")
        created("tasks", POOL, 1)

    @step("create_tasks_default_async")
    def _() -> Any:
        result = client.create_tasks([task(10 + i) for i in range(3)], allow_defaults=True)
        check_batch(result, {"0": 10, "1": 11, "2": 12})
        check(not result.validation_errors, f"unexpected errors {result.validation_errors}")
        created("tasks", POOL, 3)

    @step("create_tasks_async_mode_false")
    def _() -> Any:
        result = client.create_tasks([task(20 + i) for i in range(4)], allow_defaults=True, async_mode=False)
        check_batch(result, {str(i): 20 + i for i in range(4)})
        created("tasks", POOL, 4)

    for mode in (True, False):

        @step(f"skip_invalid_true_async_{str(mode).lower()}")
        def _(mode: bool = mode) -> Any:
            items = [task(30), bad_task(31), task(32)]
            result = client.create_tasks(items, allow_defaults=True, skip_invalid_items=True, async_mode=mode)
            check_batch(result, {"0": 30, "2": 32})
            errors = result.validation_errors or {}
            check(set(errors) == {"1"}, f"validation_errors keys {sorted(errors)}")
            codes = {field: err.code for field, err in errors["1"].items()}
            want = {"input_values.image": "VALUE_REQUIRED", "input_values.imagis": "VALUE_NOT_ALLOWED"}
            check(codes == want, f"codes {codes}")
            created("tasks", POOL, 2)
            return codes

        @step(f"skip_invalid_false_raises_async_{str(mode).lower()}")
        def _(mode: bool = mode) -> Any:
            try:
                client.create_tasks([task(40), bad_task(41)], allow_defaults=True, async_mode=mode)
            except ValidationApiError as exc:
                check(exc.code == "VALIDATION_ERROR", f"code {exc.code}")
                check("1" in (exc.payload or {}), f"payload {exc.payload}")
                return {"raised": type(exc).__name__, "payload_keys": sorted(exc.payload)}
            raise AssertionError("no ValidationApiError")

    @step("all_invalid_with_skip_raises")
    def _() -> Any:
        try:
            client.create_tasks([bad_task(50), bad_task(51)], allow_defaults=True, skip_invalid_items=True)
        except ValidationApiError as exc:
            return {"raised": type(exc).__name__, "payload_keys": sorted(exc.payload)}
        raise AssertionError("no ValidationApiError")

    @step("create_tasks_async_and_wait")
    def _() -> Any:
        op = client.create_tasks_async([task(60 + i, overlap=1) for i in range(5)])
        check(op.id is not None, "no operation id")
        op = client.wait_operation(op, disable_progress=True)
        check(op.status.value == "SUCCESS", f"status {op.status}")
        log = client.get_operation_log(op.id)
        check(len(log) == 5, f"log has {len(log)} entries")
        check(all(e.type == "TASK_CREATE" and e.success and "task_id" in e.output for e in log), "bad log")
        created("tasks", POOL, 5)
        return {"operation": op.id, "log_entries": len(log)}

    @step("idempotent_resubmit_creates_nothing")
    def _() -> Any:
        op_id = uuid.uuid4()
        params = CreateTasksParameters(operation_id=op_id, allow_defaults=True)
        first = client.create_tasks_async([task(70 + i) for i in range(3)], parameters=params)
        client.wait_operation(first, disable_progress=True)
        # same operation_id again: the emulator answers 409 OPERATION_ALREADY_EXISTS, kit fetches the original
        again = client.create_tasks_async([task(80 + i) for i in range(3)], parameters=params)
        check(str(again.id) == str(op_id), f"resubmit returned {again.id}")
        created("tasks", POOL, 3)
        return {"operation": str(op_id)}

    @step("operation_already_exists_other_type_raises")
    def _() -> Any:
        op_id = uuid.uuid4()
        params = CreateTasksParameters(operation_id=op_id, allow_defaults=True)
        client.create_tasks_async([task(90)], parameters=params)
        suite = TaskSuite(pool_id=SUITE_POOL, tasks=[Task(input_values={"x": 1})], overlap=1)
        try:
            client.create_task_suites_async([suite], operation_id=op_id)
        except IncorrectActionsApiError as exc:
            check(exc.code == "OPERATION_ALREADY_EXISTS", f"code {exc.code}")
            created("tasks", POOL, 1)
            return {"raised": exc.code}
        raise AssertionError("no OPERATION_ALREADY_EXISTS")

    @step("create_tasks_2000_default_async_pages_back")
    def _() -> Any:
        result = client.create_tasks([task(1000 + i) for i in range(2000)], allow_defaults=True)
        check_batch(result, {str(i): 1000 + i for i in range(2000)})
        created("tasks", POOL, 2000)

    @step("open_pool_on_closed_pool")
    def _() -> Any:
        check(client.get_pool(CLOSED_POOL).status.value == "CLOSED", "pool 102 should start CLOSED")
        result = client.create_tasks(
            [task(i, pool=CLOSED_POOL) for i in range(2)], allow_defaults=True, open_pool=True
        )
        check(len(result.items) == 2, f"{len(result.items)} items")
        status = client.get_pool(CLOSED_POOL).status.value
        check(status == "OPEN", f"pool 102 is {status} after open_pool=True")
        created("tasks", CLOSED_POOL, 2)

    @step("create_task_suites")
    def _() -> Any:
        suites = [
            TaskSuite(
                pool_id=SUITE_POOL, tasks=[Task(input_values={"t": f"{i}-{k}"}) for k in range(2)], overlap=1
            )
            for i in range(3)
        ]
        result = client.create_task_suites(suites)
        check(isinstance(result, TaskSuiteBatchCreateResult), "not a TaskSuiteBatchCreateResult")
        check(set(result.items) == {"0", "1", "2"}, f"items {sorted(result.items)}")
        check(result.items["2"].tasks[1].input_values == {"t": "2-1"}, "suite 2 maps to the wrong input")
        created("task_suites", SUITE_POOL, 3)
        sync = client.create_task_suites(suites[:2], async_mode=False)
        check(set(sync.items) == {"0", "1"}, f"sync items {sorted(sync.items)}")
        created("task_suites", SUITE_POOL, 2)
        single = client.create_task_suite(suites[0])
        check(single.id is not None and single.pool_id == SUITE_POOL, f"single suite {single}")
        created("task_suites", SUITE_POOL, 1)
        with_baseline = {"input_values": {"t": "x"}, "baseline_solutions": [{"output_values": {"r": 1}}]}
        bad = TaskSuite(pool_id=SUITE_POOL, tasks=[Task.structure(with_baseline)], overlap=1)
        try:
            client.create_task_suites([bad], async_mode=False)
        except ValidationApiError as exc:
            check("tasks.0.baseline_solutions" in json.dumps(exc.payload), f"payload {exc.payload}")
        else:
            raise AssertionError("baseline_solutions inside a suite was accepted")

    @step("get_tasks_by_pool")
    def _() -> Any:
        found = list(client.get_tasks(pool_id=POOL))
        want = expected["tasks_by_pool"][POOL]
        check(len(found) == want, f"get_tasks found {len(found)}, want {want}")
        ids = [t.id for t in found]
        check(ids == sorted(ids) and len(set(ids)) == len(ids), "ids not unique and sorted")
        return {"found": len(found)}

    lifecycle_steps(client, base_url)

    summary = {"ok": not failures, "failures": failures, "steps": steps, "expected": expected}
    print(json.dumps(summary, default=str))
    return 0 if not failures else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
