"""The distributed configuration of the real stack: CeleryExecutor on Redis, two Celery workers, two HA
triggerers, PostgreSQL, api-server, scheduler and dag-processor, all on loopback.

Redis comes from Debian's packages (installed with apt-get if missing) and runs on a free port for the session.
This conftest overrides ``stack``, so the tests here, and the tests imported here from the parent directory, run
on this configuration. ``make e2e`` runs this directory as its own pytest session, after the LocalExecutor one.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stack.conftest import Postgres, Stack, apt_install, free_port, running_stack, wait_for


class Redis:
    """A throwaway ``redis-server`` on loopback: no persistence, logs under ``base``."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            apt_install("redis-server")
            binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.base.mkdir(parents=True, exist_ok=True)
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        args += ["--dir", str(self.base), "--logfile", str(self.base / "redis.log")]
        self.proc = subprocess.Popen(
            [binary, *args],
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for("redis-server", self.ping, 30, interval=0.1)

    def ping(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"redis-server exited {self.proc.returncode}; see {self.base / 'redis.log'}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture(scope="session")
def redis(stack_base: Path) -> Iterator[Redis]:
    server = Redis(stack_base / "redis")
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def stack(stack_base: Path, postgres: Postgres, redis: Redis) -> Iterator[Stack]:
    with running_stack(stack_base, postgres, broker=redis.url) as s:
        yield s
