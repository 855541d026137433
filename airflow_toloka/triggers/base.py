"""What every Toloka trigger shares: it is equal to another exactly when both serialize the same."""

from __future__ import annotations

import json

from airflow.triggers.base import BaseTrigger

__all__ = ["TolokaBaseTrigger"]


class TolokaBaseTrigger(BaseTrigger):
    """A trigger compared and hashed by its ``serialize()``: a trigger rebuilt by the triggerer from the stored
    kwargs is the same trigger."""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, type(self)):
            return NotImplemented
        return self.serialize() == other.serialize()

    def __hash__(self) -> int:
        return hash(json.dumps(self.serialize(), sort_keys=True))
