"""What every Toloka trigger shares: equality by ``serialize()``, and hooks imported off the event loop."""

from __future__ import annotations

import asyncio
import importlib
import json
from typing import Any

from airflow.triggers.base import BaseTrigger

__all__ = ["TolokaBaseTrigger", "import_off_loop"]

_imported: dict[tuple[str, str], Any] = {}


async def import_off_loop(module: str, name: str) -> Any:
    """``module.name``, imported in a worker thread the first time.

    The triggerer imports a trigger's module on its event loop, where every trigger it runs is waiting. The
    hooks a trigger polls with pull in requests, tenacity and the pydantic models: about 0.2 s on a fresh
    triggerer, which Airflow reports as "async thread was blocked". Trigger modules therefore import only
    light modules at the top and load their hook here on the first poll (docs/performance.md, "Triggers").

    :param module: dotted module path.
    :param name: attribute of the module.
    :return: the attribute.
    :raises ImportError: when the module cannot be imported.
    :raises AttributeError: when it has no such attribute.
    """
    key = (module, name)
    found = _imported.get(key)
    if found is None:
        # Not sys.modules: a module another thread is still importing is already listed there, half built.
        loaded = await asyncio.to_thread(importlib.import_module, module)
        found = _imported[key] = getattr(loaded, name)
    return found


class TolokaBaseTrigger(BaseTrigger):
    """A trigger compared and hashed by its ``serialize()``: a trigger rebuilt by the triggerer from the stored
    kwargs is the same trigger.

    :param kwargs: passed on to Airflow's ``BaseTrigger``.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Every trigger of the class logs through one logger (Airflow tells their lines apart by context): a logger
        # per trigger is some ten objects that each of thousands of sleeping triggers keeps for full collections
        # to walk (docs/performance.md, "Pool triggers").
        self._log = type(self).logger()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, type(self)):
            return NotImplemented
        return self.serialize() == other.serialize()

    def __hash__(self) -> int:
        return hash(json.dumps(self.serialize(), sort_keys=True))
