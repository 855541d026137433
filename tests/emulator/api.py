"""Just enough of a Toloka client for the emulator's own tests: real HTTP with requests, no provider code."""

from __future__ import annotations

import time
from typing import Any

import requests


class Api:
    def __init__(self, base: str, authorization: str = "OAuth test-token") -> None:
        self.base = base
        self.session = requests.Session()
        self.session.headers["Authorization"] = authorization

    def post(self, path: str, body: Any = None, **params: Any) -> requests.Response:
        query = {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in params.items()}
        return self.session.post(f"{self.base}/api/v1{path}", json=body, params=query)

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.session.get(f"{self.base}/api/v1{path}", params=params)

    def get_json(self, path: str, **params: Any) -> Any:
        resp = self.get(path, **params)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def wait(self, op_id: str, timeout: float = 10) -> dict[str, Any]:
        """Poll an operation until it is terminal (bounded)."""
        return self.until(op_id, lambda op: op["status"] in ("SUCCESS", "FAIL"), timeout)

    def until(self, op_id: str, done: Any, timeout: float = 10) -> dict[str, Any]:
        """Poll an operation until ``done(op)`` holds (bounded): a wait on its state, not on a clock."""
        deadline = time.monotonic() + timeout
        while True:
            op: dict[str, Any] = self.get(f"/operations/{op_id}").json()
            if done(op):
                return op
            if time.monotonic() > deadline:
                raise AssertionError(f"operation {op_id} never reached the awaited state in {timeout}s: {op}")
            time.sleep(0.01)

    def errors(self, item: dict[str, Any], path: str = "/tasks", **params: Any) -> dict[str, Any]:
        """The field errors of one invalid item (sync single-object upload)."""
        resp = self.post(path, item, **params)
        assert resp.status_code == 400, resp.text
        assert resp.json()["code"] == "VALIDATION_ERROR"
        return resp.json()["payload"]  # type: ignore[no-any-return]

    def codes(self, item: dict[str, Any], path: str = "/tasks", **params: Any) -> dict[str, str]:
        return {field: err["code"] for field, err in self.errors(item, path, **params).items()}
