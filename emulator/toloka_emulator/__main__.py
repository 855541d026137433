"""``python -m toloka_emulator``: serve the Toloka emulator with uvicorn (one worker, no access log).

Prints ``Toloka emulator listening on http://HOST:PORT`` once it accepts connections; ``--port 0`` picks a free
port and the line tells which one.
"""

from __future__ import annotations

import argparse
import gc
import socket
import sys
from collections.abc import Sequence

import uvicorn

from toloka_emulator.app import create_app
from toloka_emulator.config import ROUTE_PATTERN
from toloka_emulator.state import EmulatorConfig, load_pools_spec


def _probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a probability in [0, 1]")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} must be >= 0")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be > 0")
    return value


def parse_args(argv: Sequence[str] | None = None) -> EmulatorConfig:
    """CLI options -> :class:`EmulatorConfig` (the pools file is read and checked here, to fail fast).

    :param argv: the CLI arguments (default: ``sys.argv[1:]``).
    :return: the config.
    """
    p = argparse.ArgumentParser(prog="python -m toloka_emulator", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    p.add_argument("--token", help="accept only this token (default: any non-empty token)")
    p.add_argument("--denied-token", help="this token gets 403 ACCESS_DENIED on every /api request")
    p.add_argument("--pools", dest="pools_file", help="JSON pools file (see toloka_emulator.pools)")
    p.add_argument(
        "--rate", type=_positive, default=100_000.0, help="items per second an operation processes"
    )
    p.add_argument(
        "--pending-seconds", type=_non_negative, default=0.05, help="time an operation stays PENDING"
    )
    p.add_argument("--fault-429", type=_probability, default=0.0, help="probability of 429 before processing")
    p.add_argument("--fault-500", type=_probability, default=0.0, help="probability of 500 after processing")
    p.add_argument("--fault-503", type=_probability, default=0.0, help="probability of 503 before processing")
    p.add_argument("--fault-drop", type=_probability, default=0.0, help="probability of a dropped response")
    p.add_argument(
        "--fault-route",
        dest="fault_routes",
        action="append",
        metavar="ROUTE",
        help='inject faults only on this route template, e.g. "POST /api/v1/user-bonuses" (repeatable; '
        "default: every route)",
    )
    p.add_argument(
        "--fault-limit", type=int, help="inject at most this many faults in all (default: no limit)"
    )
    p.add_argument("--retry-after", type=_non_negative, help="Retry-After seconds sent with injected 429s")
    p.add_argument("--latency-ms", type=_non_negative, default=0.0, help="delay added to every /api request")
    p.add_argument("--seed", type=int, help="seed of the fault RNG and of the crowd (default: random)")
    p.add_argument("--crowd", type=int, default=10, help="simulated Tolokers (0: no crowd)")
    p.add_argument(
        "--crowd-accuracy", type=_probability, default=0.9, help="probability that a worker answers the truth"
    )
    p.add_argument(
        "--crowd-accuracy-spread",
        type=_probability,
        default=0.03,
        help="standard deviation of the workers' accuracies around --crowd-accuracy (a Beta distribution)",
    )
    p.add_argument(
        "--crowd-spammers",
        type=_probability,
        default=0.0,
        metavar="FRACTION",
        help="fraction of the workers who answer uniformly at random, about three times faster",
    )
    p.add_argument(
        "--crowd-skip", type=_probability, default=0.03, help="probability that a worker skips a suite"
    )
    p.add_argument(
        "--crowd-abandon", type=_probability, default=0.02, help="probability that a suite is left to expire"
    )
    p.add_argument("--truth-field", default="truth", help="input field that holds the true answer")
    p.add_argument(
        "--time-scale",
        type=_non_negative,
        default=60.0,
        help="simulated seconds per real second (0: the crowd moves only with /_emulator/advance)",
    )
    p.add_argument(
        "--for-update-seconds",
        type=_non_negative,
        default=900.0,
        help="simulated seconds after which a pool closed for update reopens",
    )
    p.add_argument(
        "--assignments-max-limit", type=int, default=100_000, help="GET /assignments clamps limit to this"
    )
    p.add_argument(
        "--aggregation-max-limit",
        type=int,
        default=100_000,
        help="GET /aggregated-solutions/{op} clamps limit to this",
    )
    p.add_argument(
        "--reject-without-comment",
        dest="reject_needs_comment",
        action="store_false",
        help="accept a REJECTED review without public_comment (default: 400 VALIDATION_ERROR)",
    )
    p.add_argument(
        "--aggregation-seconds",
        type=_non_negative,
        default=1.0,
        help="how long a SOLUTION.AGGREGATE operation runs (after --pending-seconds)",
    )
    p.add_argument(
        "--aggregation-rate-limit",
        action="store_true",
        help="limit aggregation requests to 5/min, 30/h, 200/day (clock time): 429 TOO_MANY_REQUESTS",
    )
    p.add_argument(
        "--balance",
        type=_non_negative,
        default=1_000_000.0,
        metavar="AMOUNT",
        help="the requester's available balance in USD, restored by /_emulator/reset",
    )
    p.add_argument(
        "--fee-rate",
        type=_probability,
        default=0.3,
        help="Toloka's fee as a fraction of every reward and bonus (historically 0.3)",
    )
    p.add_argument(
        "--fee-min",
        type=_non_negative,
        default=0.001,
        help="the smallest fee per reward or bonus in USD (historically 0.001)",
    )
    p.add_argument(
        "--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"]
    )
    args = p.parse_args(argv)
    if args.crowd < 0:
        p.error("--crowd must be >= 0")
    if args.fault_limit is not None and args.fault_limit < 0:
        p.error("--fault-limit must be >= 0")
    bad_routes = [r for r in args.fault_routes or () if not ROUTE_PATTERN.fullmatch(r)]
    if bad_routes:
        p.error(f"--fault-route takes 'METHOD /api/...', not {bad_routes[0]!r}")
    if args.assignments_max_limit < 1 or args.aggregation_max_limit < 1:
        p.error("--assignments-max-limit and --aggregation-max-limit must be >= 1")
    config = EmulatorConfig(**vars(args))
    if config.pools_file:
        try:
            config.pools_spec = load_pools_spec(config.pools_file)
        except ValueError as exc:
            p.error(str(exc))
    return config


class _Server(uvicorn.Server):
    """Announces readiness on stdout once uvicorn has started serving."""

    def __init__(self, config: uvicorn.Config, url: str) -> None:
        super().__init__(config)
        self._url = url

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if not self.should_exit:
            print(f"Toloka emulator listening on {self._url}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the emulator until interrupted.

    :param argv: the CLI arguments (default: ``sys.argv[1:]``).
    :return: the exit code: 0, or 1 when the address cannot be bound.
    """
    config = parse_args(argv)
    # The store holds ~10 GC-tracked containers per task, and a 10k-item upload allocates ~100k more: with the
    # default thresholds the collector runs hundreds of times per batch and doubles the emulator's CPU time.
    gc.set_threshold(50_000, 20, 100)
    app = create_app(config)
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((config.host, config.port))
    except OSError as exc:
        print(f"Toloka emulator cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr)
        return 1
    port = sock.getsockname()[1]
    config.port = port
    host = f"[{config.host}]" if family == socket.AF_INET6 else config.host
    uv_config = uvicorn.Config(
        app, workers=1, access_log=False, log_level=config.log_level, lifespan="off", timeout_keep_alive=30
    )
    _Server(uv_config, f"http://{host}:{port}").run(sockets=[sock])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
