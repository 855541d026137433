"""Every code block of the README runs as pasted: the DAG and the sensor through `airflow dags test` against the
emulator, the hook and the result shape in-process, the shell commands as far as a test may run them."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import httpx
import pytest

from airflow_toloka.hooks.toloka import TolokaHook
from airflow_toloka.operators import CreateTasksOperator
from tests.e2e.conftest import AIRFLOW, EXAMPLES, ROOT, AirflowHome

TOKEN = "readme-secret-token-77"
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"^```(\w+)\n(.*?)^```", README, flags=re.S | re.M)


def block(lang: str, marker: str) -> str:
    (found,) = [code for kind, code in BLOCKS if kind == lang and marker in code]
    return found


# Each README block, by a phrase only it holds; a block this list misses fails the first test.
COVERED = [
    ("bash", "make demo"),
    ("bash", "pip install airflow-toloka"),
    ("bash", "export AIRFLOW_CONN_TOLOKA_DEFAULT"),
    ("bash", "-m toloka_emulator"),
    ("python", 'dag_id="label_images"'),
    ("python", '"kind": "tasks"'),
    ("python", "TolokaOperationSensor("),
    ("python", 'dag_id="sentiment_daily"'),
    ("python", 'dag_id="on_pool_closed"'),
    ("python", "ExportAssignmentsOperator("),
    ("python", "PayBonusesOperator("),
    ("python", "hook.create_tasks("),
    ("python", "def test_each_image_is_uploaded_once"),
    ("bash", "AIRFLOW__OPENLINEAGE__TRANSPORT"),  # its file transport also runs in tests/e2e/test_lineage.py
]


def test_every_block_is_run_by_a_test_here() -> None:
    assert sorted((lang, code) for lang, code in BLOCKS) == sorted(block_of(lang, m) for lang, m in COVERED)


def block_of(lang: str, marker: str) -> tuple[str, str]:
    return lang, block(lang, marker)


def test_the_dag_and_the_sensor_upload_and_wait(
    airflow_home: AirflowHome, toloka_emulator: Any, tmp_path: Path
) -> None:
    images = EXAMPLES / "data" / "images.tsv"
    dag = block("python", 'dag_id="label_images"').replace('"/data/images.tsv"', json.dumps(str(images)))
    sensor = textwrap.indent(block("python", "TolokaOperationSensor("), "    ")
    (tmp_path / "label_images.py").write_text(dag + sensor)
    conn = {"conn_type": "toloka", "host": toloka_emulator.url, "password": TOKEN}
    run = airflow_home.dags_test("label_images", dags_folder=tmp_path, conn=conn)
    assert run.returncode == 0, run.output[-5000:]
    assert TOKEN not in run.output
    assert run.task_states() == {"upload": "success#1", "wait": "success#1"}
    assert toloka_emulator.stats()["tasks_by_pool"] == {"1001": 200}
    (submitted,) = run.xcom("upload")
    assert submitted["status"] == "SUBMITTED" and run.xcom("wait") == [submitted["operation_ids"]]


def test_the_pool_lifecycle_dag_waits_for_the_crowd(
    airflow_home: AirflowHome, toloka_emulator: Any, tmp_path: Path
) -> None:
    # A quick crowd: a simulated day passes in a fraction of a second, so the pool completes within a poll.
    toloka_emulator.configure(crowd=10, time_scale=100_000)
    (tmp_path / "sentiment_daily.py").write_text(block("python", 'dag_id="sentiment_daily"'))
    conn = {"conn_type": "toloka", "host": toloka_emulator.url, "password": TOKEN}
    run = airflow_home.dags_test("sentiment_daily", dags_folder=tmp_path, conn=conn)
    assert run.returncode == 0, run.output[-5000:]
    assert TOKEN not in run.output
    assert run.task_states() == {
        t: "success#1" for t in ("project", "pool", "upload", "open", "labeled", "archive")
    }
    (pool,) = run.xcom("pool")
    (labeled,) = run.xcom("labeled")
    # The sensor's value: the pool, why it closed, and what the crowd cost (the emulator's own accounting).
    spent = toloka_emulator.stats()["money"]["rewards_by_pool"][pool["pool_id"]]
    assert labeled["pool_id"] == pool["pool_id"] and labeled["close_reason"] == "COMPLETED"
    assert labeled["spent"] == spent > 0 and labeled["progress"]["spent"] == spent
    assert labeled["progress"]["completion_percentage"] == 100
    stats = toloka_emulator.stats()
    assert stats["tasks_by_pool"] == {pool["pool_id"]: 3}
    assert stats["pools"][pool["pool_id"]] == "ARCHIVED"
    assert (
        sum(stats["assignments_by_pool"][pool["pool_id"]].values()) >= 3
    )  # overlap 3 over suites of up to 5


def test_the_labels_snippet_exports_reviews_and_aggregates(
    airflow_home: AirflowHome, toloka_emulator: Any, tmp_path: Path
) -> None:
    # The labels snippet inside the pool lifecycle DAG above, after the wait and before the archive.
    toloka_emulator.configure(crowd=10, time_scale=100_000)
    dags = tmp_path / "dags"
    dags.mkdir()
    labels = block("python", "ExportAssignmentsOperator(").replace(
        '"/data/', json.dumps(str(tmp_path) + "/")[:-1]
    )
    extra = textwrap.indent(labels + "labeled >> export\nlabels >> archived\n", "    ")
    (dags / "sentiment_daily.py").write_text(block("python", 'dag_id="sentiment_daily"') + extra)
    conn = {"conn_type": "toloka", "host": toloka_emulator.url, "password": TOKEN}
    run = airflow_home.dags_test("sentiment_daily", dags_folder=dags, conn=conn)
    assert run.returncode == 0, run.output[-5000:]
    states = run.task_states()
    assert {states[t] for t in ("export", "review", "labels", "archive")} == {"success#1"}, states
    (exported,) = run.xcom("export")
    (reviewed,) = run.xcom("review")
    (labelled,) = run.xcom("labels")
    assert (
        exported["format"] == "parquet" and exported["rows"] >= 9
    )  # 3 tasks x overlap 3 (and more if redone)
    assert reviewed["rejected"] == 0  # an auto-accept pool has nothing left to review
    assert labelled["labels"] == 3 and Path(labelled["path"]).exists() and Path(exported["path"]).exists()


def test_the_money_snippet_opens_within_budget_and_pays_the_bonus_once(
    airflow_home: AirflowHome, toloka_emulator: Any, tmp_path: Path
) -> None:
    # The bonus snippet after the pool lifecycle DAG's wait; its answer to the payment is lost once.
    toloka_emulator.configure(
        crowd=10,
        time_scale=100_000,
        fault_drop=1.0,
        fault_routes=["POST /api/v1/user-bonuses"],
        fault_limit=1,
    )
    before = toloka_emulator.stats()
    worker = before["crowd"]["user_ids"][0]  # a Toloker of the simulated crowd stands in for the README's id
    dags = tmp_path / "dags"
    dags.mkdir()
    money = (
        block("python", "PayBonusesOperator(")
        .replace("0d3c5e9a4f1b2c3d4e5f60718293a4b5", worker)
        .replace('"/data/', json.dumps(str(tmp_path) + "/")[:-1])
    )
    extra = textwrap.indent(money + "labeled >> thanks\n", "    ")
    (dags / "sentiment_daily.py").write_text(block("python", 'dag_id="sentiment_daily"') + extra)
    conn = {"conn_type": "toloka", "host": toloka_emulator.url, "password": TOKEN}
    run = airflow_home.dags_test("sentiment_daily", dags_folder=dags, conn=conn, logical_date="2026-11-30")
    assert run.returncode == 0, run.output[-5000:]
    assert {run.task_states()[t] for t in ("open", "thanks")} == {"success#1"}, run.task_states()
    (opened,) = run.xcom("open")
    # 3 tasks x overlap 3 in suites of up to 5: at most 3 assignments of $0.01 plus the fee
    assert 0 < opened["estimated_cost"]["total"] <= 1.0, opened
    (paid,) = run.xcom("thanks")
    assert (paid["paid"], paid["amount"]) == (1, 0.5), paid
    after = toloka_emulator.stats()
    assert after["faults"]["drop"] == 1  # the payment's answer was lost, and the retry re-attached
    assert after["user_bonuses"]["count"] == 1 and after["user_bonuses"]["by_user"] == {worker: 0.5}
    rows = (tmp_path / "bonuses-2026-11-30.csv").read_text().splitlines()
    assert len(rows) == 2 and ",paid," in rows[1], rows


def test_the_result_shape_is_what_an_upload_returns(toloka_emulator: Any, toloka_emulator_conn: str) -> None:
    shown = eval(block("python", '"kind": "tasks"'))  # a literal dict, as the README prints it
    ti = MagicMock(dag_id="d", run_id="r", task_id="t", map_index=-1)
    tasks = [{"pool_id": "1001", "input_values": {"image": "https://e.com/1.jpg"}, "overlap": 1}]
    summary = CreateTasksOperator(task_id="t", tasks=tasks, poll_interval=0.2).execute({"ti": ti})
    assert list(shown) == list(summary)


def test_the_hook_snippet_creates_its_tasks(toloka_emulator: Any, toloka_emulator_conn: str) -> None:
    namespace: dict[str, Any] = {}
    exec(block("python", "hook.create_tasks("), namespace)
    assert len(namespace["result"].items) == 100 and not namespace["result"].validation_errors
    assert toloka_emulator.stats()["tasks_by_pool"] == {"1001": 100}


def test_the_offline_dag_test_passes_in_a_users_pytest_session(tmp_path: Path) -> None:
    # The user's layout: dags/ on pytest's pythonpath, tests/, and an Airflow home of their own (SQLite).
    dags, tests, home = tmp_path / "dags", tmp_path / "tests", AirflowHome(tmp_path / "home")
    for folder in (dags, tests, home.home):
        folder.mkdir()
    (dags / "label_images.py").write_text(block("python", 'dag_id="label_images"'))
    (tests / "test_label_images.py").write_text(block("python", "def test_each_image_is_uploaded_once"))
    (tmp_path / "pytest.ini").write_text("[pytest]\npythonpath = dags\n")
    # A connection to nowhere: the test passes only if toloka_emulator_conn points Airflow at the emulator.
    env = home.env(dags, {"conn_type": "toloka", "host": "http://127.0.0.1:9", "password": "nowhere"})
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-3000:]
    assert re.search(r"^1 passed", proc.stdout, flags=re.M), proc.stdout[-3000:]


def test_make_targets_and_the_package_name_exist() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for target in re.findall(r"^make (\w+)", block("bash", "make demo"), flags=re.M):
        assert re.search(rf"^{target}:", makefile, flags=re.M), target
    (name,) = re.findall(r"pip install (\S+)", block("bash", "pip install airflow-toloka"))
    assert f'name = "{name}"' in (ROOT / "pyproject.toml").read_text()


def test_the_lineage_block_names_the_extra_and_transports_openlineage_takes() -> None:
    pytest.importorskip("airflow.providers.openlineage", reason="the OpenLineage provider is not installed")
    from openlineage.client.transport import get_default_factory

    code = block("bash", "AIRFLOW__OPENLINEAGE__TRANSPORT")
    (extra,) = re.findall(r"^pip install 'airflow-toloka\[(\w+)\]'$", code, re.M)
    assert re.search(
        rf"^{extra} = \[\n\s+\"apache-airflow-providers-openlineage",
        (ROOT / "pyproject.toml").read_text(),
        re.M,
    )
    values = re.findall(r"^export AIRFLOW__OPENLINEAGE__TRANSPORT='(.*)'$", code, re.M)
    transports = [get_default_factory().create(json.loads(value)) for value in values]
    assert [t.kind for t in transports] == ["http", "file"]


def test_each_connection_example_resolves(monkeypatch: pytest.MonkeyPatch) -> None:
    values = re.findall(
        r"^export AIRFLOW_CONN_TOLOKA_DEFAULT='(.*)'$", block("bash", "export AIRFLOW_CONN"), re.M
    )
    urls = []
    for value in values:
        monkeypatch.setenv("AIRFLOW_CONN_TOLOKA_DEFAULT", value.replace("<token>", "a-token"))
        urls.append(TolokaHook().base_url)
    assert urls == [
        "https://toloka.dev",
        "https://sandbox.toloka.dev",
        "http://127.0.0.1:8765",
        "https://sandbox.toloka.dev",
        "http://127.0.0.1:8765",
    ]


def test_the_emulator_command_serves() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = block("bash", "-m toloka_emulator").strip().replace("8765", str(port))
    argv = [sys.executable, *command.split()[1:]]  # the venv's python, as `.venv/bin/python` is
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/_emulator/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "the emulator did not come up"
            time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class MemoryStore:
    """Airflow 3.3's asset state store as a watcher's trigger uses it (the real one: tests/stack/test_closed_pools.py)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    async def aget(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    async def aset(self, key: str, value: Any) -> None:
        self.values[key] = value


async def test_the_event_driven_dag_gets_the_pool_the_crowd_finished(
    toloka_emulator: Any, toloka_emulator_conn: str
) -> None:
    from types import SimpleNamespace

    from airflow_toloka.triggers import TolokaPoolClosedTrigger
    from tests.specs import IMAGES_PROJECT, pool_spec

    toloka_emulator.configure(crowd=0)  # until the second pool: nobody labels
    with TolokaHook(poll_interval=0.05) as hook:
        project = str(hook.create_project(IMAGES_PROJECT).id)
        code = block("python", 'dag_id="on_pool_closed"').replace('project_id="1"', f'project_id="{project}"')
        namespace: dict[str, Any] = {}
        exec(compile(code, "README.md", "exec"), namespace)
        asset, dag = namespace["pools_closed"], namespace["dag"]
        (watcher,) = asset.watchers
        assert dag.task_ids == ["closed_pools"] and isinstance(watcher.trigger, TolokaPoolClosedTrigger)
        kwargs = {**watcher.trigger.serialize()[1], "poll_interval": 0.05}
        trigger = TolokaPoolClosedTrigger(**kwargs)  # the block's trigger, polling faster
        trigger.asset_state_store = store = MemoryStore()
        run = trigger.run()
        pending = asyncio.ensure_future(anext(run))
        async with asyncio.timeout(20):
            while trigger.cursor_key not in store.values:  # the baseline: the first poll
                await asyncio.sleep(0.01)

        def new_pool(name: str) -> str:
            pool = hook.create_pool(pool_spec(project, overlap=1, private_name=name))
            item = {
                "pool_id": pool.id,
                "input_values": {"image": f"https://example.com/{name}.jpg"},
                "overlap": 1,
            }
            hook.create_tasks([item])
            hook.open_pool(str(pool.id))
            return str(pool.id)

        hook.close_pool(new_pool("stopped"))  # closed by hand: not a COMPLETED close
        # a pool is labeled, and closes, within a poll
        toloka_emulator.configure(crowd=10, time_scale=100_000)
        labeled = new_pool("labeled")
        async with asyncio.timeout(60):
            event = await pending
        pending.cancel()
    assert event.payload["pool_id"] == labeled and event.payload["last_close_reason"] == "COMPLETED"
    asset_event = SimpleNamespace(extra={"from_trigger": True, "payload": event.payload})
    assert namespace["closed_pools"].function(triggering_asset_events={asset: [asset_event]}) == [labeled]


def test_every_image_the_readme_shows_is_committed_and_small() -> None:
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README)
    assert images, "the README shows no image"
    for image in images:
        path = ROOT / image
        assert path.is_file(), image
        assert path.stat().st_size < 300_000, f"{image}: keep README images small"
