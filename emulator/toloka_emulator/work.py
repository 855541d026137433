"""What is left to issue in one pool, indexed so that taking a suite costs the work taken, not the pool's size.

A pool's units are its general tasks (no ``known_solutions``), its control tasks (with them) and its uploaded
task suites, each kept in creation order. Each worker has a cursor per list: everything before it was either
taken by that worker or had no overlap left when the worker passed it, so every unit is passed at most once per
worker over the pool's life. Overlap that comes back (a SKIPPED or EXPIRED assignment) puts the unit in a
``returned`` queue that is looked at first. ``remaining_overlap`` goes down when a unit is issued and back up
when it is given back (docs/toloka-api.md L15: "on issue, restore on skip/expire").

Choices (see docs/toloka-api.md L14 item 13):

- general tasks with infinite overlap are issued to each worker once and never hold up completion.
- control tasks are reused across suites, but a worker never sees one twice: once it has seen them all, its
  suites carry fewer of them.
- with ``force_last_assignment: false`` a suite with fewer than ``real_tasks_count`` general tasks is never
  issued, so such a pool may never complete (it then ends EXPIRED), as DOCS describes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PoolWork", "Taken"]

_GENERAL, _CONTROL, _SUITES = 0, 1, 2


@dataclass
class Taken:
    """A suite to issue: the tasks (or the one uploaded suite) taken, and whether it was built by mixing."""

    units: list[dict[str, Any]]
    suite: dict[str, Any] | None  # the uploaded suite, when one was taken whole


def _available(unit: dict[str, Any]) -> bool:
    return bool(unit.get("infinite_overlap")) or (unit.get("remaining_overlap") or 0) > 0


def _allowed(unit: dict[str, Any], user: str) -> bool:
    reserved = unit.get("reserved_for")
    if reserved and user not in reserved:
        return False
    return user not in (unit.get("unavailable_for") or ())


@dataclass
class PoolWork:
    """The issuing index of one pool.

    :param pool_id: the pool.
    """

    pool_id: str
    lists: tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]] = field(
        default_factory=lambda: ([], [], [])
    )
    returned: deque[dict[str, Any]] = field(default_factory=deque)
    cursors: dict[int, list[int]] = field(default_factory=dict)
    done: dict[int, set[str]] = field(default_factory=dict)
    open_count: int = 0  # general tasks and suites with finite overlap left
    active: int = 0  # ACTIVE assignments

    def add(self, objects: Iterable[dict[str, Any]], suites: bool) -> None:
        """Index new tasks or task suites of the pool.

        :param objects: the stored objects, in creation order.
        :param suites: whether they are task suites.
        """
        general, control, suite_list = self.lists
        for obj in objects:
            if suites:
                suite_list.append(obj)
            elif obj.get("known_solutions"):
                control.append(obj)
                continue
            else:
                general.append(obj)
            if not obj.get("infinite_overlap") and (obj.get("remaining_overlap") or 0) > 0:
                self.open_count += 1

    @property
    def has_units(self) -> bool:
        """Whether the pool has general tasks or suites, i.e. something that can be completed.

        :return: True when it has.
        """
        return bool(self.lists[_GENERAL] or self.lists[_SUITES])

    def take(self, worker: int, user: str, real: int, golden: int, force_last: bool) -> Taken | None:
        """Take one suite for a worker and decrement the overlap of what it holds.

        :param worker: the worker's index.
        :param user: the worker's user id (for ``reserved_for``/``unavailable_for``).
        :param real: general tasks per suite.
        :param golden: control tasks per suite.
        :param force_last: whether an under-full last suite is issued.
        :return: what was taken, or ``None`` when there is nothing for this worker.
        """
        done = self.done.setdefault(worker, set())
        cursor = self.cursors.setdefault(worker, [0, 0, 0])
        if self.lists[_GENERAL] or any(not _is_suite(u) for u in self.returned):
            picked, keep, new_general = self._scan(
                _GENERAL, done, user, cursor[_GENERAL], real, returned=True
            )
            if not picked:
                cursor[_GENERAL] = new_general  # everything passed was out of reach for this worker
            elif force_last or len(picked) >= real:
                cursor[_GENERAL] = new_general
                self.returned = keep
                controls, _, cursor[_CONTROL] = self._scan(_CONTROL, done, user, cursor[_CONTROL], golden)
                self._issue(picked + controls, done)
                return Taken(picked + controls, None)
        if self.lists[_SUITES]:
            picked, keep, cursor[_SUITES] = self._scan(_SUITES, done, user, cursor[_SUITES], 1, returned=True)
            if picked:
                self.returned = keep
                self._issue(picked, done)
                return Taken(picked, picked[0])
        return None

    def give_back(self, units: Iterable[dict[str, Any]]) -> None:
        """Restore the overlap of units whose assignment was SKIPPED or EXPIRED.

        :param units: the stored tasks or suites.
        """
        for unit in units:
            if unit.get("infinite_overlap"):
                continue
            before = unit.get("remaining_overlap") or 0
            unit["remaining_overlap"] = before + 1
            if unit.get("known_solutions"):
                continue  # control tasks are not queued again; they are rarely finite anyway
            if before == 0:
                self.open_count += 1
            self.returned.append(unit)

    def overlap_changed(self, unit: dict[str, Any], before: int) -> None:
        """Follow a unit whose overlap was set anew (``set-overlap-or-min``): queue it again when raised.

        :param unit: the stored task or suite, its ``remaining_overlap`` already changed.
        :param before: its ``remaining_overlap`` before the change.
        """
        after = unit.get("remaining_overlap") or 0
        if unit.get("known_solutions"):
            return  # control tasks are not queued; see give_back
        if before == 0 and after > 0:
            self.open_count += 1
        elif before > 0 and after == 0:
            self.open_count -= 1
        if after > before:
            self.returned.append(unit)  # a worker whose cursor passed it still finds it

    def _scan(
        self, which: int, done: set[str], user: str, start: int, limit: int, returned: bool = False
    ) -> tuple[list[dict[str, Any]], deque[dict[str, Any]], int]:
        """Units for a worker without changing anything: (picked, the returned queue to keep, new cursor)."""
        picked: list[dict[str, Any]] = []
        keep: deque[dict[str, Any]] = deque()
        seen: set[str] = set()
        if returned:
            want_suites = which == _SUITES
            for unit in self.returned:
                if not _available(unit):
                    continue  # stale: its overlap went out again
                if _is_suite(unit) == want_suites and len(picked) < limit and _fits(unit, done, user, seen):
                    picked.append(unit)
                    seen.add(unit["id"])
                    if unit.get("infinite_overlap") or unit["remaining_overlap"] > 1:
                        keep.append(unit)
                else:
                    keep.append(unit)
        units = self.lists[which]
        i = start
        while len(picked) < limit and i < len(units):
            unit = units[i]
            i += 1
            if _available(unit) and _fits(unit, done, user, seen):
                picked.append(unit)
                seen.add(unit["id"])
        return picked, keep, i

    def _issue(self, units: list[dict[str, Any]], done: set[str]) -> None:
        for unit in units:
            done.add(unit["id"])
            if unit.get("infinite_overlap"):
                continue
            unit["remaining_overlap"] -= 1
            if unit["remaining_overlap"] == 0 and not unit.get("known_solutions"):
                self.open_count -= 1


def _is_suite(unit: dict[str, Any]) -> bool:
    return "tasks" in unit


def _fits(unit: dict[str, Any], done: set[str], user: str, seen: set[str]) -> bool:
    return unit["id"] not in done and unit["id"] not in seen and _allowed(unit, user)
