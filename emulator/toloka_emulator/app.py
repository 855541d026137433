"""FastAPI app of the Toloka emulator: routes under ``/api/v1`` plus ``/_emulator`` inspection and control.

Handlers take the raw :class:`Request` and return a prebuilt JSON :class:`Response`: FastAPI's per-item
validation would be far too slow for 10k-item bodies, and Toloka's error shapes are not FastAPI's.

Routes: tasks, task suites, operations (and logs), requester (its balance); projects, pools, trainings and their
actions, assignments (search, review), aggregated solutions, user bonuses, skills, user skills,
user restrictions, and ``POST /api/staging/analytics-2``
(pool metrics, outside ``/api/v1`` as in Toloka, behind the same gate); see ``state`` for the modules behind them;
``/_emulator/{health,stats,reset,config,advance,fill}``; and for people (the provider's extra links), HTML pages
at the paths of Toloka's requester UI: ``/requester/project/{project}/pool/{pool}``, ``/requester/operation/{id}``.
``POST /_emulator/advance?seconds=S`` moves the clock and the simulated time forward by S seconds, handling
everything due on the way (operations, the crowd's work, pool timers, ``will_expire``), and returns the time.

A pure-ASGI gate in front of the ``/api`` routes does what every Toloka request goes through, in this order:
count the request by route template, optional latency, injected 429/503 (before any work), auth (401/403),
unknown route (404/405), 415 for bodies that are not JSON, the handler itself, then injected 500 or a dropped
connection (after the work is done, to exercise clients' idempotency). Which requests may get a fault is
``faults``' decision (``fault_routes`` scopes them to route templates, ``fault_limit`` caps their number).

A "drop" sends the real status line and headers but with a ``Content-Length`` larger than the body, writes half
of the body and returns without completing the response, so uvicorn closes the connection. ``requests``
raises ``ChunkedEncodingError`` (urllib3 ``IncompleteRead``) and httpx ``RemoteProtocolError``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse
from starlette.routing import BaseRoute, Match

from toloka_emulator import pages
from toloka_emulator.pool_api import POOLS, TRAININGS, Container
from toloka_emulator.state import TASK_SUITES, TASKS, ApiError, EmulatorConfig, EmulatorState, Kind

__all__ = ["create_app"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_DROP_LOG_MESSAGE = "ASGI callable returned without completing response."


def _dumps(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def json_response(data: Any, status: int = 200) -> Response:
    """A compact JSON response.

    :param data: the JSON-able body.
    :param status: the HTTP status.
    :return: the response.
    """
    return Response(_dumps(data), status_code=status, media_type="application/json")


def error_response(exc: ApiError) -> Response:
    """The response Toloka sends for an error: its status, JSON body and extra headers.

    :param exc: the error.
    :return: the response.
    """
    return Response(
        _dumps(exc.body()), status_code=exc.status, media_type="application/json", headers=exc.headers
    )


class _HideDropNoise(logging.Filter):
    """Drops are deliberate; uvicorn's complaint about the unfinished response is noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != _DROP_LOG_MESSAGE


class _ApiGate:
    """Counting, latency, faults, auth and content-type checks in front of the ``/api`` routes."""

    def __init__(self, app: ASGIApp, state: EmulatorState, routes: Callable[[], list[BaseRoute]]) -> None:
        self.app = app
        self.state = state
        self._routes = routes
        self._api_routes: list[BaseRoute] | None = None

    def _match(self, scope: Scope) -> tuple[str, Match]:
        if self._api_routes is None:
            self._api_routes = [r for r in self._routes() if getattr(r, "path", "").startswith("/api/")]
        method = scope["method"]
        partial = None
        for route in self._api_routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return f"{method} {route.path}", Match.FULL  # type: ignore[attr-defined]
            if match is Match.PARTIAL and partial is None:
                partial = route
        if partial is not None:
            return f"{method} {partial.path}", Match.PARTIAL  # type: ignore[attr-defined]
        return f"{method} {scope['path']}", Match.NONE

    async def _send_error(self, send: Send, exc: ApiError) -> None:
        self.state.responses[str(exc.status)] += 1
        body = _dumps(exc.body())
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        headers += [(k.lower().encode(), v.encode()) for k, v in exc.headers.items()]
        await send({"type": "http.response.start", "status": exc.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        state, config = self.state, self.state.config
        state.advance()
        key, match = self._match(scope)
        state.requests[key] += 1
        if config.latency_ms > 0:
            await asyncio.sleep(config.latency_ms / 1000)
        rng, faults = state.rng, state.faults
        if faults.roll("429", key, rng):
            headers = {}
            if config.retry_after is not None:
                ra = config.retry_after
                headers["Retry-After"] = str(int(ra)) if float(ra).is_integer() else str(ra)
            exc = ApiError(429, "TOO_MANY_REQUESTS", "Too many requests", {"interval": "MIN"}, headers)
            await self._send_error(send, exc)
            return
        if faults.roll("503", key, rng):
            exc = ApiError(503, "REMOTE_SERVICE_UNAVAILABLE", "Remote service is temporarily unavailable")
            await self._send_error(send, exc)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        problem = self._check_auth(headers.get("authorization"))
        if problem is None and match is Match.NONE:
            problem = ApiError(404, "NOT_FOUND", f"No such API route: {scope['method']} {scope['path']}")
        if problem is None and match is Match.PARTIAL:
            problem = ApiError(405, "METHOD_NOT_ALLOWED", f"Method {scope['method']} is not allowed here")
        if (
            problem is None
            and scope["method"] in _BODY_METHODS
            and _has_body(headers)
            and not headers.get("content-type", "").lower().startswith("application/json")
        ):
            problem = ApiError(415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/json")
        if problem is not None:
            await self._send_error(send, problem)
            return
        fail = faults.roll("500", key, rng)
        drop = not fail and faults.roll("drop", key, rng)
        if not (fail or drop):
            await self.app(scope, receive, self._counting(send))
            return
        captured: list[Message] = []

        async def capture(message: Message) -> None:
            captured.append(message)

        await self.app(scope, receive, capture)  # the work is done; the client just doesn't learn about it
        if fail:
            await self._send_error(send, ApiError(500, "INTERNAL_ERROR", "Internal error (injected)"))
            return
        await self._drop(send, captured)

    def _counting(self, send: Send) -> Send:
        async def counting(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.state.responses[str(message["status"])] += 1
            await send(message)

        return counting

    @staticmethod
    async def _drop(send: Send, captured: list[Message]) -> None:
        start = next((m for m in captured if m["type"] == "http.response.start"), None)
        body = b"".join(m.get("body", b"") for m in captured if m["type"] == "http.response.body")
        status = 200 if start is None or start["status"] == 204 else start["status"]
        headers = [(k, v) for k, v in (start or {}).get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body) + 1024).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
        # returning now leaves the response unfinished: uvicorn closes the connection mid-body

    def _check_auth(self, header: str | None) -> ApiError | None:
        config = self.state.config
        if not header:
            return ApiError(401, "AUTHENTICATION_ERROR", "Authorization header is missing")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() not in ("oauth", "apikey") or not token:
            return ApiError(
                401, "AUTHENTICATION_ERROR", "Use 'Authorization: OAuth <token>' or 'ApiKey <key>'"
            )
        if config.denied_token is not None and token == config.denied_token:
            return ApiError(403, "ACCESS_DENIED", "Access denied")
        if config.token is not None and token != config.token:
            return ApiError(401, "AUTHENTICATION_ERROR", "Invalid token")
        return None


def _has_body(headers: dict[str, str]) -> bool:
    if "transfer-encoding" in headers:
        return True
    try:
        return int(headers.get("content-length", "0")) > 0
    except ValueError:
        return True


async def _body(request: Request) -> Any:
    """The parsed JSON body of a create or replace request."""
    raw = await request.body()
    if not raw.strip():
        raise ApiError(400, "VALIDATION_ERROR", "Request body is required")
    try:
        return json.loads(raw)
    except ValueError:
        raise ApiError(400, "VALIDATION_ERROR", "Request body is not valid JSON") from None


def _op_response(op: dict[str, Any] | None) -> Response:
    """202 with the operation an action started, or 204 when there was nothing to do."""
    return Response(status_code=204) if op is None else json_response(op, 202)


def _add_lifecycle_routes(app: FastAPI, state: EmulatorState) -> None:
    """Projects, pools, trainings, assignments and aggregation."""
    Handler = Callable[[Request], Awaitable[Response]]

    async def create_project(request: Request) -> Response:
        return json_response(state.projects.create(await _body(request)), 201)

    async def find_projects(request: Request) -> Response:
        return json_response(state.projects.find(request.query_params))

    async def get_project(request: Request) -> Response:
        return json_response(state.projects.get(request.path_params["id"]).to_json())

    async def put_project(request: Request) -> Response:
        return json_response(state.projects.replace(request.path_params["id"], await _body(request)))

    async def archive_project(request: Request) -> Response:
        return _op_response(state.projects.archive(request.path_params["id"]))

    routes: list[tuple[str, str, Handler]] = [
        ("/api/v1/projects", "POST", create_project),
        ("/api/v1/projects", "GET", find_projects),
        ("/api/v1/projects/{id}", "GET", get_project),
        ("/api/v1/projects/{id}", "PUT", put_project),
        ("/api/v1/projects/{id}/archive", "POST", archive_project),
    ]

    def container_routes(box: Container, base: str) -> None:
        async def create(request: Request) -> Response:
            return json_response(state.pool_api.create(box, await _body(request)), 201)

        async def find(request: Request) -> Response:
            return json_response(state.pool_api.find(box, request.query_params))

        async def get(request: Request) -> Response:
            return json_response(state.pool_api.get(box, request.path_params["id"]).to_json())

        async def put(request: Request) -> Response:
            return json_response(state.pool_api.replace(box, request.path_params["id"], await _body(request)))

        def action(name: str) -> Handler:
            async def act(request: Request) -> Response:
                return _op_response(state.pool_api.act(box, request.path_params["id"], name))

            return act

        routes.extend(
            [
                (base, "POST", create),
                (base, "GET", find),
                (base + "/{id}", "GET", get),
                (base + "/{id}", "PUT", put),
            ]
        )
        for name in ("open", "close", "close-for-update", "archive", "clone"):
            routes.append((f"{base}/{{id}}/{name}", "POST", action(name)))

    container_routes(POOLS, "/api/v1/pools")
    container_routes(TRAININGS, "/api/v1/trainings")

    async def patch_pool(request: Request) -> Response:
        return json_response(state.pool_api.patch(request.path_params["id"], await _body(request)))

    async def find_assignments(request: Request) -> Response:
        return json_response(state.assignments.find(request.query_params))

    async def get_assignment(request: Request) -> Response:
        return json_response(state.assignments.get(request.path_params["id"]))

    async def patch_assignment(request: Request) -> Response:
        return json_response(state.review.patch(request.path_params["id"], await _body(request)))

    async def aggregate_by_pool(request: Request) -> Response:
        return json_response(state.aggregations.by_pool(await _body(request)), 202)

    async def aggregate_by_task(request: Request) -> Response:
        return json_response(state.aggregations.by_task(await _body(request)))

    async def aggregated_solutions(request: Request) -> Response:
        return json_response(state.aggregations.results(request.path_params["id"], request.query_params))

    routes += [
        ("/api/v1/pools/{id}", "PATCH", patch_pool),
        ("/api/v1/assignments", "GET", find_assignments),
        ("/api/v1/assignments/{id}", "GET", get_assignment),
        ("/api/v1/assignments/{id}", "PATCH", patch_assignment),
        ("/api/v1/aggregated-solutions/aggregate-by-pool", "POST", aggregate_by_pool),
        ("/api/v1/aggregated-solutions/aggregate-by-task", "POST", aggregate_by_task),
        ("/api/v1/aggregated-solutions/{id}", "GET", aggregated_solutions),
    ]
    for path, method, handler in routes:
        app.add_api_route(path, handler, methods=[method], include_in_schema=False)


def _add_money_routes(app: FastAPI, state: EmulatorState) -> None:
    """The requester (its available balance) and pool analytics, which Toloka serves outside ``/api/v1``."""

    async def requester(request: Request) -> Response:
        return json_response(
            {
                "id": "emulator-requester",
                "balance": round(state.account.balance, 6),
                "public_name": {"EN": "Emulator requester"},
                "company": {"id": "1", "superintendent_id": "emulator-requester"},
            }
        )

    async def analytics(request: Request) -> Response:
        return json_response(state.analytics.request(await _body(request)))

    app.add_api_route("/api/v1/requester", requester, methods=["GET"], include_in_schema=False)
    app.add_api_route("/api/staging/analytics-2", analytics, methods=["POST"], include_in_schema=False)


def _add_bonus_routes(app: FastAPI, state: EmulatorState) -> None:
    """``/user-bonuses``: create (sync or async), search, get one (module ``bonuses``)."""

    async def create(request: Request) -> Response:
        status, data = state.bonuses.create(await request.body(), request.query_params)
        return json_response(data, status)

    async def find(request: Request) -> Response:
        return json_response(state.bonuses.find(request.query_params))

    async def get(request: Request) -> Response:
        return json_response(state.bonuses.get(request.path_params["id"]))

    app.add_api_route("/api/v1/user-bonuses", create, methods=["POST"], include_in_schema=False)
    app.add_api_route("/api/v1/user-bonuses", find, methods=["GET"], include_in_schema=False)
    app.add_api_route("/api/v1/user-bonuses/{id}", get, methods=["GET"], include_in_schema=False)


def _add_crowd_access_routes(app: FastAPI, state: EmulatorState) -> None:
    """``/skills``, ``/user-skills`` and ``/user-restrictions`` (modules ``skills`` and ``restrictions``)."""

    async def create_skill(request: Request) -> Response:
        return json_response(state.skills.create(await _body(request)), 201)

    async def put_skill(request: Request) -> Response:
        return json_response(state.skills.replace(request.path_params["id"], await _body(request)))

    async def put_user_skill(request: Request) -> Response:
        status, data = state.user_skills.put(await _body(request))
        return json_response(data, status)

    async def put_restriction(request: Request) -> Response:
        return json_response(state.restrictions.put(await _body(request)))

    def reads(base: str, store: Any) -> None:
        async def find(request: Request) -> Response:
            return json_response(store().find(request.query_params))

        async def get(request: Request) -> Response:
            return json_response(store().get(request.path_params["id"]))

        app.add_api_route(base, find, methods=["GET"], include_in_schema=False)
        app.add_api_route(base + "/{id}", get, methods=["GET"], include_in_schema=False)

    def deletes(base: str, store: Any) -> None:
        async def delete(request: Request) -> Response:
            store().delete(request.path_params["id"])
            return Response(status_code=204)

        app.add_api_route(base + "/{id}", delete, methods=["DELETE"], include_in_schema=False)

    # the stores are looked up per request: a reset replaces them
    reads("/api/v1/skills", lambda: state.skills)
    reads("/api/v1/user-skills", lambda: state.user_skills)
    reads("/api/v1/user-restrictions", lambda: state.restrictions)
    deletes("/api/v1/user-skills", lambda: state.user_skills)
    deletes("/api/v1/user-restrictions", lambda: state.restrictions)
    app.add_api_route("/api/v1/skills", create_skill, methods=["POST"], include_in_schema=False)
    app.add_api_route("/api/v1/skills/{id}", put_skill, methods=["PUT"], include_in_schema=False)
    app.add_api_route("/api/v1/user-skills", put_user_skill, methods=["PUT"], include_in_schema=False)
    app.add_api_route("/api/v1/user-restrictions", put_restriction, methods=["PUT"], include_in_schema=False)


def create_app(config: EmulatorConfig | None = None) -> FastAPI:
    """Build the emulator app; its state lives in ``app.state.emulator`` (an :class:`EmulatorState`).

    :param config: the config (default: all defaults).
    :return: the app.
    """
    config = config or EmulatorConfig()
    state = EmulatorState(config)
    app = FastAPI(title="Toloka emulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.emulator = state
    uvicorn_error = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _HideDropNoise) for f in uvicorn_error.filters):
        uvicorn_error.addFilter(_HideDropNoise())

    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return error_response(exc)

    async def on_crash(request: Request, exc: Exception) -> Response:
        return error_response(ApiError(500, "INTERNAL_ERROR", f"Emulator bug: {exc!r}"))

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(Exception, on_crash)
    app.add_middleware(_ApiGate, state=state, routes=lambda: app.router.routes)

    # ------------------------------------------------------------------ creation

    def creator(kind: Kind) -> Callable[[Request], Awaitable[Response]]:
        async def create(request: Request) -> Response:
            body = await request.body()
            status, data = state.create(kind, body, request.query_params)
            return json_response(data, status)

        return create

    def searcher(kind: Kind) -> Callable[[Request], Awaitable[Response]]:
        async def search(request: Request) -> Response:
            return json_response(state.search(kind, request.query_params))

        return search

    def getter(kind: Kind) -> Callable[[Request], Awaitable[Response]]:
        async def get(request: Request) -> Response:
            return json_response(state.get_object(kind, request.path_params["id"]))

        return get

    def overlap_setter(suite: bool) -> Callable[[Request], Awaitable[Response]]:
        async def set_overlap_or_min(request: Request) -> Response:
            body, query = await _body(request), request.query_params
            return json_response(state.overlaps.set_or_min(suite, request.path_params["id"], body, query))

        return set_overlap_or_min

    for kind in (TASKS, TASK_SUITES):
        app.add_api_route(kind.path, creator(kind), methods=["POST"], include_in_schema=False)
        app.add_api_route(kind.path, searcher(kind), methods=["GET"], include_in_schema=False)
        app.add_api_route(kind.path + "/{id}", getter(kind), methods=["GET"], include_in_schema=False)
        path = kind.path + "/{id}/set-overlap-or-min"
        app.add_api_route(
            path, overlap_setter(kind is TASK_SUITES), methods=["PATCH"], include_in_schema=False
        )

    # ------------------------------------------------------------------ operations, pools, requester

    @app.get("/api/v1/operations", include_in_schema=False)
    async def find_operations(request: Request) -> Response:
        return json_response(state.find_operations(request.query_params))

    @app.get("/api/v1/operations/{id}", include_in_schema=False)
    async def get_operation(request: Request) -> Response:
        return json_response(state.get_operation(request.path_params["id"]))

    @app.get("/api/v1/operations/{id}/log", include_in_schema=False)
    async def get_operation_log(request: Request) -> Response:
        return Response(state.operation_log_json(request.path_params["id"]), media_type="application/json")

    _add_lifecycle_routes(app, state)
    _add_bonus_routes(app, state)
    _add_crowd_access_routes(app, state)
    _add_money_routes(app, state)

    # ------------------------------------------------------------------ pages for people (no auth, no faults)

    @app.get("/requester/project/{project_id}/pool/{pool_id}", include_in_schema=False)
    async def pool_page(project_id: str, pool_id: str) -> Response:
        state.advance()
        return HTMLResponse(pages.pool_page(state, project_id, pool_id))

    @app.get("/requester/operation/{id}", include_in_schema=False)
    async def operation_page(id: str) -> Response:
        state.advance()
        return HTMLResponse(pages.operation_page(state, id))

    # ------------------------------------------------------------------ inspection and control (no auth, no faults)

    @app.get("/_emulator/health", include_in_schema=False)
    async def health() -> Response:
        return json_response({"status": "ok"})

    @app.get("/_emulator/stats", include_in_schema=False)
    async def stats() -> Response:
        return json_response(state.stats())

    @app.post("/_emulator/reset", include_in_schema=False)
    async def reset() -> Response:
        state.reset()
        return json_response({"status": "reset"})

    @app.get("/_emulator/config", include_in_schema=False)
    async def get_config() -> Response:
        return json_response(config.runtime())

    @app.post("/_emulator/advance", include_in_schema=False)
    async def advance(request: Request) -> Response:
        raw = request.query_params.get("seconds", "")
        try:
            seconds = float(raw)
        except ValueError:
            raise ApiError(400, "VALIDATION_ERROR", "Query parameter seconds must be a number") from None
        return json_response(state.advance_time(seconds))

    @app.post("/_emulator/fill", include_in_schema=False)
    async def fill(request: Request) -> Response:
        state.advance()
        return json_response(state.filler.fill(request.query_params))

    @app.post("/_emulator/config", include_in_schema=False)
    async def set_config(request: Request) -> Response:
        try:
            changes = json.loads(await request.body() or b"{}")
        except ValueError:
            raise ApiError(400, "VALIDATION_ERROR", "Body must be a JSON object") from None
        if not isinstance(changes, dict):
            raise ApiError(400, "VALIDATION_ERROR", "Body must be a JSON object")
        return json_response(state.configure(changes))

    return app
