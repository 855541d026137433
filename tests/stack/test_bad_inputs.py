"""The bad-input matrix on the real stack: the exact error a user sees in the task log, and nothing uploaded."""

from __future__ import annotations

import json

import pytest

from tests.stack.conftest import STALE_EVENT_WINDOW, Stack

pytestmark = pytest.mark.stack

DAG_ID = "stack_bad_inputs"

# task id -> (exception type, a fragment of the message the user sees)
EXPECTED: dict[str, tuple[str, str]] = {
    "no_pool_id": ("TolokaInputError", "item 0, field 'pool_id': Field required"),
    # the pool's input spec (its project's) is checked before anything is sent
    "unknown_pool": ("TolokaInputError", "item 0, field 'pool_id': Toloka has no pool 9999"),
    "missing_field": ("TolokaInputError", "item 0, field 'input_values.image': VALUE_REQUIRED"),
    "unknown_field": ("TolokaInputError", "item 0, field 'input_values.color': VALUE_NOT_ALLOWED"),
    "non_json_row": ("TolokaInputError", "bad.jsonl, line 2: not valid JSON (Expecting value)"),
    "empty_input": ("TolokaInputError", "no tasks to upload: the input is empty"),
    "wrong_token": ("TolokaAuthenticationError", "Toloka API error 401 AUTHENTICATION_ERROR: Invalid token"),
    "no_permission": ("TolokaAccessDeniedError", "Toloka API error 403 ACCESS_DENIED: Access denied"),
    "wrong_url": ("TolokaRemoteUnavailableError", "could not reach Toloka at http://127.0.0.1:{down}"),
    "malformed_extra": (
        "TolokaError",
        "Toloka connection 'toloka_badextra': extra is not valid JSON (Expecting property name",
    ),
}


def task_error(stack: Stack, run_id: str, task_id: str) -> tuple[str, str]:
    """The exception type and message the task failed with, from its (JSON lines) log."""
    for path in sorted(stack.task_log_dir(DAG_ID, run_id, task_id).glob("attempt=*.log")):
        for line in path.read_text(errors="replace").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("event") == "Task failed with exception" and event.get("error_detail"):
                detail = event["error_detail"][0]
                return str(detail.get("exc_type")), str(detail.get("exc_value"))
    return "", ""


def test_bad_inputs(stack: Stack) -> None:
    run_id = "stack_bad_inputs_1"
    data = stack.home / "data" / "bad"
    data.mkdir(parents=True, exist_ok=True)
    (data / "bad.jsonl").write_text(
        '{"input_values": {"image": "https://example.com/1.jpg"}, "overlap": 1}\n{"input_values": oops}\n'
    )
    (data / "empty.tsv").write_text("INPUT:image\toverlap\n")
    stack.strict.reset()
    stack.strict.configure(pending_seconds=STALE_EVENT_WINDOW)
    before = stack.emulator.stats()["tasks_by_pool"]
    stack.trigger(DAG_ID, run_id, {"dir": str(data)})
    try:
        assert stack.wait_run(DAG_ID, run_id, timeout=480) == "failed"
    finally:
        stack.strict.restore_config()

    states = stack.task_states(DAG_ID, run_id)
    errors = {t: task_error(stack, run_id, t) for t in states}
    print(json.dumps({"states": states, "errors": errors}, indent=1))
    assert all(s == "failed" for s, _ in states.values()), states
    for task_id, (exc_type, fragment) in EXPECTED.items():
        assert errors[task_id][0] == exc_type, errors[task_id]
        assert fragment.format(down=stack.down_port) in errors[task_id][1], errors[task_id]

    # nothing half-uploaded: no bad input created anything
    after = stack.emulator.stats()
    new = {p: n - before.get(p, 0) for p, n in after["tasks_by_pool"].items() if n != before.get(p, 0)}
    assert new == {}
    assert stack.strict.stats()["objects"]["tasks"] == 0
