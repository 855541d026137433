"""A real Airflow 3 stack on loopback: PostgreSQL, api-server, scheduler (LocalExecutor), dag-processor,
triggerer, and the Toloka emulator, all on free ports, all stopped at the end even on failure.

``tests/stack/celery/`` runs the second configuration: CeleryExecutor on Redis, two Celery workers and two
HA triggerers (its conftest overrides ``stack``; ``make e2e`` runs it as a second pytest session).

Only collected with ``-m stack`` (``make e2e``): without ``stack`` in the ``-m`` expression the items here are
deselected, so a plain ``pytest`` run is unchanged.

Fixtures:

- ``postgres`` (session): a throwaway PostgreSQL cluster (Debian's packages, installed with apt-get if missing)
  in a temp dir on a free port, database ``airflow``; stopped and deleted at the end.
- ``stack`` (session): :class:`Stack` — AIRFLOW_HOME, the four Airflow processes, the emulator, helpers to
  trigger runs and read the metadata DB. Logs (processes, tasks, triggers) stay under ``stack.home``; a failing
  test prints where.
- ``browser`` (session): :class:`tests.stack.browser.Browser` — Debian's headless Chromium on the stack's web UI
  (see that module); a failing test that used it leaves a screenshot of its last page in
  ``.artifacts/screenshots/`` and says so.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from toloka_emulator import EmulatorProcess

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "dags_examples"
STACK_DAGS = Path(__file__).resolve().parent / "dags"
BIN = Path(sys.executable).parent
AIRFLOW = str(BIN / "airflow")
TOKEN = "stack-secret-token-9f3c2a"
DENIED_TOKEN = "stack-denied-token-51e0"
PROCESSES = ("api-server", "scheduler", "dag-processor", "triggerer")
CELERY_PROCESSES = (
    "api-server",
    "scheduler",
    "dag-processor",
    "celery-worker-1",
    "celery-worker-2",
    "triggerer-1",
    "triggerer-2",
)
# How long operations that end quickly stay PENDING. With the single executor slot (parallelism=1), a trigger that
# fires before the scheduler has drained the executor's "success" of the deferral exit makes Airflow 3.3 fail the
# requeued task ("finished with state success, but the task instance's state attribute is queued"); the
# supervisor alone may take [workers] min_heartbeat_interval (5 s by default, 1 s here) to notice that exit.
# Upstream: apache/airflow#72716.
STALE_EVENT_WINDOW = 10
WORKER_CONCURRENCY = 2
TRIGGERER_CAPACITY = 12
_STATE: dict[str, Path] = {}
STRICT_POOL = {
    "id": "6001",
    "status": "OPEN",
    "input_spec": {"image": {"type": "url", "required": True}},
    "output_spec": {"result": {"type": "string"}},
}


# ---------------------------------------------------------------------------------------------- collection


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect (not skip) stack tests unless the ``-m`` expression mentions ``stack``."""
    if "stack" in (config.getoption("markexpr") or ""):
        return
    stack_dir = Path(__file__).resolve().parent
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        (drop if stack_dir in Path(str(item.path)).resolve().parents else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "stack: real Airflow stack (PostgreSQL + 4 processes); run with -m stack"
    )


# ---------------------------------------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, check: Any, timeout: float, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def apt_install(package: str) -> None:
    """Install a Debian package (the suite's servers come from Debian, not from containers)."""
    if os.geteuid() != 0:
        raise RuntimeError(f"{package} is not installed and we are not root: apt-get install {package}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, capture_output=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", package],
        check=True,
        env=env,
        capture_output=True,
    )


def write_tsv(path: Path, n: int, tag: str) -> Path:
    """A task file of ``n`` distinct image URLs (``https://example.com/<tag>/<i>.jpg``), overlap 1."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        f.write("INPUT:url\toverlap\n")
        for i in range(n):
            f.write(f"https://example.com/{tag}/{i}.jpg\t1\n")
    return path


def _pg_bindir() -> Path:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not versions:
        apt_install("postgresql")
        versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return versions[-1].parent


class Postgres:
    """``initdb`` + ``pg_ctl`` in a temp dir, as the ``postgres`` user when running as root."""

    def __init__(self, base: Path) -> None:
        self.bindir = _pg_bindir()
        self.base = base
        self.data = base / "data"
        self.port = free_port()
        self.log = base / "postgres.log"
        self.url = f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/airflow"
        self.dsn = f"host=127.0.0.1 port={self.port} user=postgres dbname=airflow"

    def _run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = list(cmd)
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        return subprocess.run(argv, check=check, capture_output=True, text=True, timeout=120)

    def start(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres", "postgres")
        self._run(
            str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8"
        )
        opts = (
            f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        )
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", opts, "-w", "start"
        )
        self._run(
            str(self.bindir / "createdb"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "airflow",
        )

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(
                str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop", check=False
            )

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        import psycopg2

        with psycopg2.connect(self.dsn) as conn, conn.cursor() as cur:
            cur.execute(sql, params)
            rows = cur.fetchall() if cur.description else []
        conn.close()
        return rows


class Stack:
    """The Airflow processes and what tests need of them; ``broker`` (a Redis URL) selects CeleryExecutor."""

    def __init__(
        self,
        home: Path,
        pg: Postgres,
        emulator: EmulatorProcess,
        strict: EmulatorProcess,
        broker: str | None = None,
    ) -> None:
        self.home = home
        self.broker = broker
        self.processes = CELERY_PROCESSES if broker else PROCESSES
        self.pg = pg
        self.emulator = emulator
        self.strict = strict  # an emulator with a pools spec (unknown pools do not exist)
        self.down_port = free_port()  # nobody listens here
        self.api_port = free_port()
        self.dags = home / "dags"
        self.proc_logs = home / "process-logs"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.jwt_secret = secrets.token_hex(32)
        self.overrides: dict[str, str] = {}  # a test's own settings for the processes it (re)starts

    # ------------------------------------------------------------------ environment

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        conn = {"conn_type": "toloka", "host": self.emulator.url, "password": TOKEN}
        strict = {"conn_type": "toloka", "host": self.strict.url, "password": TOKEN}
        down = {"conn_type": "toloka", "host": f"http://127.0.0.1:{self.down_port}", "password": TOKEN}
        bad_token = {**strict, "password": "not-the-token"}
        denied = {**strict, "password": DENIED_TOKEN}
        bad_extra = {**strict, "extra": "{not json"}
        env.update(
            PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            PYTHONPATH=str(ROOT),
            AIRFLOW_HOME=str(self.home),
            AIRFLOW_CONN_TOLOKA_DEFAULT=json.dumps(conn),
            AIRFLOW_CONN_TOLOKA_STRICT=json.dumps(strict),
            AIRFLOW_CONN_TOLOKA_DOWN=json.dumps(down),
            AIRFLOW_CONN_TOLOKA_BADTOKEN=json.dumps(bad_token),
            AIRFLOW_CONN_TOLOKA_DENIED=json.dumps(denied),
            AIRFLOW_CONN_TOLOKA_BADEXTRA=json.dumps(bad_extra),
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=self.pg.url,
            AIRFLOW__CORE__EXECUTOR="LocalExecutor",
            AIRFLOW__CORE__DAGS_FOLDER=str(self.dags),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            # one worker slot: a deferred task must give it back for anything else to run
            AIRFLOW__CORE__PARALLELISM="1",
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{self.api_port}/execution/",
            AIRFLOW__CORE__AUTH_MANAGER=(
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
            # the connections page's Test button (off by default in Airflow 3); tests/stack/test_ui.py clicks it
            AIRFLOW__CORE__TEST_CONNECTION="Enabled",
            AIRFLOW__API__HOST="127.0.0.1",
            AIRFLOW__API__PORT=str(self.api_port),
            AIRFLOW__API__WORKERS="1",
            AIRFLOW__API_AUTH__JWT_SECRET=self.jwt_secret,
            # The task supervisor notices a task process's exit within this, not 5 s: that bounds the window in
            # which a quickly fired trigger meets the stale executor event (see STALE_EVENT_WINDOW).
            AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL="1",
            AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="False",
            AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="1",
            AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC="1",
            AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
            AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL="30",
            AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC="1",
            AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD="5",
            AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
        )
        if self.broker:
            env.update(self.celery_env())
        env.update(self.overrides)
        return env

    def celery_env(self) -> dict[str, str]:
        """What differs on the distributed stack: CeleryExecutor on the Redis broker, results in the metadata DB."""
        return {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CELERY__BROKER_URL": self.broker or "",
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + self.pg.url,
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
            # room for both workers' slots and the deferred tasks coming back
            "AIRFLOW__CORE__PARALLELISM": "16",
            # A worker killed with its tasks: the scheduler fails them (and retries them) after this, not 5 min.
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
            # Airflow 3.3 hands new triggers to whichever triggerer asks first, and a busy one asks more often:
            # only capacity makes two triggerers share (20 waiting triggers: 8-12 each).
            "AIRFLOW__TRIGGERER__CAPACITY": str(TRIGGERER_CAPACITY),
            # Airflow's default: a killed triggerer's triggers move to the other one after this.
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "30",
            # Every task's supervisor and every trigger's first poll talk to the one api-server: give it two.
            "AIRFLOW__API__WORKERS": "2",
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.stack.hostname.hostname",
        }

    def cli(self, *args: str, timeout: float = 120) -> str:
        proc = subprocess.run(
            [AIRFLOW, *args], env=self.env(), capture_output=True, text=True, timeout=timeout
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"airflow {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
            )
        return proc.stdout

    # ------------------------------------------------------------------ processes

    def prepare(self) -> None:
        self.dags.mkdir(parents=True)
        self.proc_logs.mkdir(parents=True)
        for f in EXAMPLES.glob("*.py"):
            shutil.copy(f, self.dags / f.name)
        shutil.copytree(EXAMPLES / "data", self.dags / "data")
        for f in STACK_DAGS.glob("*.py"):
            shutil.copy(f, self.dags / f.name)
        self.cli("db", "migrate", timeout=300)

    def command(self, name: str) -> tuple[list[str], dict[str, str]]:
        """The command line and environment of one process (``triggerer-2``, ``celery-worker-1``, ...)."""
        env = {**self.env(), "STACK_PROCESS": name}
        kind, _, number = name.rpartition("-") if name[-1].isdigit() else (name, "", "")
        if kind == "celery-worker":
            # Both workers on one host: distinct Celery node names, and no log server (logs are local files).
            cmd = [AIRFLOW, "celery", "worker", "--celery-hostname", f"w{number}@%h", "--skip-serve-logs"]
            return cmd, env
        cmd = [AIRFLOW, kind]
        if kind == "api-server":
            cmd += ["--port", str(self.api_port), "--host", "127.0.0.1"]
        if kind == "triggerer" and self.broker:
            cmd += ["--skip-serve-logs"]
            # asyncio names the task of every callback that holds the loop over 0.1 s (slow_callback_duration);
            # each trigger's task is named after its DAG, run and task, so a slow trigger is named in the log.
            env["PYTHONASYNCIODEBUG"] = "1"
        return cmd, env

    def start(self, name: str) -> None:
        cmd, env = self.command(name)
        log = open(self.proc_logs / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        try:
            self.procs[name] = subprocess.Popen(
                cmd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            log.close()

    def stop(self, name: str, sig: int = signal.SIGTERM, grace: float = 15) -> None:
        proc = self.procs.pop(name, None)
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
        with contextlib.suppress(ProcessLookupError):  # whatever is left of the group (workers, supervisors)
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)

    def stop_all(self) -> None:
        for name in reversed(list(self.procs)):
            self.stop(name)

    def check_alive(self) -> bool:
        """Raise if a process died; else False, so that ``check_alive() or done()`` reads as a wait condition."""
        dead = {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}
        if dead:
            raise RuntimeError(f"Airflow process(es) died: {dead}; logs in {self.proc_logs}")
        return False

    def api_healthy(self) -> bool:
        import requests

        try:
            return requests.get(f"http://127.0.0.1:{self.api_port}/api/v2/monitor/health", timeout=2).ok
        except requests.RequestException:
            return False

    # ------------------------------------------------------------------ metadata DB

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return self.pg.query(sql, params)

    def dags_parsed(self, *dag_ids: str) -> bool:
        errors = self.query("SELECT filename, stacktrace FROM import_error")
        if errors:
            raise RuntimeError(f"DAG import errors: {errors}")
        rows = self.query("SELECT dag_id FROM serialized_dag")
        return set(dag_ids) <= {r[0] for r in rows}

    def trigger(self, dag_id: str, run_id: str, conf: dict[str, Any] | None = None) -> str:
        self.cli("dags", "unpause", dag_id)
        self.cli("dags", "trigger", dag_id, "--run-id", run_id, "--conf", json.dumps(conf or {}))
        return run_id

    def run_state(self, dag_id: str, run_id: str) -> str | None:
        rows = self.query("SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", dag_id, run_id)
        return rows[0][0] if rows else None

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 180, on_poll: Any = None) -> str:
        def done() -> str | None:
            self.check_alive()
            if on_poll is not None:
                on_poll()
            state = self.run_state(dag_id, run_id)
            return state if state in ("success", "failed") else None

        return str(wait_for(f"{dag_id}/{run_id} to finish", done, timeout, interval=0.5))

    def task_states(self, dag_id: str, run_id: str) -> dict[str, tuple[str, int]]:
        rows = self.query(
            "SELECT task_id, map_index, state, try_number FROM task_instance WHERE dag_id = %s AND run_id = %s",
            dag_id,
            run_id,
        )
        return {(t if m < 0 else f"{t}[{m}]"): (s, n) for t, m, s, n in rows}

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> list[Any]:
        rows = self.query(
            "SELECT value FROM xcom WHERE dag_id = %s AND run_id = %s AND task_id = %s AND key = %s "
            "ORDER BY map_index",
            dag_id,
            run_id,
            task_id,
            key,
        )
        return [json.loads(v) if isinstance(v, (str, bytes)) else v for (v,) in rows]

    def task_log_dir(self, dag_id: str, run_id: str, task_id: str) -> Path:
        return self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"

    def logs_text(self, dag_id: str, run_id: str, task_id: str) -> str:
        base = self.task_log_dir(dag_id, run_id, task_id)
        return "\n".join(p.read_text(errors="replace") for p in sorted(base.rglob("*.log")))


# ---------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def stack_base() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="toloka-stack-"))
    os.chmod(base, 0o755)
    _STATE["base"] = base
    yield base
    if not os.environ.get("STACK_KEEP"):
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres(stack_base: Path) -> Iterator[Postgres]:
    pg = Postgres(stack_base / "pg")
    try:
        pg.start()
        yield pg
    finally:
        pg.stop()


@pytest.fixture(scope="session")
def stack(stack_base: Path, postgres: Postgres) -> Iterator[Stack]:
    with running_stack(stack_base, postgres) as s:
        yield s


@contextlib.contextmanager
def running_stack(stack_base: Path, postgres: Postgres, broker: str | None = None) -> Iterator[Stack]:
    """Emulators, AIRFLOW_HOME and every process of the configuration, up and with the DAGs parsed."""
    home = stack_base / "airflow"
    pools = stack_base / "pools.json"
    pools.write_text(json.dumps({"pools": [STRICT_POOL]}))
    strict_args = ["--pools", str(pools), "--token", TOKEN, "--denied-token", DENIED_TOKEN]
    with (
        EmulatorProcess(log_path=stack_base / "emulator.log") as emulator,
        EmulatorProcess(strict_args, log_path=stack_base / "emulator-strict.log") as strict,
    ):
        s = Stack(home, postgres, emulator, strict, broker)
        try:
            s.prepare()
            for name in s.processes:
                s.start(name)
            wait_for("the api-server", lambda: s.check_alive() or s.api_healthy(), 120)
            dag_ids = [m for p in s.dags.glob("*.py") for m in re.findall(r'dag_id="(\w+)"', p.read_text())]
            wait_for("the DAGs to be parsed", lambda: s.check_alive() or s.dags_parsed(*dag_ids), 120)
            yield s
        finally:
            s.stop_all()


@pytest.fixture
def stack_emulator(stack: Stack) -> Iterator[EmulatorProcess]:
    """The stack's emulator, its runtime config put back after the test."""
    try:
        yield stack.emulator
    finally:
        stack.emulator.restore_config()


@pytest.fixture(scope="session")
def browser(stack: Stack) -> Iterator[Any]:
    """Headless Chromium on the stack's web UI (simple auth manager, all admins: no login)."""
    from tests.stack.browser import Browser  # selenium is imported by browser tests only

    b = Browser(f"http://127.0.0.1:{stack.api_port}")
    _BROWSER["browser"] = b
    _STATE["browser"] = Path(b.profile)
    try:
        yield b
    finally:
        _BROWSER.clear()
        b.close()


_BROWSER: dict[str, Any] = {}


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say where the browser tests' screenshots are, whatever the output capture hid."""
    if "browser" in _STATE:
        from tests.stack.browser import SCREENSHOTS

        terminalreporter.write_line(f"browser screenshots: {SCREENSHOTS}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed and "stack" in getattr(item, "fixturenames", ()):
        os.environ["STACK_KEEP"] = "1"  # keep the logs of a failing run
        report.sections.append(("stack logs", f"Airflow/process/task logs kept under {_STATE.get('base')}"))
    b = _BROWSER.get("browser")
    if report.failed and b is not None and "browser" in getattr(item, "fixturenames", ()):
        with contextlib.suppress(Exception):  # the report matters more than its picture
            shot = b.screenshot(f"FAILED-{item.name}")
            report.sections.append(("browser", f"the page at failure ({b.url}): {shot}"))
