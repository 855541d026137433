"""Transport to the Toloka API: connection, auth, sessions, one request description, retries, error mapping.

:class:`BaseTolokaHook` knows nothing of tasks or pools. A request is described once, as a :class:`Request`
(method, path, query, body, whether repeating it is safe, how to decode the answer); the worker-side
``requests`` session and the triggerer-side shared ``httpx`` client differ only in how they send it. One retry
policy and one error mapper serve both. The public API lives in :mod:`airflow_toloka.hooks.toloka`.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypedDict
from urllib.parse import quote

import httpx
import requests
import tenacity
from airflow.sdk import BaseHook
from pydantic import BaseModel
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NameResolutionError, NewConnectionError

from airflow_toloka.exceptions import (
    TolokaAccessDeniedError,
    TolokaAuthenticationError,
    TolokaError,
    TolokaRemoteUnavailableError,
    TolokaTooManyRequestsError,
    error_from_response,
    json_body,
)
from airflow_toloka.hooks._loop_shared import MAX_SHARED_REQUESTS, Lease, loop_shared
from airflow_toloka.hooks.connection import DEFAULT_CONN_ID, ConnectionSettings, settings_from_connection
from airflow_toloka.models import format_datetime, parse_body
from airflow_toloka.version_compat import aget_connection, amask_secret

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["CONNECT_TIMEOUT", "TEST_TIMEOUT", "BaseTolokaHook", "Request", "TransportKwargs", "seg"]

# Seconds to open a TCP connection; a read may take up to the hook's ``timeout``.
CONNECT_TIMEOUT = 10.0
# Seconds the UI's Test button waits for Toloka: one attempt, no retries, so a wrong host is reported at once.
TEST_TIMEOUT = 5.0


def _query(params: Mapping[str, Any] | None) -> dict[str, str] | None:
    if not params:
        return None
    # None means "let the server default apply".
    return {k: _param(v) for k, v in params.items() if v is not None}


def _param(value: Any) -> str:
    """One query value as Toloka reads it: lowercase booleans, its timestamp format, comma-joined lists
    (``status=ACCEPTED,SUBMITTED``)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return ",".join(_param(v) for v in value)
    return str(value)


def _short(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    text = str(exc) or type(exc).__name__
    return text if len(text) < 300 else text[:300] + "…"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and what it wraps: causes, contexts, and urllib3's ``reason`` or an exception argument."""
    todo, seen = [exc], set()
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        inner = [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
        todo.extend(e for e in inner if isinstance(e, BaseException))


def transport_reason(exc: BaseException) -> str:
    """Why a request got no answer, in words, rather than the HTTP library's text about its own internals.

    :param exc: what ``requests`` or ``httpx`` raised.
    :return: e.g. ``connection refused``, ``host name not found``; the library's text when none fits.
    """
    for cause in _chain(exc):
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused (nothing listens at that address)"
        if isinstance(cause, (socket.gaierror, NameResolutionError)):
            return "host name not found"
        if isinstance(cause, ssl.SSLError):
            return f"TLS handshake failed ({cause.reason or type(cause).__name__})"
        if isinstance(cause, (TimeoutError, requests.Timeout, httpx.TimeoutException)):
            return "no answer in time"
    return _short(exc)


@dataclass(frozen=True)
class Request:
    """One API request as both transports send it, and how its answer is read.

    :param method: HTTP method.
    :param path: API path, ids already quoted (see :func:`seg`).
    :param params: query parameters; booleans are lowercased and None values dropped.
    :param body: JSON request body.
    :param idempotent: whether sending it twice is harmless, so 5xx and dropped connections may be retried;
        None means "only if it is a GET".
    :param decode: reads a successful body (default: JSON).
    :param model: the shape the decoded body must have; it is returned as this model.
    :param budget: seconds the request may take in all, retries included, when less than the hook's timeout
        and retry budget (a read that is only nice to have, such as a pool's progress); None: the hook's.
    """

    method: str
    path: str
    params: Mapping[str, Any] | None = None
    body: bytes | None = None
    idempotent: bool | None = None
    decode: Callable[[int, bytes], Any] | None = None
    model: type[BaseModel] | None = None
    budget: float | None = None

    @property
    def what(self) -> str:
        """``METHOD /path``, for messages."""
        return f"{self.method} {self.path}"

    @property
    def safe(self) -> bool:
        """Whether the request may be repeated after Toloka might have seen it."""
        return self.method == "GET" if self.idempotent is None else self.idempotent

    @property
    def query(self) -> dict[str, str] | None:
        """The query string as sent."""
        return _query(self.params)

    @property
    def headers(self) -> dict[str, str] | None:
        """Headers of this request beyond the session's own."""
        return {"Content-Type": "application/json"} if self.body is not None else None

    def interpret(self, status: int, content: bytes, headers: Mapping[str, str]) -> Any:
        """Turn an answer into the decoded body or the typed error.

        :param status: HTTP status.
        :param content: body bytes.
        :param headers: response headers (``Retry-After``).
        :return: the decoded body, as ``model`` when one is set.
        :raises TolokaApiError: for an error status.
        :raises TolokaUnexpectedResponseError: for a body of another shape than ``model``.
        """
        if status >= 400:
            raise error_from_response(status, content, headers)
        data = (self.decode or json_body)(status, content)
        return data if self.model is None else parse_body(self.model, data, self.what)

    def unsendable(self, base_url: str, exc: BaseException) -> TolokaError:
        """The error for a request the HTTP library refused to build; its message is not repeated.

        :param base_url: where Toloka was looked for.
        :param exc: what the HTTP library raised.
        :return: the error to raise (``from None``: the library's message may quote the token).
        """
        return TolokaError(
            f"could not send {self.what} to Toloka at {base_url}: the HTTP client refused to build the request "
            f"({type(exc).__name__}); check the connection's token and host"
        )

    def unreachable(self, base_url: str, exc: BaseException) -> TolokaRemoteUnavailableError:
        """The error for a request that got no answer.

        :param base_url: where Toloka was looked for.
        :param exc: what the HTTP library raised.
        :return: the error to raise.
        """
        return TolokaRemoteUnavailableError(
            f"could not reach Toloka at {base_url} ({self.what}): {transport_reason(exc)}"
        )


def seg(value: str) -> str:
    """One URL path segment: an id can never change which endpoint is called.

    :param value: an id.
    :return: the id, percent-quoted.
    """
    return quote(str(value), safe="")


# A request these libraries refuse to build (a header or URL they reject) fails the same way every time, and their
# messages quote the offending value, which may be the token: never retried, never echoed.
_UNSENDABLE_SYNC = (
    requests.exceptions.InvalidHeader,
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidSchema,
    requests.exceptions.MissingSchema,
)
_UNSENDABLE_ASYNC = (httpx.LocalProtocolError, httpx.UnsupportedProtocol, httpx.InvalidURL)
_UNSENDABLE = _UNSENDABLE_SYNC + _UNSENDABLE_ASYNC


def _never_sent_sync(exc: BaseException) -> bool:
    """Whether ``requests`` failed before the request could reach Toloka (connect refused, DNS, connect timeout)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError) and exc.args:
        # requests wraps urllib3's MaxRetryError, whose ``reason`` is the failure of the connection itself;
        # NameResolutionError is a NewConnectionError too.
        reason = getattr(exc.args[0], "reason", exc.args[0])
        return isinstance(reason, NewConnectionError)
    return False


def _never_sent_async(exc: BaseException) -> bool:
    """Whether ``httpx`` failed before the request could reach Toloka."""
    return isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))


def _capped(timeout: httpx.Timeout, budget: float) -> httpx.Timeout:
    """The client's timeouts, none longer than a request's budget."""
    read = budget if timeout.read is None else min(timeout.read, budget)
    connect = budget if timeout.connect is None else min(timeout.connect, budget)
    return httpx.Timeout(read, connect=connect)


# What a response's stream is replaced with once its body has been read; never read itself.
_READ = httpx.ByteStream(b"")


async def _aonce(client: httpx.AsyncClient, base_url: str, request: Request) -> Any:
    """Send ``request`` once over ``client`` and interpret the answer.

    :param client: the loop's shared client.
    :param base_url: where Toloka is.
    :param request: what to send.
    :return: the decoded body.
    :raises TolokaApiError: the typed error of Toloka's answer.
    :raises httpx.HTTPError: when the request got no answer (mapped by the caller).
    """
    resp = await client.request(
        request.method,
        base_url + request.path,
        params=request.query,
        content=request.body,
        headers=request.headers,
        timeout=httpx.USE_CLIENT_DEFAULT
        if request.budget is None
        else _capped(client.timeout, request.budget),
    )
    # httpx leaves a read response and its stream referring to each other; with that cycle cut the response,
    # its request and their headers are freed now rather than by a collection (docs/performance.md,
    # "Pool triggers").
    resp.stream = _READ
    return request.interpret(resp.status_code, resp.content, resp.headers)


class TransportKwargs(TypedDict, total=False):
    """The transport settings of :class:`BaseTolokaHook`, for subclasses that pass them on."""

    timeout: float
    retry_limit: int
    retry_delay: float
    retry_budget: float


class BaseTolokaHook(BaseHook):
    """Connection, auth and transport for the Toloka API, with one retry policy for the sync and async paths.

    Use ``with hook:`` on a worker and ``async with hook:`` in a trigger: each closes what it opened.

    :param toloka_conn_id: Airflow connection id.
    :param timeout: read timeout of one HTTP request, seconds.
    :param retry_limit: retries of one request on 429, 5xx and network errors.
    :param retry_delay: base of the exponential backoff, seconds.
    :param retry_budget: total seconds one request may spend retrying.
    """

    conn_name_attr = "toloka_conn_id"
    default_conn_name = DEFAULT_CONN_ID
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
    ) -> None:
        super().__init__()
        self.toloka_conn_id = toloka_conn_id
        self.timeout = timeout
        self.retry_limit = retry_limit
        self.retry_delay = retry_delay
        self.retry_budget = retry_budget
        self._settings: ConnectionSettings | None = None
        self._session: requests.Session | None = None
        self._alease: Lease | None = None  # this hook's claim on its event loop's shared client
        self._lock = threading.Lock()
        self._alock: asyncio.Lock | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(toloka_conn_id={self.toloka_conn_id!r})"

    # ------------------------------------------------------------------ connection

    def resolve_connection(self) -> ConnectionSettings:
        """Read the Airflow connection once (on first use, never in ``__init__``) and mask its token.

        :return: base URL and auth header.
        :raises TolokaError: when the connection has no token or a bad URL or environment.
        """
        if self._settings is None:
            from airflow.sdk.log import mask_secret

            conn = self.get_connection(self.toloka_conn_id)
            settings = settings_from_connection(conn)
            mask_secret(conn.password)
            self._settings = settings
        return self._settings

    async def aresolve_connection(self) -> ConnectionSettings:
        """Async twin of :meth:`resolve_connection`, shared by every hook of the event loop for a short while.

        A triggerer with a thousand triggers then makes one lookup, not a thousand; a trigger calls this first
        so that a connection the triggerer cannot resolve fails at once, not after a wait.

        :return: base URL and auth header.
        :raises TolokaError: when the connection has no token or a bad URL or environment.
        """
        return await loop_shared().settings((type(self), self.toloka_conn_id), self._alookup)

    async def _alookup(self) -> ConnectionSettings:
        # Airflow 3.2 has no async masking: version_compat keeps the blocking parts off the loop there.
        conn = await aget_connection(self, self.toloka_conn_id)
        settings = settings_from_connection(conn)
        await amask_secret(conn.password)
        return settings

    @property
    def base_url(self) -> str:
        """Root of the API host (without ``/api``), e.g. ``https://toloka.dev``."""
        return self.resolve_connection().base_url

    def test_connection(self) -> tuple[bool, str]:
        """Check the token and URL by reading the requester profile (the Airflow UI's Test button).

        One attempt within :data:`TEST_TIMEOUT` seconds, no retries: a person waits for the answer.

        :return: whether it worked, and a sentence saying where and as whom, or what went wrong.
        """
        probe = type(self)(
            self.toloka_conn_id, timeout=TEST_TIMEOUT, retry_limit=0, retry_budget=TEST_TIMEOUT
        )
        try:
            base_url = probe.base_url
        except TolokaError as exc:
            return False, str(exc)
        try:
            with probe:
                requester = probe._send(Request("GET", "/api/v1/requester", budget=TEST_TIMEOUT))
        except TolokaAuthenticationError as exc:
            return False, f"Toloka at {base_url} does not accept this API token. {exc}"
        except TolokaAccessDeniedError as exc:
            return False, f"Toloka at {base_url} refused this API token access to the requester. {exc}"
        except TolokaRemoteUnavailableError as exc:
            return False, f"Could not reach Toloka at {base_url}: {transport_reason(exc.__cause__ or exc)}."
        except TolokaError as exc:
            return False, str(exc)
        name = (requester.get("public_name") or {}).get("EN") or requester.get("id")
        return True, f"Connected to Toloka at {base_url} as {name}."

    def _http_pool_size(self) -> int:
        """Connections the worker-side session keeps open."""
        return 10

    def get_conn(self) -> requests.Session:
        """The pooled HTTP session of this hook's worker-side calls.

        :return: a ``requests`` session carrying the auth header.
        :raises TolokaError: when the connection cannot be resolved.
        """
        with self._lock:
            if self._session is None:
                session = requests.Session()
                adapter = HTTPAdapter(pool_connections=1, pool_maxsize=self._http_pool_size())
                session.mount("http://", adapter)
                session.mount("https://", adapter)
                session.headers.update(self.resolve_connection().headers())
                self._session = session
            return self._session

    def close(self) -> None:
        """Release the worker-side pooled connections (the session is recreated on next use)."""
        if self._session is not None:
            self._session.close()
            self._session = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def aclose(self) -> None:
        """Give back this hook's share of the loop's client (the last user closes it)."""
        lease, self._alease = self._alease, None
        if lease is not None:
            await loop_shared().release(lease)  # a lease of another loop is dropped there

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ retries

    def _retrying_kwargs(
        self,
        what: str,
        safe: bool,
        never_sent: Callable[[BaseException], bool],
        transport_error: type[Exception],
        spent: float = 0.0,
        budget: float | None = None,
    ) -> dict[str, Any]:
        """The retry policy of both transports; they differ only in how they tell a request never left.

        It takes the request's description, never the request: tenacity keeps its policy in a reference cycle,
        and a body referenced from there would outlive the call until a full garbage collection. ``spent`` is
        the part of the retry budget already used when the policy is built after a first attempt; ``budget`` a
        request's own, smaller one (:attr:`Request.budget`).
        """
        limit = self.retry_budget if budget is None else min(self.retry_budget, budget)

        def should_retry(exc: BaseException) -> bool:
            if isinstance(exc, _UNSENDABLE):
                return False
            if isinstance(exc, TolokaTooManyRequestsError):
                # A limit that lifts only after the budget (an hourly or daily one) is not waited for here: the
                # caller (a deferrable operator, Airflow's retry) is the better place to wait that long.
                return exc.retry_after is None or exc.retry_after <= limit
            if never_sent(exc):
                return True  # Toloka did nothing with the request
            if not safe:
                return False  # Toloka may have acted on it: repeating could create duplicates
            return isinstance(exc, (TolokaRemoteUnavailableError, transport_error))

        backoff = tenacity.wait_random_exponential(multiplier=self.retry_delay, max=60)

        def wait(state: tenacity.RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, TolokaTooManyRequestsError) and exc.retry_after is not None:
                return min(exc.retry_after, limit)
            return float(backoff(state))

        def before_sleep(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            sleep = state.next_action.sleep if state.next_action else 0
            self.log.warning(
                "Toloka %s failed (%s); retry %d/%d in %.1fs",
                what,
                "unknown error" if exc is None else transport_reason(exc),
                state.attempt_number,
                self.retry_limit,
                sleep,
            )

        return {
            "retry": tenacity.retry_if_exception(should_retry),
            # a backoff that would end past the budget is not slept: Toloka's last answer, within the budget
            "stop": tenacity.stop_after_attempt(self.retry_limit + 1)
            | tenacity.stop_before_delay(limit - spent),
            "wait": wait,
            "before_sleep": before_sleep,
            "reraise": True,
        }

    # ------------------------------------------------------------------ sending

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Shorthand for ``_send(Request(method, path, **kwargs))``."""
        return self._send(Request(method, path, **kwargs))

    async def _arequest(self, method: str, path: str, **kwargs: Any) -> Any:
        """Shorthand for ``_asend(Request(method, path, **kwargs))``."""
        return await self._asend(Request(method, path, **kwargs))

    def _pages(self, path: str, params: Mapping[str, Any], key: str = "id") -> Iterator[list[dict[str, Any]]]:
        """Page through one of Toloka's searches: ``sort=<key>`` and a ``<key>_gt`` cursor, never offsets (objects
        keep appearing while a pool runs).

        :param path: the search path.
        :param params: filters and ``limit``.
        :param key: the unique key pages are sorted and continued by (``task_id`` for aggregated answers).
        :return: the non-empty pages, as Toloka sends their items.
        """
        query = {**params, "sort": key}
        while True:
            page = self._request("GET", path, params=query)
            items = page.get("items", []) if isinstance(page, Mapping) else []
            if items:
                yield items
            if not items or not page.get("has_more"):
                return
            query[f"{key}_gt"] = str(items[-1][key])

    def _send(self, request: Request) -> Any:
        """Send a request from a worker over the pooled session, with retries.

        :param request: what to send.
        :return: the decoded body.
        :raises TolokaApiError: the typed error of Toloka's answer, or when Toloka cannot be reached.
        """
        session = self.get_conn()
        base_url = self.resolve_connection().base_url
        budget = request.budget
        timeout = (
            (CONNECT_TIMEOUT, self.timeout)
            if budget is None
            else (min(CONNECT_TIMEOUT, budget), min(self.timeout, budget))
        )

        def once() -> Any:
            resp = session.request(
                request.method,
                base_url + request.path,
                params=request.query,
                data=request.body,
                headers=request.headers,
                timeout=timeout,
            )
            return request.interpret(resp.status_code, resp.content, resp.headers)

        policy = self._retrying_kwargs(
            request.what, request.safe, _never_sent_sync, requests.RequestException, budget=budget
        )
        try:
            return tenacity.Retrying(**policy)(once)
        except _UNSENDABLE_SYNC as exc:
            raise request.unsendable(base_url, exc) from None
        except requests.RequestException as exc:
            raise request.unreachable(base_url, exc) from exc

    async def _asend(self, request: Request) -> Any:
        """Async twin of :meth:`_send` for the triggerer, over the event loop's shared client.

        The first attempt is made without the retry policy, and only a failure builds it: a poll that succeeds
        leaves nothing for the garbage collector (docs/performance.md, "Pool triggers").

        :param request: what to send.
        :return: the decoded body.
        :raises TolokaApiError: the typed error of Toloka's answer, or when Toloka cannot be reached.
        """
        settings = await self.aresolve_connection()
        lease = await self._alease_for(settings)
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            try:
                # Wait for a slot before building anything (docs/performance.md, "Triggers").
                async with lease.slots:
                    return await _aonce(lease.client, settings.base_url, request)
            except Exception as exc:
                failure = exc
            return await self._aretry(request, lease, settings.base_url, failure, loop.time() - started)
        except _UNSENDABLE_ASYNC as exc:
            raise request.unsendable(settings.base_url, exc) from None
        except httpx.TransportError as exc:
            raise request.unreachable(settings.base_url, exc) from exc

    async def _aretry(
        self, request: Request, lease: Lease, base_url: str, failure: Exception, spent: float
    ) -> Any:
        """Retry a request whose first attempt failed, under the policy of :meth:`_retrying_kwargs`.

        :param request: what to send.
        :param lease: the loop's client and its slots; an attempt holds a slot, a backoff none.
        :param base_url: where Toloka is.
        :param failure: what the first attempt raised.
        :param spent: seconds the first attempt took: they count against the retry budget.
        :return: the decoded body.
        :raises Exception: ``failure`` when it is not worth a retry, else the last attempt's error.
        """
        first: Exception | None = failure

        async def attempt() -> Any:
            nonlocal first
            if first is not None:
                # tenacity's first attempt is the one already made: its failure is judged, not repeated.
                exc, first = first, None
                raise exc
            async with lease.slots:
                return await _aonce(lease.client, base_url, request)

        policy = self._retrying_kwargs(
            request.what, request.safe, _never_sent_async, httpx.TransportError, spent, request.budget
        )
        return await tenacity.AsyncRetrying(**policy)(attempt)

    async def _alease_for(self, settings: ConnectionSettings) -> Lease:
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

    def _new_async_client(self, settings: ConnectionSettings) -> httpx.AsyncClient:
        limits = httpx.Limits(
            max_connections=MAX_SHARED_REQUESTS, max_keepalive_connections=MAX_SHARED_REQUESTS
        )
        return httpx.AsyncClient(
            headers=settings.headers(),
            timeout=httpx.Timeout(self.timeout, connect=CONNECT_TIMEOUT),
            limits=limits,
        )
