"""A local Toloka REST API emulator with a simulated crowd (``python -m toloka_emulator``).

It serves ``/api/v1`` with Toloka's shapes, status codes and idempotency rules: tasks, task suites, operations
and their logs, projects, pools, trainings, assignments, review and aggregation, worked on by simulated
Tolokers, plus fault injection and ``/_emulator`` inspection and control endpoints. :class:`EmulatorProcess`
runs it as a subprocess on a free loopback port, and the pytest plugin (:mod:`toloka_emulator.pytest_plugin`)
gives tests the ``toloka_emulator`` fixture. See ``app`` for the request pipeline, ``state`` for the account
it acts on and the map of the other modules, and ``pools`` for the pools-file format.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from toloka_emulator.app import create_app
    from toloka_emulator.config import EmulatorConfig
    from toloka_emulator.process import EmulatorProcess

__all__ = ["EmulatorConfig", "EmulatorProcess", "create_app"]

# The pytest plugin imports this package in every test session of a user who installs it, so nothing heavy is
# imported up front: FastAPI only by those who build the app, the emulator's state only by those who run it.
_LAZY = {
    "EmulatorProcess": "toloka_emulator.process",
    "EmulatorConfig": "toloka_emulator.config",
    "create_app": "toloka_emulator.app",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'toloka_emulator' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(module), name)
