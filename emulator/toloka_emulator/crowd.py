"""The simulated crowd: Tolokers who take task suites from OPEN pools, answer them and submit, skip or abandon.

Each worker (``crowd`` of them, default 10) has a 32-hex ``user_id``, a speed, an accuracy and maybe the habits of
a spammer (:mod:`profiles`, drawn from the seed). It takes one suite at a time from the OPEN pools it may work on,
highest ``priority`` first, then lowest id; the suite is built from the pool's ``mixer_config``
(``real_tasks_count`` general tasks with overlap left plus ``golden_tasks_count`` control tasks; a pool without
one gets one general task per suite) or is an uploaded suite issued whole. It then takes about 3-9 simulated
seconds per task (times its speed, plus 2 s per suite) and, with probabilities ``crowd_skip`` and
``crowd_abandon``, skips the suite (half way) or abandons it (it EXPIRES at ``assignment_max_duration_seconds``);
a worker slower than that limit expires too. SKIPPED and EXPIRED give the overlap back. Answers follow
:mod:`answers`, with the worker's own accuracy (a spammer's at random). Submitted work is ACCEPTED at once
(``accepted == submitted``) with ``auto_accept_solutions`` (default true), else stays SUBMITTED until
``auto_accept_period_day`` has passed.

Money (:mod:`money`, docs/toloka-api.md M10): a suite's ``reward`` is the pool's ``reward_per_assignment``. With
auto-accept, the reward and its fee are paid at submit; with manual review they are reserved at submit and paid
on acceptance (here at the end of the period, or by a review). Before issuing a suite, a worker checks that the
account can pay for it beside the suites being worked on; if not, the pool (when it still has overlap left)
closes ``NOT_ENOUGH_BALANCE``, its ACTIVE suites are still finished and paid, and it stays CLOSED until a
``POST /pools/{id}/open``.

Work happens on the simulated axis of :mod:`timeline`, driven by events: an idle worker costs nothing until work
appears (a pool opens, tasks arrive, overlap comes back), so the cost of a request is the work due, and a pool's
issuing index (:mod:`work`) is built the first time the crowd looks at the pool. A pool whose last general task
ran out of overlap, with nothing ACTIVE, closes COMPLETED ``auto_close_after_complete_delay_seconds`` (simulated)
later unless new tasks arrived meanwhile. Given a ``seed``, the same requests and advances give the same
assignments when ``time_scale`` is 0 (otherwise real time between requests moves the crowd too).

Choices (emulator-only, or where Toloka is unconfirmed; docs/toloka-api.md L14 items 8, 11-14):

- the crowd works only on pools (not trainings) whose project has a non-empty ``output_spec``: pools created
  through the API always do; pools-file pools do when they declare one; auto-created permissive pools never do,
  so uploads into them (benchmarks, ``make demo``) cost exactly what they did before the crowd existed.
- ``training_requirement`` is modelled by :mod:`training_gate` (a score from the worker's accuracy);
  quality-control rules are run by :mod:`quality`.
- a pool needs at least ``overlap`` workers to complete; with fewer, it waits for ``will_expire``.
- ``auto_accept_period_day`` absent means 21 days (its maximum).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from toloka_emulator.answers import answer, random_answer
from toloka_emulator.pools import OWNER, Pool
from toloka_emulator.profiles import Worker, new_worker, profile
from toloka_emulator.query import id_number
from toloka_emulator.work import PoolWork, Taken

if TYPE_CHECKING:
    from toloka_emulator.assignments import Assignments
    from toloka_emulator.money import Account
    from toloka_emulator.projects import Projects
    from toloka_emulator.timeline import Event, Timeline

__all__ = ["Crowd", "CrowdSettings"]

_DAY = 86_400.0


class CrowdSettings(Protocol):
    """The live config the crowd reads on every decision."""

    crowd: int
    crowd_accuracy: float
    crowd_accuracy_spread: float
    crowd_spammers: float
    crowd_skip: float
    crowd_abandon: float
    truth_field: str
    seed: int | None


class Crowd:
    """The workers and what they are doing.

    :param settings: the live config.
    :param timeline: the clock and the simulated time.
    :param pools: the account's pools.
    :param projects: the account's projects (for output specs).
    :param assignments: where assignments are stored.
    :param units_of: pool id -> (its tasks, its task suites), stored objects in creation order.
    :param new_id: (pool id prefix, clock instant) -> a fresh object id.
    :param account: the requester's money, which pays for submitted work and can stop issuing.
    """

    def __init__(
        self,
        settings: CrowdSettings,
        timeline: Timeline,
        pools: Mapping[str, Pool],
        projects: Projects,
        assignments: Assignments,
        units_of: Callable[[str], tuple[list[dict[str, Any]], list[dict[str, Any]]]],
        new_id: Callable[[str, float], str],
        account: Account,
    ) -> None:
        self._settings = settings
        self._account = account
        self._timeline = timeline
        self._pools = pools
        self._projects = projects
        self._assignments = assignments
        self._units_of = units_of
        self._new_id = new_id
        self.close_pool: Callable[[Pool, str], None] = lambda pool, reason: None
        # bans and skill filters (restrictions.Access); everyone is admitted until the state wires them in
        self.admits: Callable[[str, Pool], bool] = lambda user_id, pool: True
        # quality-control rules (quality.QualityControl) see every submitted and skipped suite
        self.on_submitted: Callable[[Pool, dict[str, Any]], None] = lambda pool, assignment: None
        self.on_skipped: Callable[[Pool, dict[str, Any]], None] = lambda pool, assignment: None
        # assignment id -> the simulated seconds its suite took, while its rules run: the clock's stamps move
        # time_scale times slower than the crowd, so submitted - created would make every suite look fast
        self.work_seconds: dict[str, float] = {}
        self._work: dict[str, PoolWork] = {}
        self._open: dict[str, None] = {}  # OPEN pools the crowd may work on, in the order they opened
        self._closing: dict[str, Event] = {}
        self._workers: list[Worker] = []
        self.reseed(settings.seed)

    # ------------------------------------------------------------------ configuration

    def reseed(self, seed: int | None) -> None:
        """Restart the random sources (worker ids, speeds, profiles, choices, answers) from a seed.

        :param seed: the seed, or ``None`` for a random one.
        """
        self._rng = random.Random(seed)
        self._people = random.Random(None if seed is None else f"{seed}:people")
        self._profile_seed = str(seed) if seed is not None else f"random:{random.getrandbits(64)}"
        self._workers = []
        self._user_ids: set[str] = set()  # every worker's, retired ones too: a bonus request checks each item
        self.resize()

    def resize(self) -> None:
        """Follow the live ``crowd`` size: new workers start idle and look for work; extra ones retire; the
        spammers are chosen again among those working (:func:`profiles.profile`)."""
        wanted = max(0, int(self._settings.crowd))
        while len(self._workers) < wanted:
            self._workers.append(new_worker(len(self._workers), self._people, self._profile_seed))
            self._user_ids.add(self._workers[-1].user_id)
        for worker in self._workers:
            worker.retired = worker.index >= wanted
        self.reprofile()
        self._wake()

    def reprofile(self) -> None:
        """Follow the live ``crowd_accuracy``, ``crowd_accuracy_spread`` and ``crowd_spammers``: every worker's
        accuracy, spammer flag and speed are drawn again from the seed (suites already started keep their time)."""
        profile(self._workers, self._settings, self._profile_seed)

    def profiles(self) -> list[dict[str, Any]]:
        """The working Tolokers' profiles, in the order they joined.

        :return: ``{"user_id", "accuracy", "spammer", "time_factor"}`` per worker.
        """
        return [worker.as_dict() for worker in self._workers if not worker.retired]

    def user_ids(self) -> list[str]:
        """The Tolokers working now (retired ones left out), in the order they joined.

        :return: their 32-hex ``user_id`` values.
        """
        return [worker.user_id for worker in self._workers if not worker.retired]

    def knows(self, user_id: str) -> bool:
        """Whether a Toloker has the id: a worker of this crowd, retired or not (bonuses may still reach them), or
        anyone who has an assignment (``/_emulator/fill`` invents its workers).

        :param user_id: the id.
        :return: True when such a Toloker exists.
        """
        return user_id in self._user_ids or user_id in self._assignments.user_ids

    # ------------------------------------------------------------------ what the rest of the account tells us

    def pool_opened(self, pool: Pool) -> None:
        """A pool became OPEN: the crowd may work on it (if its project has an output spec).

        :param pool: the pool.
        """
        if not self._eligible(pool):
            if pool.kind == "TRAINING":
                self._wake()  # an open training may let idle Tolokers into the pools that require it
            return
        self._index(pool)
        self._open[pool.id] = None
        self._wake()
        self._check_complete(pool)

    @property
    def tracking(self) -> bool:
        """Whether the crowd has indexed any pool (if not, uploads need not tell it anything).

        :return: True when it has.
        """
        return bool(self._work)

    def tracks(self, pool_id: str) -> bool:
        """Whether the crowd has indexed a pool, so new objects of it must be added to its index.

        :param pool_id: the pool.
        :return: True when it has.
        """
        return pool_id in self._work

    def stored(self, pool_id: str, objects: list[dict[str, Any]], suites: bool) -> None:
        """New tasks or suites were stored in a pool; they keep an OPEN pool from completing.

        :param pool_id: the pool.
        :param objects: the stored objects.
        :param suites: whether they are task suites.
        """
        work = self._work.get(pool_id)
        if work is None:
            return
        work.add(objects, suites)
        closing = self._closing.pop(pool_id, None)
        if closing is not None:
            closing.cancel()
        if pool_id in self._open:
            self._wake()

    def overlap_changed(self, pool: Pool, unit: dict[str, Any], before: int) -> None:
        """A task's or suite's overlap was set anew: more of it is issuable, or less.

        :param pool: its pool.
        :param unit: the stored task or suite.
        :param before: its ``remaining_overlap`` before the change.
        """
        work = self._work.get(pool.id)
        if work is None:
            return  # not indexed yet: opening the pool reads the object as it is now
        work.overlap_changed(unit, before)
        closing = self._closing.pop(pool.id, None)
        if closing is not None:
            closing.cancel()
        if pool.id in self._open:
            self._wake()
        self._check_complete(pool)

    # ------------------------------------------------------------------ working

    def _eligible(self, pool: Pool) -> bool:
        project = self._projects.by_id.get(pool.project_id)
        return pool.kind == "POOL" and project is not None and bool(project.output_spec)

    def _index(self, pool: Pool) -> PoolWork:
        work = self._work.get(pool.id)
        if work is None:
            work = self._work[pool.id] = PoolWork(pool.id)
            tasks, suites = self._units_of(pool.id)
            work.add(tasks, suites=False)
            work.add(suites, suites=True)
        return work

    def wake(self) -> None:
        """Let every idle worker look for work again (a ban was lifted or ended, a skill changed)."""
        self._wake()

    def _wake(self) -> None:
        if not self._open:
            return
        for worker in self._workers:
            if not worker.busy and not worker.retired:
                worker.busy = True  # until the wake-up event has looked for work
                self._timeline.after_sim(self._rng.uniform(0.0, 2.0), self._waker(worker))

    def _waker(self, worker: Worker) -> Callable[[], None]:
        return lambda: self._next(worker)

    def _candidates(self) -> list[Pool]:
        pools = []
        for pool_id in list(self._open):
            pool = self._pools.get(pool_id)
            if pool is None or pool.status != "OPEN":
                del self._open[pool_id]
            else:
                pools.append(pool)
        pools.sort(key=lambda p: (-int(p.setting("priority", 0)), id_number(p.id), p.id))
        return pools

    def affordable(self, pool: Pool) -> bool:
        """Whether the account can pay for one more suite of the pool, beside the suites being worked on.

        :param pool: the pool.
        :return: whether the available balance covers its reward and fee after the ACTIVE suites' price.
        """
        return self._account.can_issue(self._account.cost(_reward(pool)))

    def _next(self, worker: Worker) -> None:
        worker.busy = False
        if worker.retired:
            return
        account = self._account
        for pool in self._candidates():
            if not self.admits(worker.user_id, pool):
                continue
            cost = account.cost(_reward(pool))
            if not account.can_issue(cost):
                # only a pool with work left runs out of money; one waiting for its last suites completes
                if self._index(pool).open_count:
                    self.close_pool(pool, "NOT_ENOUGH_BALANCE")
                continue
            mixer = pool.setting("mixer_config", None)
            if not isinstance(mixer, dict):
                mixer = {"real_tasks_count": 1, "golden_tasks_count": 0}
            taken = self._index(pool).take(
                worker.index,
                worker.user_id,
                int(mixer.get("real_tasks_count", 1)),
                int(mixer.get("golden_tasks_count", 0)),
                bool(mixer.get("force_last_assignment", True)),
            )
            if taken is not None:
                worker.busy = True
                account.commit(cost)
                self._start(worker, pool, taken, cost)
                return

    def _start(self, worker: Worker, pool: Pool, taken: Taken, cost: float) -> None:
        timeline, rng = self._timeline, self._rng
        stamp = timeline.clock.stamp(timeline.c)
        if taken.suite is not None:
            suite_id = taken.suite["id"]
            tasks = [{**task, "pool_id": pool.id} for task in taken.suite["tasks"]]
        else:
            suite_id = self._new_id(pool.prefix, timeline.c)
            tasks = [dict(task) for task in taken.units]
            if pool.setting("mixer_config", {}).get("shuffle_tasks_in_task_suite", True):
                rng.shuffle(tasks)
        assignment: dict[str, Any] = {
            "id": self._new_id(pool.prefix, timeline.c),
            "task_suite_id": suite_id,
            "pool_id": pool.id,
            "user_id": worker.user_id,
            "status": "ACTIVE",
            "reward": pool.setting("reward_per_assignment", 0.01),
            "tasks": tasks,
            "mixed": taken.suite is None,
            "automerged": False,
            "created": stamp,
            "owner": OWNER,
        }
        self._assignments.add(assignment)
        work = self._work[pool.id]
        work.active += 1
        limit = float(pool.setting("assignment_max_duration_seconds", 600))
        duration = (2.0 + sum(rng.uniform(3.0, 9.0) for _ in tasks)) * worker.speed
        self.work_seconds[assignment["id"]] = duration
        roll = rng.random()
        if roll < self._settings.crowd_abandon or duration > limit:
            outcome, after = "EXPIRED", limit
        elif roll < self._settings.crowd_abandon + self._settings.crowd_skip:
            outcome, after = "SKIPPED", duration / 2
        else:
            outcome, after = "SUBMITTED", duration
        self._timeline.after_sim(
            after, lambda: self._finish(worker, pool, assignment, taken.units, outcome, cost)
        )

    def _finish(
        self,
        worker: Worker,
        pool: Pool,
        assignment: dict[str, Any],
        units: list[dict[str, Any]],
        outcome: str,
        cost: float,
    ) -> None:
        timeline = self._timeline
        stamp = timeline.clock.stamp(timeline.c)
        work = self._work[pool.id]
        work.active -= 1
        self._account.uncommit(cost)
        if outcome == "SUBMITTED":
            self._submit(worker, pool, assignment, stamp)
        else:
            self._assignments.move(assignment, outcome, stamp)
            work.give_back(units)
            if outcome == "SKIPPED":
                self.on_skipped(pool, assignment)
            if pool.id in self._open:
                self._wake()
        self._check_complete(pool)
        self._next(worker)

    def _submit(self, worker: Worker, pool: Pool, assignment: dict[str, Any], stamp: str) -> None:
        project = self._projects.by_id.get(pool.project_id)
        spec = project.output_spec if project is not None else {}
        rng = self._rng
        if worker.spammer:
            solutions = [{"output_values": random_answer(spec, rng)} for _ in assignment["tasks"]]
        else:
            truth_field, accuracy = self._settings.truth_field, worker.accuracy
            solutions = [
                {"output_values": answer(spec, task, truth_field, accuracy, rng)}
                for task in assignment["tasks"]
            ]
        self._assignments.move(assignment, "SUBMITTED", stamp, solutions=solutions)
        reward = float(assignment["reward"])
        if pool.setting("auto_accept_solutions", True):
            self._account.pay_reward(pool.id, reward)
            self._assignments.move(assignment, "ACCEPTED", stamp)
        else:
            self._account.reserve(assignment["id"], pool.id, reward)
            days = float(pool.setting("auto_accept_period_day", 21))
            self._timeline.after_sim(days * _DAY, lambda: self._auto_accept(assignment))
        # after the money: a rule that rejects or accepts this suite goes through the normal review
        self.on_submitted(pool, assignment)
        self.work_seconds.pop(assignment["id"], None)

    def _auto_accept(self, assignment: dict[str, Any]) -> None:
        if assignment["status"] == "SUBMITTED":
            self._account.accept(assignment["id"], assignment["pool_id"], float(assignment["reward"]))
            self._assignments.move(assignment, "ACCEPTED", self._timeline.clock.stamp(self._timeline.c))

    # ------------------------------------------------------------------ completion

    def _check_complete(self, pool: Pool) -> None:
        work = self._work.get(pool.id)
        if (
            work is None
            or pool.status != "OPEN"
            or pool.id in self._closing
            or not work.has_units
            or work.open_count
            or work.active
        ):
            return
        gen = pool.gen
        delay = float(pool.setting("auto_close_after_complete_delay_seconds", 0))

        def close() -> None:
            self._closing.pop(pool.id, None)
            if pool.gen != gen:
                self._check_complete(pool)  # closed and reopened meanwhile: the delay starts again
            elif pool.status == "OPEN" and not work.open_count and not work.active:
                self.close_pool(pool, "COMPLETED")

        self._closing[pool.id] = self._timeline.after_sim(delay, close)


def _reward(pool: Pool) -> float:
    return float(pool.setting("reward_per_assignment", 0.01))
