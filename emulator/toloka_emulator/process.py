"""Run the emulator as a subprocess on a free loopback port, for tests, demos and benchmarks.

A real process (not an in-process app) so that clients talk real HTTP over loopback and the emulator's CPU work
does not share a GIL with the code under test.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import requests

__all__ = ["EmulatorProcess"]

_READY = re.compile(r"Toloka emulator listening on (http://\S+:(\d+))")


class EmulatorProcess:
    """``with EmulatorProcess(extra_args=[...]) as emu: ... emu.url ...``

    Starts ``python -m toloka_emulator --host 127.0.0.1 --port 0 [extra args]``: the emulator binds a free
    port itself and announces it, which avoids the race of picking a port here and binding it there. Output
    goes to :attr:`log_path`, whose tail is shown if the emulator fails to come up. The emulator runs on the
    same interpreter (``sys.executable``), so it must be installed where the caller runs.

    :param extra_args: more options of ``python -m toloka_emulator`` (``--pools FILE``, ``--crowd 5`` ...).
    :param port: the port to bind; 0 (the default) lets the emulator pick a free one.
    :param log_path: where the emulator's output goes (default: a new temporary file).
    :param startup_timeout: seconds to wait for it to answer.
    """

    def __init__(
        self,
        extra_args: Sequence[str] = (),
        *,
        port: int = 0,
        log_path: str | Path | None = None,
        startup_timeout: float = 20.0,
    ) -> None:
        self.extra_args = list(extra_args)
        self.requested_port = port
        self.startup_timeout = startup_timeout
        if log_path is None:
            fd, name = tempfile.mkstemp(prefix="toloka-emulator-", suffix=".log")
            os.close(fd)
            log_path = name
        self.log_path = Path(log_path)
        self.port: int = 0
        self.url: str = ""
        self.initial_config: dict[str, Any] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._session = requests.Session()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> EmulatorProcess:
        """Start the subprocess and wait until ``/_emulator/health`` answers (nothing to do when started).

        :return: this process, with :attr:`url` and :attr:`port` set.
        :raises RuntimeError: when it exits or does not answer in time, with the tail of its log.
        """
        if self._proc is not None:
            return self
        cmd = [sys.executable, "-m", "toloka_emulator", "--host", "127.0.0.1"]
        cmd += ["--port", str(self.requested_port), *self.extra_args]
        with open(self.log_path, "wb") as log:
            self._proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._fail(f"exited with code {self._proc.returncode}")
            if not self.url:
                found = _READY.search(self.log_path.read_text(errors="replace"))
                if found:
                    self.url, self.port = found.group(1), int(found.group(2))
            if self.url and self._healthy():
                self.initial_config = self.config()
                return self
            time.sleep(0.05)
        self._fail(f"did not answer within {self.startup_timeout:.0f}s")
        raise AssertionError("unreachable")

    def _healthy(self) -> bool:
        try:
            return self._session.get(f"{self.url}/_emulator/health", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def _fail(self, why: str) -> None:
        tail = "\n".join(self.log_path.read_text(errors="replace").splitlines()[-30:])
        self.stop()
        raise RuntimeError(f"Toloka emulator {why}; log {self.log_path}:\n{tail}")

    def stop(self) -> None:
        """Terminate (SIGTERM, graceful) and kill if it does not exit within 5 s."""
        proc, self._proc = self._proc, None
        self._session.close()
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    @property
    def running(self) -> bool:
        """Whether the emulator subprocess was started and has not exited."""
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ inspection and control

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        resp = self._session.request(method, f"{self.url}{path}", json=body, timeout=30)
        if resp.status_code >= 400:
            # The emulator's body says what was wrong (e.g. which config field); raise_for_status would not.
            raise requests.HTTPError(f"{method} {path}: {resp.status_code} {resp.text[:1000]}", response=resp)
        return resp.json()

    def stats(self) -> dict[str, Any]:
        """``GET /_emulator/stats``.

        :return: request, response and fault counters, object counts (also per pool), pool statuses, assignment
            counts per pool and status, money, bonuses, the crowd (``user_ids`` and ``workers``' profiles), the time.
        :raises requests.HTTPError: when the emulator answers with an error.
        """
        return self._call("GET", "/_emulator/stats")  # type: ignore[no-any-return]

    def reset(self) -> None:
        """``POST /_emulator/reset``: forget all objects, operations and counters (the config stays).

        :raises requests.HTTPError: when the emulator answers with an error.
        """
        self._call("POST", "/_emulator/reset")

    def config(self) -> dict[str, Any]:
        """``GET /_emulator/config``.

        :return: the runtime config (faults, latency, rate, tokens, the crowd, time scale, ...).
        :raises requests.HTTPError: when the emulator answers with an error.
        """
        return self._call("GET", "/_emulator/config")  # type: ignore[no-any-return]

    def configure(self, **changes: Any) -> dict[str, Any]:
        """``POST /_emulator/config``: change the runtime config, all of it or nothing.

        :param changes: field -> value, e.g. ``configure(fault_500=0.1, rate=50)``.
        :return: the config afterwards.
        :raises requests.HTTPError: for an unknown field or a bad value, with the emulator's message.
        """
        return self._call("POST", "/_emulator/config", changes)  # type: ignore[no-any-return]

    def advance(self, seconds: float) -> dict[str, Any]:
        """``POST /_emulator/advance``: move the clock and the simulated time forward, handling what is due.

        :param seconds: simulated seconds.
        :return: the time afterwards (``now``, ``advanced_seconds``, ``simulated_seconds``, ``time_scale``).
        :raises requests.HTTPError: for a negative or absurd amount.
        """
        return self._call("POST", f"/_emulator/advance?seconds={seconds}")  # type: ignore[no-any-return]

    def restore_config(self) -> dict[str, Any]:
        """Put back the config the process started with.

        :return: the config afterwards.
        """
        return self.configure(**self.initial_config)

    # ------------------------------------------------------------------ clients

    def airflow_conn(self, token: str = "test-token") -> str:
        """An Airflow connection to this emulator in JSON form, the value of ``AIRFLOW_CONN_TOLOKA_DEFAULT``.

        It is built here rather than by the provider so that the emulator needs no Airflow: the provider reads
        ``host`` as the full URL that overrides Toloka's environments.

        :param token: the API token the connection carries; any non-empty token works unless the emulator was
            started with ``--token``.
        :return: ``{"conn_type": "toloka", "host": "http://127.0.0.1:PORT", "password": token}`` as JSON.
        :raises RuntimeError: when the emulator has not been started.
        """
        if not self.url:
            raise RuntimeError("the Toloka emulator is not started: no URL to connect to yet")
        return json.dumps({"conn_type": "toloka", "host": self.url, "password": token})
