"""The Toloka hook: connection, auth, batching, idempotent submission, retries, error mapping and results.

Workers talk to Toloka with ``requests`` (a pooled session shared by a few upload threads); the triggerer
uses the ``a*`` twins over ``httpx.AsyncClient``. Both go through the same request building, retry policy
and error mapping, so the wire format lives in one place (:mod:`airflow_toloka.models`).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import ipaddress
import json
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import islice
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, urlsplit

import httpx
import requests
import tenacity
from airflow.sdk import BaseHook
from pydantic import TypeAdapter, ValidationError
from pydantic_core import SchemaValidator, core_schema
from requests.adapters import HTTPAdapter

from airflow_toloka.exceptions import (
    TolokaConflictError,
    TolokaError,
    TolokaInputError,
    TolokaOperationFailedError,
    TolokaRemoteUnavailableError,
    TolokaTimeoutError,
    TolokaTooManyRequestsError,
    TolokaValidationError,
    error_from_response,
)
from airflow_toloka.hooks._loop_shared import MAX_SHARED_REQUESTS, Lease, loop_shared
from airflow_toloka.models import (
    BatchCreateResult,
    FieldValidationError,
    Operation,
    OperationLogItem,
    Task,
    TaskSuite,
)

if TYPE_CHECKING:
    from airflow.sdk import Connection

__all__ = [
    "ASYNC_BATCH_LIMIT",
    "SYNC_BATCH_LIMIT",
    "TASKS",
    "TASK_SUITES",
    "BatchSpool",
    "ObjectKind",
    "TolokaHook",
    "auth_header",
    "resolve_batch_size",
]

ENVIRONMENTS = {"PRODUCTION": "https://toloka.dev", "SANDBOX": "https://sandbox.toloka.dev"}
ASYNC_BATCH_LIMIT = 10_000
SYNC_BATCH_LIMIT = 5_000
# Fixed namespace so that the same work always maps to the same Toloka operation ids, on any machine.
_OPERATION_NAMESPACE = uuid.UUID("6f3b1c1e-0d4a-5b7e-9a51-7a0f1ca7b0e1")
_ITEM_IDX = "__item_idx"


@dataclass(frozen=True)
class ObjectKind:
    """What is being created: tasks or task suites differ only in endpoint, model and log keys."""

    name: Literal["tasks", "task_suites"]
    path: str
    model: type[Task] | type[TaskSuite]
    operation_type: str
    id_key: str


TASKS = ObjectKind("tasks", "/api/v1/tasks", Task, "TASK.BATCH_CREATE", "task_id")
TASK_SUITES = ObjectKind(
    "task_suites", "/api/v1/task-suites", TaskSuite, "TASK_SUITE.BATCH_CREATE", "task_suite_id"
)
KINDS = {k.name: k for k in (TASKS, TASK_SUITES)}


def _is_api_key(token: str) -> bool:
    # Toloka's own clients (toloka-kit, the Java SDK) treat a credential as an API key when it has exactly two
    # dots and the first one sits at index 22-24; anything else is an OAuth token.
    return token.count(".") == 2 and token.index(".") in (22, 23, 24)


def auth_header(token: str) -> str:
    """The ``Authorization`` value for a token, chosen the way Toloka's clients choose it."""
    token = token.strip()
    scheme, _, rest = token.partition(" ")
    if rest and scheme in ("OAuth", "ApiKey"):
        return f"{scheme} {rest.strip()}"
    return f"{'ApiKey' if _is_api_key(token) else 'OAuth'} {token}"


@dataclass(frozen=True)
class _Settings:
    """Resolved connection settings; the auth header is kept out of ``repr`` so it never lands in a log."""

    base_url: str
    authorization: str = field(repr=False)


def _base_url_from_host(host: str, port: int | None) -> str:
    if "://" not in host:
        bare = host.split("/")[0]
        try:
            loopback = ipaddress.ip_address(bare).is_loopback
        except ValueError:
            loopback = bare == "localhost"
        host = f"{'http' if loopback else 'https'}://{host}"
    parts = urlsplit(host)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TolokaError(f"Toloka connection host {host!r} is not a valid http(s) URL")
    netloc = parts.netloc
    if port and parts.port is None:
        netloc = f"{netloc}:{port}"
    path = parts.path.rstrip("/")
    for suffix in ("/api/v1", "/api"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
    return f"{parts.scheme}://{netloc}{path}"


def settings_from_connection(conn: Connection, extra: Mapping[str, Any]) -> _Settings:
    """Resolve base URL and auth header: ``host`` wins over extra ``url``, which wins over ``environment``."""
    token = (conn.password or "").strip()
    if not token:
        raise TolokaError(
            f"Toloka connection '{conn.conn_id}' has no API token: put the OAuth token or API key in the "
            "connection's password field"
        )
    url = extra.get("url") or extra.get("extra__toloka__url")
    environment = extra.get("environment") or extra.get("extra__toloka__environment")
    if conn.host:
        base_url = _base_url_from_host(conn.host, conn.port)
    elif url:
        if not isinstance(url, str):
            raise TolokaError(f"Toloka connection '{conn.conn_id}': extra 'url' must be a string")
        base_url = _base_url_from_host(url, None)
    else:
        env = str(environment or "PRODUCTION").upper()
        if env not in ENVIRONMENTS:
            raise TolokaError(
                f"Toloka connection '{conn.conn_id}': extra 'environment' is {environment!r}; "
                f"expected one of {sorted(ENVIRONMENTS)}"
            )
        base_url = ENVIRONMENTS[env]
    return _Settings(base_url=base_url, authorization=auth_header(token))


def _parse_extra(conn: Connection) -> dict[str, Any]:
    # Parsed by hand rather than through ``extra_dejson``: that property calls the synchronous secret masker,
    # which must not run on the triggerer's event loop.
    raw = conn.extra
    if not raw:
        return {}
    if isinstance(raw, dict):
        return raw
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise TolokaError(
            f"Toloka connection '{conn.conn_id}': extra is not valid JSON ({exc.msg})"
        ) from None
    if not isinstance(parsed, dict):
        raise TolokaError(f"Toloka connection '{conn.conn_id}': extra must be a JSON object")
    return parsed


def _to_wire(kind: ObjectKind, index: int, item: Any) -> dict[str, Any]:
    """Validate one input item and render it for the request body, tagged with its input index."""
    wire = _validated_chunk(kind, index, [item])[0].to_json_dict()
    wire[_ITEM_IDX] = str(index)
    return wire


# Items per validator call. One call per item costs ~1.5 µs of Python overhead; one per batch keeps 10,000 models
# alive, and the garbage collector promotes them and then runs full collections over the whole Airflow heap
# (~0.1 s each). A hundred models are gone before the collector looks at them.
_VALIDATE_CHUNK = 100


@functools.cache
def _list_adapter(model: type[Task] | type[TaskSuite]) -> TypeAdapter[list[Any]]:
    return TypeAdapter(list[model])  # type: ignore[valid-type]


def _validated_chunk(kind: ObjectKind, first_index: int, chunk: list[Any]) -> list[Any]:
    """Validate consecutive input items in one call; the error names the first bad item, as one by one would."""
    model = kind.model
    for offset, item in enumerate(chunk):
        if type(item) is not dict and not isinstance(item, (model, Mapping)):
            _validated_chunk(kind, first_index, chunk[:offset])  # an earlier bad item is reported first
            raise TolokaInputError(
                f"expected a {model.__name__} or a dict, got {type(item).__name__}",
                index=first_index + offset,
            )
    try:
        return _list_adapter(model).validate_python(chunk)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        offset = min(int(err["loc"][0]) for err in errors)
        mine = [err for err in errors if err["loc"][0] == offset]
        loc = ".".join(str(p) for p in mine[0]["loc"][1:])
        more = f" (and {len(mine) - 1} more problem(s))" if len(mine) > 1 else ""
        raise TolokaInputError(
            f"{mine[0]['msg']}{more}", index=first_index + offset, field=loc or None
        ) from None


def _encode_batch(kind: ObjectKind, number: int, first_index: int, items: Iterable[Any]) -> _Batch:
    """Validate a chunk of input and render its request body, each item tagged with its input index.

    Models are serialised straight to JSON by pydantic-core (no intermediate dict) and dropped a hundred at a
    time. The body is the same for the same input, which is what keeps operation ids deterministic.
    """
    model = kind.model
    serializer = model.__pydantic_serializer__
    parts: list[bytes] = []
    pools: dict[str, None] = {}
    source = iter(items)
    index = first_index
    while chunk := list(islice(source, _VALIDATE_CHUNK)):
        for obj in _validated_chunk(kind, index, chunk):
            extra = obj.__pydantic_extra__
            if extra and _ITEM_IDX in extra:  # the caller's own tag is overwritten in place, as it always was
                parts.append(_dumps(_to_wire(kind, index, obj)))
            else:
                ser = serializer if type(obj) is model else obj.__pydantic_serializer__
                raw = ser.to_json(obj, exclude_none=True, by_alias=True)
                tag = b'"__item_idx":"%d"}' % index
                parts.append(raw[:-1] + (b"," + tag if len(raw) > 2 else tag))
            pools[str(obj.pool_id)] = None
            index += 1
    return _Batch(number, first_index, len(parts), b"[" + b",".join(parts) + b"]", tuple(pools))


def _encode_batches(kind: ObjectKind, items: Iterable[Any], batch_size: int) -> Iterator[_Batch]:
    source = iter(items)
    number = first = 0
    while True:
        batch = _encode_batch(kind, number, first, islice(source, batch_size))
        if not batch.count:
            return
        yield batch
        number, first = number + 1, first + batch.count


@dataclass
class _Batch:
    """One request's worth of validated input: its position in the input and its serialised body."""

    number: int
    first_index: int
    count: int
    body: bytes
    pool_ids: tuple[str, ...] = ()

    def __len__(self) -> int:
        return self.count


class BatchSpool:
    """Validated request bodies parked in a temporary file.

    The operator validates all input before sending anything; spooling what that pass produced lets the upload
    send the same bytes without reading the source a second time or holding the input in memory.
    """

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self.count = 0
        self.pool_ids: dict[str, None] = {}
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 - lives until close()
        self._index: list[tuple[int, int, int, int]] = []  # first index, count, offset, length

    def add(self, batch: _Batch) -> None:
        offset = self._file.seek(0, 2)
        self._file.write(batch.body)
        self._index.append((batch.first_index, batch.count, offset, len(batch.body)))
        self.count += batch.count
        self.pool_ids.update(dict.fromkeys(batch.pool_ids))

    def __len__(self) -> int:
        return len(self._index)

    def __iter__(self) -> Iterator[_Batch]:
        for number, (first, count, offset, length) in enumerate(self._index):
            self._file.seek(offset)
            yield _Batch(number, first, count, self._file.read(length))

    def close(self) -> None:
        self._file.close()


def _field_errors(output: Any) -> dict[str, FieldValidationError]:
    # Toloka's log reports item failures as a bare ``{field: error}`` map; the Java SDK's fixtures and older
    # docs show a wrapped ``{code, message, payload}`` form, so both are accepted.
    if isinstance(output, Mapping) and "code" in output and isinstance(output.get("payload"), Mapping):
        output = output["payload"]
    if not isinstance(output, Mapping):
        return {"": FieldValidationError(code="UNKNOWN", message=str(output))}
    errors: dict[str, FieldValidationError] = {}
    for path, err in output.items():
        if isinstance(err, Mapping) and "code" in err:
            errors[str(path)] = FieldValidationError.model_validate(err)
        else:
            errors[str(path)] = FieldValidationError(code=str(err))
    return errors


class TolokaHook(BaseHook):
    """Talk to the Toloka REST API.

    The connection (``conn_type`` ``toloka``) keeps the token in ``password``; ``extra.environment`` picks
    ``PRODUCTION`` or ``SANDBOX``, and a ``host`` holding a full URL (e.g. the local emulator) overrides both.
    Method names and parameters follow toloka-kit's ``TolokaClient`` so that its users feel at home.

    :param toloka_conn_id: Airflow connection id.
    :param timeout: read timeout of one HTTP request, seconds.
    :param retry_limit: retries of one request on 429, 5xx and network errors.
    :param retry_delay: base of the exponential backoff, seconds.
    :param retry_budget: total seconds one request may spend retrying.
    :param max_in_flight: batches submitted and awaited concurrently.
    :param poll_interval: longest pause between two status polls of an operation, seconds.
    """

    conn_name_attr = "toloka_conn_id"
    default_conn_name = "toloka_default"
    conn_type = "toloka"
    hook_name = "Toloka"

    def __init__(
        self,
        toloka_conn_id: str = default_conn_name,
        *,
        timeout: float = 60.0,
        retry_limit: int = 8,
        retry_delay: float = 0.5,
        retry_budget: float = 300.0,
        max_in_flight: int = 4,
        poll_interval: float = 5.0,
    ) -> None:
        super().__init__()
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.toloka_conn_id = toloka_conn_id
        self.timeout = timeout
        self.retry_limit = retry_limit
        self.retry_delay = retry_delay
        self.retry_budget = retry_budget
        self.max_in_flight = max_in_flight
        self.poll_interval = poll_interval
        self._settings: _Settings | None = None
        self._session: requests.Session | None = None
        self._alease: Lease | None = None  # this hook's claim on its event loop's shared client
        self._lock = threading.Lock()
        self._alock: asyncio.Lock | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(toloka_conn_id={self.toloka_conn_id!r})"

    # ------------------------------------------------------------------ connection

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Kept for Airflow versions that still read it; Airflow 3.2+ reads provider info instead."""
        from airflow_toloka.get_provider_info import get_provider_info

        conn = get_provider_info()["connection-types"][0]
        return conn["ui-field-behaviour"]

    def _settings_sync(self) -> _Settings:
        if self._settings is None:
            conn = self.get_connection(self.toloka_conn_id)
            settings = settings_from_connection(conn, _parse_extra(conn))
            from airflow.sdk.log import mask_secret

            mask_secret(conn.password)
            self._settings = settings
        return self._settings

    async def _settings_async(self) -> _Settings:
        # Shared by every hook of this event loop for a short while: a thousand triggers, one lookup.
        return await loop_shared().settings((type(self), self.toloka_conn_id), self._lookup_settings_async)

    async def _lookup_settings_async(self) -> _Settings:
        conn = await self.aget_connection(self.toloka_conn_id)
        settings = settings_from_connection(conn, _parse_extra(conn))
        from airflow.sdk.log import amask_secret

        await amask_secret(conn.password)
        return settings

    async def _alease_for(self, settings: _Settings) -> Lease:
        """This hook's lease on the loop's client for ``settings``, swapped when the settings changed."""
        shared = loop_shared()
        key = (settings, self.timeout)

        def usable(lease: Lease | None) -> bool:
            return (
                lease is not None
                and lease.owner is shared
                and lease.key == key
                and not lease.client.is_closed
            )

        if usable(self._alease):
            return self._alease  # type: ignore[return-value]
        if self._alock is None:
            self._alock = asyncio.Lock()
        async with self._alock:  # the hook's own concurrent polls must not each take a lease
            old = self._alease
            if not usable(old):
                self._alease = await shared.acquire(key, lambda: self._new_async_client(settings))
                if old is not None:
                    # A lease from another event loop is dropped, not closed: its client belongs to that loop.
                    await shared.release(old)
        assert self._alease is not None
        return self._alease

    def _new_async_client(self, settings: _Settings) -> httpx.AsyncClient:
        limits = httpx.Limits(
            max_connections=MAX_SHARED_REQUESTS, max_keepalive_connections=MAX_SHARED_REQUESTS
        )
        return httpx.AsyncClient(
            headers=self._headers(settings), timeout=httpx.Timeout(self.timeout, connect=10), limits=limits
        )

    @property
    def base_url(self) -> str:
        """Root of the API host (without ``/api``), e.g. ``https://toloka.dev``."""
        return self._settings_sync().base_url

    def get_conn(self) -> requests.Session:
        """The pooled HTTP session used by this hook's worker-side calls."""
        with self._lock:
            if self._session is None:
                settings = self._settings_sync()
                session = requests.Session()
                adapter = HTTPAdapter(pool_connections=1, pool_maxsize=self.max_in_flight * 2 + 2)
                session.mount("http://", adapter)
                session.mount("https://", adapter)
                session.headers.update(self._headers(settings))
                self._session = session
            return self._session

    @staticmethod
    def _headers(settings: _Settings) -> dict[str, str]:
        from airflow_toloka import __version__

        return {
            "Authorization": settings.authorization,
            "User-Agent": f"airflow-toloka/{__version__}",
            "Accept": "application/json",
        }

    def close(self) -> None:
        """Release pooled connections (the session is recreated on next use)."""
        if self._session is not None:
            self._session.close()
            self._session = None

    # ------------------------------------------------------------------ transport

    def _retrying_kwargs(self, what: str, idempotent: bool) -> dict[str, Any]:
        """Retry policy shared by the sync and async transports."""

        def should_retry(exc: BaseException) -> bool:
            if isinstance(exc, TolokaTooManyRequestsError):
                return True  # Toloka did nothing with the request
            if isinstance(exc, (requests.ConnectTimeout, httpx.ConnectError, httpx.ConnectTimeout)):
                return True  # the request never reached Toloka
            if isinstance(exc, requests.ConnectionError) and "NewConnectionError" in repr(exc):
                return True
            if not idempotent:
                return False  # Toloka may have acted on it: repeating could create duplicates
            if isinstance(exc, TolokaRemoteUnavailableError):
                return True
            return isinstance(exc, (requests.RequestException, httpx.TransportError))

        backoff = tenacity.wait_random_exponential(multiplier=self.retry_delay, max=60)

        def wait(state: tenacity.RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, TolokaTooManyRequestsError) and exc.retry_after is not None:
                return min(exc.retry_after, self.retry_budget)
            return float(backoff(state))

        def before_sleep(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            sleep = state.next_action.sleep if state.next_action else 0
            self.log.warning(
                "Toloka %s failed (%s); retry %d/%d in %.1fs",
                what,
                _short(exc),
                state.attempt_number,
                self.retry_limit,
                sleep,
            )

        return {
            "retry": tenacity.retry_if_exception(should_retry),
            "stop": tenacity.stop_after_attempt(self.retry_limit + 1)
            | tenacity.stop_after_delay(self.retry_budget),
            "wait": wait,
            "before_sleep": before_sleep,
            "reraise": True,
        }

    def _url(self, base_url: str, path: str) -> str:
        return base_url + path

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: bytes | None = None,
        idempotent: bool | None = None,
        decode: Callable[[int, bytes], Any] | None = None,
    ) -> Any:
        """One API call with retries; returns the parsed JSON body (None when empty)."""
        session = self.get_conn()
        url = self._url(self._settings_sync().base_url, path)
        query = _query(params)
        headers = {"Content-Type": "application/json"} if body is not None else None
        safe = method == "GET" if idempotent is None else idempotent
        parse = decode or _json_body

        def once() -> Any:
            resp = session.request(
                method, url, params=query, data=body, headers=headers, timeout=(10, self.timeout)
            )
            if resp.status_code >= 400:
                raise error_from_response(resp.status_code, resp.content, resp.headers)
            return parse(resp.status_code, resp.content)

        try:
            return tenacity.Retrying(**self._retrying_kwargs(f"{method} {path}", safe))(once)
        except requests.RequestException as exc:
            raise TolokaRemoteUnavailableError(
                f"could not reach Toloka at {self._settings_sync().base_url} ({method} {path}): {_short(exc)}"
            ) from exc

    async def _arequest(self, method: str, path: str, *, params: Mapping[str, Any] | None = None) -> Any:
        """Async twin of :meth:`_request` for the triggerer (GET-only use: triggers never create)."""
        settings = await self._settings_async()
        lease = await self._alease_for(settings)
        # Wait for a slot before building anything for this request: with a thousand triggers the queue is
        # long, and whatever a queued request holds outlives young GC generations and ends in full collections.
        await lease.slots.acquire()
        held = True

        async def sleep(seconds: float) -> None:
            nonlocal held
            lease.slots.release()  # no slot is held while backing off
            held = False
            await asyncio.sleep(seconds)
            await lease.slots.acquire()
            held = True

        url = self._url(settings.base_url, path)
        query = _query(params)

        async def once() -> Any:
            resp = await lease.client.request(method, url, params=query)
            if resp.status_code >= 400:
                raise error_from_response(resp.status_code, resp.content, resp.headers)
            return _json_body(resp.status_code, resp.content)

        try:
            retrying = tenacity.AsyncRetrying(
                sleep=sleep, **self._retrying_kwargs(f"{method} {path}", method == "GET")
            )
            return await retrying(once)
        except httpx.TransportError as exc:
            raise TolokaRemoteUnavailableError(
                f"could not reach Toloka at {settings.base_url} ({method} {path}): {_short(exc)}"
            ) from exc
        finally:
            if held:
                lease.slots.release()

    async def aclose(self) -> None:
        """Give back this hook's share of the loop's client (the last user closes it); triggers call this."""
        lease, self._alease = self._alease, None
        if lease is not None:
            await loop_shared().release(lease)  # a lease of another loop is dropped there

    async def __aenter__(self) -> TolokaHook:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ simple calls

    def test_connection(self) -> tuple[bool, str]:
        """Check the token and URL by reading the requester profile (what the Airflow UI's Test button calls)."""
        try:
            requester = self._request("GET", "/api/v1/requester")
        except Exception as exc:
            return False, str(exc)
        name = (requester.get("public_name") or {}).get("EN") or requester.get("id")
        return True, f"Connected to Toloka at {self.base_url} as {name}"

    def get_operation(self, operation_id: str) -> Operation:
        return Operation.model_validate(self._request("GET", f"/api/v1/operations/{_seg(operation_id)}"))

    async def aget_operation(self, operation_id: str) -> Operation:
        return Operation.model_validate(
            await self._arequest("GET", f"/api/v1/operations/{_seg(operation_id)}")
        )

    def get_operation_log(self, operation_id: str) -> list[OperationLogItem]:
        return [OperationLogItem.model_validate(x) for x in self._operation_log_raw(operation_id)]

    def _operation_log_raw(self, operation_id: str) -> list[dict[str, Any]]:
        return self._request("GET", f"/api/v1/operations/{_seg(operation_id)}/log") or []

    def get_task(self, task_id: str) -> Task:
        return Task.model_validate(self._request("GET", f"/api/v1/tasks/{_seg(task_id)}"))

    def get_task_suite(self, task_suite_id: str) -> TaskSuite:
        return TaskSuite.model_validate(self._request("GET", f"/api/v1/task-suites/{_seg(task_suite_id)}"))

    def wait_operation(
        self,
        op: Operation | str,
        timeout: timedelta | float = timedelta(minutes=10),
    ) -> Operation:
        """Poll until the operation is SUCCESS or FAIL; raises :class:`TolokaTimeoutError` past ``timeout``."""
        return self.wait_operations([op], timeout=timeout)[0]

    def wait_operations(
        self, ops: Sequence[Operation | str], timeout: timedelta | float | None = timedelta(minutes=10)
    ) -> list[Operation]:
        """Poll several operations until all are terminal, with a short first pause that grows per poll."""
        seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
        deadline = None if seconds is None else time.monotonic() + seconds
        current = [op if isinstance(op, Operation) else self.get_operation(op) for op in ops]
        pause = 0.1
        while True:
            pending = [i for i, op in enumerate(current) if not op.is_completed]
            if not pending:
                return current
            if deadline is not None and time.monotonic() >= deadline:
                ids = [current[i].id for i in pending]
                raise TolokaTimeoutError(
                    f"Toloka operations still running after {seconds:.0f}s: {', '.join(ids)}",
                    operation_ids=ids,
                )
            nap = pause if deadline is None else min(pause, max(0.0, deadline - time.monotonic()))
            time.sleep(nap)
            pause = min(pause * 1.6, self.poll_interval)
            for i in pending:
                current[i] = self.get_operation(current[i].id)

    # ------------------------------------------------------------------ creation

    def create_task(
        self,
        task: Task | Mapping[str, Any],
        *,
        allow_defaults: bool | None = None,
        open_pool: bool | None = None,
        async_mode: bool = True,
        idempotency_key: str | None = None,
    ) -> Task:
        """Create one task and return it as Toloka stored it."""
        return self._create_one(TASKS, task, allow_defaults, open_pool, async_mode, idempotency_key)

    def create_task_suite(
        self,
        task_suite: TaskSuite | Mapping[str, Any],
        *,
        allow_defaults: bool | None = None,
        open_pool: bool | None = None,
        async_mode: bool = True,
        idempotency_key: str | None = None,
    ) -> TaskSuite:
        """Create one task suite and return it as Toloka stored it."""
        return self._create_one(
            TASK_SUITES, task_suite, allow_defaults, open_pool, async_mode, idempotency_key
        )

    def _create_one(
        self,
        kind: ObjectKind,
        item: Any,
        allow_defaults: bool | None,
        open_pool: bool | None,
        async_mode: bool,
        idempotency_key: str | None,
    ) -> Any:
        if not async_mode:
            wire = _to_wire(kind, 0, item)
            del wire[_ITEM_IDX]
            params = {"allow_defaults": allow_defaults, "open_pool": open_pool, "async_mode": False}
            created = self._request("POST", kind.path, params=params, body=_dumps(wire), idempotent=False)
            return kind.model.model_validate(created)
        result = self._create_batched(
            kind,
            [item],
            params={"allow_defaults": allow_defaults, "open_pool": open_pool},
            async_mode=True,
            batch_size=1,
            idempotency_key=idempotency_key,
            skip_invalid_items=False,
        )
        created_id = result.items[0]
        path = f"{kind.path}/{_seg(created_id)}"
        return kind.model.model_validate(self._request("GET", path))

    def create_tasks(
        self,
        tasks: Iterable[Task | Mapping[str, Any]],
        *,
        allow_defaults: bool | None = None,
        open_pool: bool | None = None,
        skip_invalid_items: bool | None = None,
        async_mode: bool = True,
        batch_size: int | None = None,
        idempotency_key: str | None = None,
        timeout: timedelta | float | None = timedelta(hours=1),
    ) -> BatchCreateResult:
        """Create many tasks in batches and map each input position to the created task id.

        ``tasks`` may be any iterable, a generator included: it is consumed batch by batch, never held whole.
        Batches get deterministic operation ids derived from ``idempotency_key`` (random when omitted), the
        batch number and the batch content, so running the same work again with the same key creates nothing
        new. A list is validated completely before the first request; a generator batch by batch.

        With ``skip_invalid_items`` false, any rejected item raises :class:`TolokaValidationError` naming the
        input indexes and fields; with it true they are reported in ``validation_errors`` (and an error is
        raised only if nothing at all was created, as toloka-kit does).
        """
        return self._create_batched(
            TASKS,
            tasks,
            params={"allow_defaults": allow_defaults, "open_pool": open_pool},
            async_mode=async_mode,
            batch_size=batch_size,
            idempotency_key=idempotency_key,
            skip_invalid_items=skip_invalid_items,
            timeout=timeout,
        )

    def create_task_suites(
        self,
        task_suites: Iterable[TaskSuite | Mapping[str, Any]],
        *,
        allow_defaults: bool | None = None,
        open_pool: bool | None = None,
        skip_invalid_items: bool | None = None,
        async_mode: bool = True,
        batch_size: int | None = None,
        idempotency_key: str | None = None,
        timeout: timedelta | float | None = timedelta(hours=1),
    ) -> BatchCreateResult:
        """Create many task suites; same contract as :meth:`create_tasks`."""
        return self._create_batched(
            TASK_SUITES,
            task_suites,
            params={"allow_defaults": allow_defaults, "open_pool": open_pool},
            async_mode=async_mode,
            batch_size=batch_size,
            idempotency_key=idempotency_key,
            skip_invalid_items=skip_invalid_items,
            timeout=timeout,
        )

    def create_tasks_async(
        self,
        tasks: Iterable[Task | Mapping[str, Any]],
        *,
        allow_defaults: bool | None = None,
        open_pool: bool | None = None,
        skip_invalid_items: bool | None = None,
        operation_id: str | None = None,
    ) -> Operation:
        """Start one ``TASK.BATCH_CREATE`` operation (at most 10,000 tasks) and return without waiting."""
        return self._create_async_single(
            TASKS, tasks, allow_defaults, open_pool, skip_invalid_items, operation_id
        )

    def create_task_suites_async(
        self,
        task_suites: Iterable[TaskSuite | Mapping[str, Any]],
        *,
        allow_defaults: bool | None = None,
        open_pool: bool | None = None,
        skip_invalid_items: bool | None = None,
        operation_id: str | None = None,
    ) -> Operation:
        """Start one ``TASK_SUITE.BATCH_CREATE`` operation (at most 10,000 suites) and return without waiting."""
        return self._create_async_single(
            TASK_SUITES, task_suites, allow_defaults, open_pool, skip_invalid_items, operation_id
        )

    def _create_async_single(
        self,
        kind: ObjectKind,
        items: Iterable[Any],
        allow_defaults: bool | None,
        open_pool: bool | None,
        skip_invalid_items: bool | None,
        operation_id: str | None,
    ) -> Operation:
        batches = list(self.iter_batches(kind, items, ASYNC_BATCH_LIMIT + 1))
        if not batches:
            raise TolokaInputError(f"no {kind.name.replace('_', ' ')} to create")
        if len(batches[0]) > ASYNC_BATCH_LIMIT:
            raise TolokaInputError(
                f"{kind.name}_async takes at most {ASYNC_BATCH_LIMIT} items per operation; "
                f"use create_{kind.name}() or submit_batches() for more"
            )
        params = _params(allow_defaults, open_pool, skip_invalid_items)
        return self._submit(kind, batches[0], params, operation_id or str(uuid.uuid4()))

    # ------------------------------------------------------------------ batching building blocks

    def iter_batches(self, kind: ObjectKind, items: Iterable[Any], batch_size: int) -> Iterator[_Batch]:
        """Validate and split input into request-sized batches, lazily (a list is validated up front)."""
        if isinstance(items, BatchSpool):  # validated and serialised already
            if items.batch_size != batch_size:
                raise ValueError(f"spooled batches hold {items.batch_size} items, not {batch_size}")
            yield from items
            return
        if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
            raise TolokaInputError(
                f"{kind.name} must be a list or other iterable of {kind.model.__name__} objects or dicts, "
                f"got {type(items).__name__}"
            )
        batches = _encode_batches(kind, items, batch_size)
        if isinstance(items, Sequence):
            batches = iter(list(batches))  # all-or-nothing validation
        yield from batches

    def _submit(
        self, kind: ObjectKind, batch: _Batch, params: dict[str, Any], operation_id: str
    ) -> Operation:
        """POST one batch as an async operation; an id Toloka already knows returns the existing operation."""
        query = {**params, "async_mode": True, "operation_id": operation_id}
        try:
            data = self._request("POST", kind.path, params=query, body=batch.body, idempotent=True)
        except TolokaConflictError as exc:
            if exc.code != "OPERATION_ALREADY_EXISTS":
                raise
            op = self.get_operation(operation_id)
            if op.type and op.type != kind.operation_type:
                raise
            self.log.info("Toloka operation %s already submitted earlier; reusing it", operation_id)
            return op
        return Operation.model_validate(data)

    def submit_batches(
        self,
        kind: ObjectKind | Literal["tasks", "task_suites"],
        items: Iterable[Any],
        *,
        idempotency_key: str,
        batch_size: int | None = None,
        allow_defaults: bool | None = None,
        open_pool: bool | None = None,
        skip_invalid_items: bool | None = None,
    ) -> list[Operation]:
        """Submit all batches as async operations without waiting for them (what deferrable operators use)."""
        kind = KINDS[kind] if isinstance(kind, str) else kind
        size = resolve_batch_size(batch_size, True)
        params = _params(allow_defaults, open_pool, skip_invalid_items)
        progress = _Progress(self.log, f"{kind.name} submitted", _count(items, size))

        def submit(batch: _Batch) -> tuple[_Batch, Operation]:
            return batch, self._submit(
                kind, batch, params, _operation_id(idempotency_key, kind, batch, params)
            )

        numbered: list[tuple[int, Operation]] = []
        for batch, op in self._pipeline(self.iter_batches(kind, items, size), submit):
            numbered.append((batch.number, op))
            progress.batch_done(len(batch))
        return [
            op for _, op in sorted(numbered, key=lambda pair: pair[0])
        ]  # batch order, whatever finished first

    def operation_results(
        self,
        kind: ObjectKind | Literal["tasks", "task_suites"],
        operations: Sequence[Operation | str],
        *,
        max_ids: int | None = None,
    ) -> BatchCreateResult:
        """Map the logs of finished operations back to input indexes (no created object is re-fetched).

        ``max_ids``: past this many items, created ids are only counted (``created_count``), not kept; a caller
        that needs no ids for a million tasks then holds no million ids. Rejections are always kept.
        """
        kind = KINDS[kind] if isinstance(kind, str) else kind
        ops = [op if isinstance(op, Operation) else self.get_operation(op) for op in operations]
        running = [op.id for op in ops if not op.is_completed]
        if running:
            raise TolokaError(f"Toloka operations still running, wait for them first: {', '.join(running)}")
        result = BatchCreateResult()
        keep_ids = True

        def collect(op: Operation) -> BatchCreateResult:
            return self._result_from_log(kind, op, keep_ids=keep_ids)

        for partial in self._pipeline(iter(ops), collect):
            result.merge(partial)
            if max_ids is not None and (
                not keep_ids or result.created_count + len(result.validation_errors) > max_ids
            ):
                keep_ids = False
                result.forget_ids()
        return result

    def _result_from_log(
        self, kind: ObjectKind, op: Operation, *, keep_ids: bool = True
    ) -> BatchCreateResult:
        path = f"/api/v1/operations/{_seg(op.id)}/log"
        flat, body = self._request("GET", path, decode=_log_decoder(kind.id_key))
        if flat is not None:
            result = self._result_from_flat_log(op, flat, keep_ids) if op.status != "FAIL" else None
            if result is not None:
                return result
            body = json.loads(body)  # valid JSON: the flat reading parsed it
        return self._result_from_full_log(kind, op, body or [], keep_ids)

    @staticmethod
    def _result_from_flat_log(
        op: Operation, entries: list[dict[str, Any]], keep_ids: bool
    ) -> BatchCreateResult | None:
        """The common case, every step a success: ids by input index; None if the log needs the full reading.

        Failed steps (rejected items, a pool that would not open) need the full entries, so they go the full way.
        """
        result = BatchCreateResult(operation_ids=[op.id])
        items = result.items
        pools: set[str] = set()
        counted = 0
        for entry in entries:
            if not entry.get("success"):
                return None
            idx = entry.get("idx")
            if idx is None:
                continue
            if "id" not in entry:
                return None
            if keep_ids:
                items[int(idx)] = entry["id"]
            else:
                counted += 1
            if "pool_id" in entry:
                pools.add(str(entry["pool_id"]))
        result.pool_ids = sorted(pools)
        result.add_created_count(counted)
        return result

    def _result_from_full_log(
        self, kind: ObjectKind, op: Operation, entries: list[dict[str, Any]], keep_ids: bool
    ) -> BatchCreateResult:
        result = BatchCreateResult(operation_ids=[op.id])
        pools: set[str] = set()
        item_entries = counted = 0
        for entry in entries:
            item = entry.get("input") or {}
            idx = item.get(_ITEM_IDX)
            if idx is None:
                if not entry.get("success"):
                    self.log.warning(
                        "Toloka operation %s step %s failed: %s",
                        op.id,
                        entry.get("type"),
                        entry.get("output"),
                    )
                continue
            item_entries += 1
            index = int(idx)
            if entry.get("success"):
                created_id = (entry.get("output") or {})[kind.id_key]
                if keep_ids:
                    result.items[index] = created_id
                else:
                    counted += 1
                if "pool_id" in item:
                    pools.add(str(item["pool_id"]))
            else:
                result.validation_errors[index] = _field_errors(entry.get("output"))
        if op.status == "FAIL" and not item_entries:
            raise TolokaOperationFailedError(
                f"Toloka operation {op.id} ({op.type}) failed: {json.dumps(op.details, default=str)}",
                operation_ids=[op.id],
                details=op.details,
            )
        result.pool_ids = sorted(pools)
        result.add_created_count(counted)
        return result

    def _pipeline(self, work: Iterator[Any], fn: Any) -> Iterator[Any]:
        """Run ``fn`` over ``work`` with at most ``max_in_flight`` calls at once, yielding as they finish."""
        if self.max_in_flight == 1:
            for item in work:
                yield fn(item)
            return
        with ThreadPoolExecutor(self.max_in_flight, thread_name_prefix="toloka") as executor:
            running: set[Future[Any]] = set()
            try:
                for item in work:
                    if len(running) >= self.max_in_flight:
                        done, running = wait(running, return_when=FIRST_COMPLETED)
                        for fut in done:
                            yield fut.result()
                    running.add(executor.submit(fn, item))
                while running:
                    done, running = wait(running, return_when=FIRST_COMPLETED)
                    for fut in done:
                        yield fut.result()
            finally:
                # Let batches already sent finish (they are idempotent) but start no new ones.
                wait(running)

    def _create_batched(
        self,
        kind: ObjectKind,
        items: Iterable[Any],
        *,
        params: dict[str, Any],
        async_mode: bool,
        batch_size: int | None,
        idempotency_key: str | None,
        skip_invalid_items: bool | None,
        timeout: timedelta | float | None = timedelta(hours=1),
    ) -> BatchCreateResult:
        size = resolve_batch_size(batch_size, async_mode)
        key = idempotency_key or str(uuid.uuid4())
        params = _params(params.get("allow_defaults"), params.get("open_pool"), skip_invalid_items)
        progress = _Progress(self.log, f"{kind.name} created", _count(items, size))
        result = BatchCreateResult()

        def run(batch: _Batch) -> tuple[_Batch, BatchCreateResult]:
            if not async_mode:
                return batch, self._create_sync_batch(kind, batch, params)
            op = self._submit(kind, batch, params, _operation_id(key, kind, batch, params))
            op = self.wait_operations([op], timeout=timeout)[0]
            return batch, self._result_from_log(kind, op)

        for batch, partial in self._pipeline(self.iter_batches(kind, items, size), run):
            result.merge(partial)
            progress.batch_done(
                len(batch), f" ({len(result.items)} created, {len(result.validation_errors)} rejected)"
            )
        if not result.items and not result.validation_errors:
            raise TolokaInputError(f"no {kind.name.replace('_', ' ')} to create: the input was empty")
        result.raise_for_rejected(skip_invalid_items)
        return result

    def _create_sync_batch(
        self, kind: ObjectKind, batch: _Batch, params: dict[str, Any]
    ) -> BatchCreateResult:
        # Sync mode is not idempotent on Toloka's side, so only failures that certainly did nothing are retried.
        result = BatchCreateResult()
        query = {**params, "async_mode": False}
        try:
            data = self._request("POST", kind.path, params=query, body=batch.body, idempotent=False)
        except TolokaValidationError as exc:
            payload = exc.payload if isinstance(exc.payload, Mapping) else None
            if not payload or not all(str(k).isdigit() for k in payload):
                raise
            for local, errors in payload.items():
                result.validation_errors[batch.first_index + int(local)] = _field_errors(errors)
            return result
        pools: set[str] = set()
        for local, obj in (data.get("items") or {}).items():
            result.items[batch.first_index + int(local)] = obj["id"]
            pools.add(str(obj.get("pool_id")))
        for local, errors in (data.get("validation_errors") or {}).items():
            result.validation_errors[batch.first_index + int(local)] = _field_errors(errors)
        result.pool_ids = sorted(pools)
        return result


# ---------------------------------------------------------------------- helpers


def _seg(value: str) -> str:
    """One URL path segment: an id can never change which endpoint is called."""
    return quote(str(value), safe="")


@functools.cache
def _log_validator(id_key: str) -> SchemaValidator:
    """Reads from an operation log only what results need, as flat dicts of strings.

    A log echoes every item's input; parsing it whole builds nested dicts that the garbage collector tracks, and
    ten thousand of them per log make the interpreter run full collections over the whole Airflow heap.
    """

    def field(*path: str | int) -> core_schema.TypedDictField:
        return core_schema.typed_dict_field(
            core_schema.any_schema(), required=False, validation_alias=list(path)
        )

    entry = core_schema.typed_dict_schema(
        {
            "success": field("success"),
            "idx": field("input", _ITEM_IDX),
            "pool_id": field("input", "pool_id"),
            "id": field("output", id_key),
        }
    )
    return SchemaValidator(core_schema.list_schema(entry))


def _log_decoder(id_key: str) -> Callable[[int, bytes], tuple[list[dict[str, Any]] | None, Any]]:
    """Decode a log body: ``(flat entries, body)`` when it has the expected shape, else ``(None, parsed JSON)``."""

    def decode(status: int, content: bytes) -> tuple[list[dict[str, Any]] | None, Any]:
        if content:
            try:
                return _log_validator(id_key).validate_json(content), content
            except ValidationError:
                pass
        return None, _json_body(status, content)

    return decode


def _json_body(status: int, content: bytes) -> Any:
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        # A proxy's HTML page with a 200: treat like an outage (retried for idempotent calls).
        raise TolokaRemoteUnavailableError(
            f"Toloka answered HTTP {status} with a body that is not JSON: {content[:200]!r}",
            http_status=status,
        ) from None


class _Progress:
    """One log line per finished batch, so a user watching the task log sees a long upload move."""

    def __init__(self, log: Any, what: str, total_batches: int | None) -> None:
        self.log, self.what, self.total = log, what, total_batches
        self.batches = self.items = 0
        self.started = time.monotonic()

    def batch_done(self, items: int, detail: str = "") -> None:
        self.batches += 1
        self.items += items
        rate = self.items / max(time.monotonic() - self.started, 1e-6)
        of = f"/{self.total}" if self.total else ""
        self.log.info(
            "Toloka %s: batch %d%s, %d items%s, %.0f items/s",
            self.what,
            self.batches,
            of,
            self.items,
            detail,
            rate,
        )


def _short(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    text = str(exc) or type(exc).__name__
    return text if len(text) < 300 else text[:300] + "…"


def _query(params: Mapping[str, Any] | None) -> dict[str, str] | None:
    if not params:
        return None
    # Toloka expects lowercase booleans; None means "let the server default apply".
    return {
        k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in params.items() if v is not None
    }


def _params(
    allow_defaults: bool | None, open_pool: bool | None, skip_invalid_items: bool | None
) -> dict[str, Any]:
    return {
        "allow_defaults": allow_defaults,
        "open_pool": open_pool,
        "skip_invalid_items": skip_invalid_items,
    }


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def _operation_id(key: str, kind: ObjectKind, batch: _Batch, params: Mapping[str, Any]) -> str:
    """Deterministic operation id: same key + batch number + content + flags → same Toloka operation."""
    digest = hashlib.sha256(batch.body)
    digest.update(_dumps(sorted((k, v) for k, v in params.items() if v is not None)))
    return str(uuid.uuid5(_OPERATION_NAMESPACE, f"{key}/{kind.name}/{batch.number}/{digest.hexdigest()}"))


def resolve_batch_size(requested: int | None, async_mode: bool) -> int:
    """The batch size to use: Toloka's per-request limit unless a smaller one was asked for."""
    limit = ASYNC_BATCH_LIMIT if async_mode else SYNC_BATCH_LIMIT
    if requested is None:
        return limit
    if not 1 <= requested <= limit:
        mode = "async" if async_mode else "sync"
        raise ValueError(f"batch_size must be between 1 and {limit} in {mode} mode, got {requested}")
    return requested


def _count(items: Iterable[Any], size: int) -> int | None:
    if isinstance(items, BatchSpool):
        return len(items)
    return -(-len(items) // size) if isinstance(items, Sequence) else None
