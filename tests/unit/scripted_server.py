"""A loopback HTTP server that answers from a script, for tests that need exact response sequences.

Real HTTP on 127.0.0.1 (no mocking of the client stack); used where the emulator's random fault injection
cannot give a deterministic sequence, e.g. "429 with Retry-After, then 200".
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import httpx


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # sent as is instead of the JSON of ``body``


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class ScriptedServer:
    """Routes ``METHOD /path`` (query stripped) to queued replies; the last reply of a route repeats."""

    def __init__(self) -> None:
        self.routes: dict[str, deque[Reply]] = defaultdict(deque)
        self.requests: list[Seen] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path
                outer.requests.append(Seen(self.command, path, dict(self.headers), body))
                route = f"{self.command} {path.split('?')[0]}"
                queue = outer.routes.get(route)
                reply = (queue.popleft() if len(queue) > 1 else queue[0]) if queue else _default(route)
                payload = (
                    reply.raw
                    if reply.raw is not None
                    else b""
                    if reply.body is None
                    else json.dumps(reply.body).encode()
                )
                self.send_response(reply.status)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_PUT = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def script(self, route: str, *replies: Reply) -> None:
        self.routes[route] = deque(replies)

    def count(self, route: str) -> int:
        method, path = route.split(" ", 1)
        return sum(1 for r in self.requests if r.method == method and r.path.split("?")[0] == path)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _default(route: str) -> Reply:
    """Unscripted routes: any pool is in a project that declares no input spec (the upload's pool lookup), else 404."""
    if route.startswith("GET /api/v1/pools/"):
        pool_id = route.rsplit("/", 1)[1]
        return Reply(body={"id": pool_id, "project_id": "0", "private_name": "scripted", "status": "OPEN"})
    if route == "GET /api/v1/projects/0":
        return Reply(body={"id": "0", "public_name": "scripted", "task_spec": {}})
    return Reply(404, {"code": "NOT_FOUND"})


TOKEN = "y0_scripted-secret-token"  # the connection's token in tests against a ScriptedServer


def operation_json(op_id: str, status: str, progress: int = 0, details: Any = None) -> dict[str, Any]:
    """An operation as Toloka returns it."""
    body: dict[str, Any] = {
        "id": op_id,
        "type": "TASK.BATCH_CREATE",
        "status": status,
        "submitted": "2026-11-23T10:00:00.000",
        "progress": progress,
    }
    if details is not None:
        body["details"] = details
    return body


def operation_route(op_id: str) -> str:
    return f"GET /api/v1/operations/{op_id}"


class TrackingClient(httpx.AsyncClient):
    """Records every async client the hook opens, to prove each one is closed (patch it over httpx's)."""

    opened: ClassVar[list[TrackingClient]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        TrackingClient.opened.append(self)
