"""The emulator's config: what the CLI sets, and the part ``POST /_emulator/config`` may change at runtime."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from toloka_emulator.wire import ApiError

__all__ = ["ROUTE_PATTERN", "RUNTIME_FIELDS", "EmulatorConfig"]


@dataclass
class EmulatorConfig:
    """Everything the CLI can set; the fields in :data:`RUNTIME_FIELDS` can also change at runtime.

    The crowd's fields: ``crowd`` workers (0 = none), their mean ``crowd_accuracy`` and its spread across workers
    ``crowd_accuracy_spread`` (a standard deviation), the fraction ``crowd_spammers`` of them who answer at random
    three times faster (see :mod:`profiles`), the probabilities that a worker
    skips (``crowd_skip``) or abandons (``crowd_abandon``) a suite, the input field holding the truth
    (``truth_field``), ``time_scale`` simulated seconds per real second, and ``for_update_seconds``, the
    simulated delay after which a pool closed for update reopens.

    The labels part: ``assignments_max_limit`` and ``aggregation_max_limit`` (where ``limit`` is clamped on
    ``GET /assignments`` and ``GET /aggregated-solutions/{op}``), ``reject_needs_comment`` (a REJECTED review
    without a non-empty ``public_comment`` is a 400), ``aggregation_seconds`` (how long a ``SOLUTION.AGGREGATE``
    runs after ``pending_seconds``, on the clock) and ``aggregation_rate_limit`` (Toloka's 5/min, 30/h, 200/day on
    the aggregation POSTs).

    Faults: ``fault_429``/``fault_500``/``fault_503``/``fault_drop`` are per-request probabilities;
    ``fault_routes`` (route templates such as ``"POST /api/v1/user-bonuses"``; ``None`` = every route) and
    ``fault_limit`` (at most this many faults from when it was set; ``None`` = no cap) narrow them (see ``faults``).

    The money part (docs/toloka-api.md M10): the available ``balance`` a reset starts from (setting it at runtime
    also sets the account's available balance), and the fee, ``max(amount * fee_rate, fee_min)`` per reward and
    per bonus (the 30 % and $0.001 Toloka's guide once published).
    """

    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None
    denied_token: str | None = None
    pools_file: str | None = None
    pools_spec: dict[str, Any] | None = None
    rate: float = 100_000.0
    pending_seconds: float = 0.05
    fault_429: float = 0.0
    fault_500: float = 0.0
    fault_503: float = 0.0
    fault_drop: float = 0.0
    fault_routes: list[str] | None = None
    fault_limit: int | None = None
    retry_after: float | None = None
    latency_ms: float = 0.0
    seed: int | None = None
    log_level: str = "warning"
    sync_limit: int = 5_000
    crowd: int = 10
    crowd_accuracy: float = 0.9
    crowd_accuracy_spread: float = 0.03
    crowd_spammers: float = 0.0
    crowd_skip: float = 0.03
    crowd_abandon: float = 0.02
    truth_field: str = "truth"
    time_scale: float = 60.0
    for_update_seconds: float = 900.0
    assignments_max_limit: int = 100_000
    aggregation_max_limit: int = 100_000
    reject_needs_comment: bool = True
    aggregation_seconds: float = 1.0
    aggregation_rate_limit: bool = False
    balance: float = 1_000_000.0
    fee_rate: float = 0.3
    fee_min: float = 0.001

    def runtime(self) -> dict[str, Any]:
        """The runtime-changeable part.

        :return: field -> value, as ``GET /_emulator/config`` shows it.
        """
        return {name: getattr(self, name) for name in RUNTIME_FIELDS}

    def update(self, changes: Mapping[str, Any]) -> None:
        """Apply ``POST /_emulator/config``: all changes or, when any is bad, none.

        :param changes: field -> new value, fields from :data:`RUNTIME_FIELDS` only.
        :raises ApiError: 400 ``VALIDATION_ERROR`` on unknown names or bad values.
        """
        unknown = sorted(set(changes) - set(RUNTIME_FIELDS))
        if unknown:
            raise ApiError(400, "VALIDATION_ERROR", f"Unknown config field(s): {', '.join(unknown)}")
        checked = {name: _check_runtime_value(name, value) for name, value in changes.items()}
        for name, value in checked.items():
            setattr(self, name, value)


RUNTIME_FIELDS = (
    "fault_429",
    "fault_500",
    "fault_503",
    "fault_drop",
    "fault_routes",
    "fault_limit",
    "retry_after",
    "latency_ms",
    "rate",
    "pending_seconds",
    "token",
    "denied_token",
    "sync_limit",
    "seed",
    "crowd",
    "crowd_accuracy",
    "crowd_accuracy_spread",
    "crowd_spammers",
    "crowd_skip",
    "crowd_abandon",
    "truth_field",
    "time_scale",
    "for_update_seconds",
    "assignments_max_limit",
    "aggregation_max_limit",
    "reject_needs_comment",
    "aggregation_seconds",
    "aggregation_rate_limit",
    "balance",
    "fee_rate",
    "fee_min",
)
_BOOLEANS = {"reject_needs_comment", "aggregation_rate_limit"}
_PROBABILITIES = {
    "fault_429",
    "fault_500",
    "fault_503",
    "fault_drop",
    "crowd_accuracy",
    "crowd_accuracy_spread",
    "crowd_spammers",
    "crowd_skip",
    "crowd_abandon",
    "fee_rate",
}
_INTEGERS = {"seed", "sync_limit", "crowd", "assignments_max_limit", "aggregation_max_limit"}
_AT_LEAST_ONE = {"assignments_max_limit", "aggregation_max_limit"}


# "POST /api/v1/user-bonuses": a method, one space, a path under /api/ (a template's {id} included)
ROUTE_PATTERN = re.compile(r"[A-Z]+ /api/\S*")


def _check_fault_routes(value: Any, bad: ApiError) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(
        isinstance(r, str) and ROUTE_PATTERN.fullmatch(r) for r in value
    ):
        raise bad
    return list(value) or None


def _check_runtime_value(name: str, value: Any) -> Any:
    bad = ApiError(400, "VALIDATION_ERROR", f"Bad value for {name}: {value!r}")
    if name == "fault_routes":
        return _check_fault_routes(value, bad)
    if name == "fault_limit":
        # a count: 2.5 faults means a client bug, not 2
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise bad
        return value
    if name in ("token", "denied_token"):
        if value is not None and not isinstance(value, str):
            raise bad
        return value or None
    if name == "truth_field":
        if not isinstance(value, str) or not value:
            raise bad
        return value
    if name in _BOOLEANS:
        if not isinstance(value, bool):
            raise bad
        return value
    if name in ("seed", "retry_after") and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad
    if name in _PROBABILITIES and not 0.0 <= value <= 1.0:
        raise bad
    if name == "rate" and value <= 0:
        raise bad
    if value < 0 or (name in _AT_LEAST_ONE and value < 1):
        raise bad
    if name in _INTEGERS:
        return int(value)
    return float(value)
