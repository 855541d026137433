"""A local Toloka REST API emulator for tests, demos and benchmarks (``python -m airflow_toloka.emulator``).

It serves the parts of ``/api/v1`` an upload pipeline touches (tasks, task suites, operations and their logs, pools,
requester) with Toloka's shapes, status codes and idempotency rules, plus fault injection and ``/_emulator``
inspection endpoints. See ``app`` for the request pipeline, ``state`` for the account it acts on and the map of
the other modules, and ``pools`` for the pools-file format.
"""

from __future__ import annotations

from airflow_toloka.emulator.process import EmulatorProcess
from airflow_toloka.emulator.state import EmulatorConfig


def __getattr__(name: str) -> object:
    # FastAPI is imported only by those who build the app, not by users of EmulatorProcess.
    if name == "create_app":
        from airflow_toloka.emulator.app import create_app

        return create_app
    raise AttributeError(name)


__all__ = ["EmulatorConfig", "EmulatorProcess", "create_app"]
