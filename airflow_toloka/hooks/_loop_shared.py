"""What the async hooks on one event loop share: connection settings (briefly) and pooled HTTP clients.

One lookup per connection id serves every hook of the loop for ``SETTINGS_TTL`` seconds, and hooks with the
same settings borrow one reference-counted client that its last user closes (docs/performance.md, "Triggers").
Nothing is shared across event loops: an httpx client belongs to the loop that first used it.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

__all__ = ["MAX_SHARED_REQUESTS", "SETTINGS_TTL", "Lease", "LoopShared", "loop_shared"]

# A token rotated in the connection is picked up by running triggers after at most this long.
SETTINGS_TTL = 30.0
# Requests in flight per shared client; callers queue on a semaphore, not in httpcore's pool
# (docs/performance.md, "Triggers").
MAX_SHARED_REQUESTS = 8

V = TypeVar("V")


@dataclass(eq=False)
class Lease:
    """One user's claim on a shared client; give it back with :meth:`LoopShared.release`."""

    key: Hashable = field(repr=False)  # holds the settings, auth header included: never shown
    client: httpx.AsyncClient
    slots: asyncio.Semaphore
    owner: LoopShared = field(repr=False)
    _entry: _Entry = field(repr=False)
    released: bool = False


@dataclass(eq=False)
class _Entry:
    client: httpx.AsyncClient
    slots: asyncio.Semaphore
    users: int = 0


class LoopShared:
    """Per-loop registry; every method must be called from the loop it belongs to."""

    def __init__(self) -> None:
        self._settings: dict[Hashable, tuple[float, Any]] = {}
        self._lookups: dict[Hashable, asyncio.Task[Any]] = {}
        self._clients: dict[Hashable, _Entry] = {}
        self._opening: dict[Hashable, asyncio.Task[Any]] = {}

    async def settings(self, key: Hashable, lookup: Callable[[], Awaitable[V]]) -> V:
        """Settings for ``key``, looked up at most once per ``SETTINGS_TTL`` however many hooks ask at once.

        :param key: what identifies the settings (hook class and connection id).
        :param lookup: the lookup to run when there is no fresh value.
        :return: the settings.
        :raises Exception: whatever the lookup raised (a failure is not remembered).
        """
        cached = self._settings.get(key)
        if cached is not None and time.monotonic() - cached[0] < SETTINGS_TTL:
            return cached[1]

        async def fetch() -> V:
            value = await lookup()
            self._settings[key] = (time.monotonic(), value)
            return value

        return await _single_flight(self._lookups, key, fetch)

    async def acquire(self, key: Hashable, factory: Callable[[], httpx.AsyncClient]) -> Lease:
        """Borrow the open client for ``key``, building it (off the loop) when there is none or it was closed.

        :param key: what identifies the client (settings and timeout).
        :param factory: builds a new client.
        :return: a lease to give back with :meth:`release`.
        """
        while True:
            entry = self._clients.get(key)
            if entry is not None and not entry.client.is_closed:
                break
            if entry is not None:
                # Closed behind our back (e.g. at loop shutdown): never handed out again.
                del self._clients[key]
            # Building a client loads the CA bundle: tens of milliseconds that must not stall the loop.
            client = await _single_flight(self._opening, key, lambda: asyncio.to_thread(factory))
            if key not in self._clients and not client.is_closed:
                self._clients[key] = _Entry(client, asyncio.Semaphore(MAX_SHARED_REQUESTS))
            elif all(e.client is not client for e in self._clients.values()):
                await client.aclose()  # a concurrent build won the slot: this one is never used
        entry.users += 1
        return Lease(key, entry.client, entry.slots, self, entry)

    async def release(self, lease: Lease) -> None:
        """Give a lease back; the last user of a client closes it. Releasing twice is harmless.

        :param lease: a lease from :meth:`acquire`.
        """
        if lease.released or lease.owner is not self:
            return
        lease.released = True
        entry = lease._entry
        entry.users -= 1
        if entry.users > 0:
            return
        if self._clients.get(lease.key) is entry:
            del self._clients[lease.key]
        await entry.client.aclose()


async def _single_flight(
    pending: dict[Hashable, asyncio.Task[Any]], key: Hashable, make: Callable[[], Awaitable[V]]
) -> V:
    """Run ``make`` once for all concurrent callers with the same key; a failure is not remembered."""
    task = pending.get(key)
    if task is None:
        task = asyncio.ensure_future(make())
        pending[key] = task

        def done(t: asyncio.Task[Any]) -> None:
            if pending.get(key) is t:
                del pending[key]
            if not t.cancelled():
                t.exception()  # retrieved here too, so a failure nobody waited for is not reported as lost

        task.add_done_callback(done)
    try:
        # Shielded: one caller being cancelled must not cancel the lookup the others wait for.
        return await asyncio.shield(task)  # type: ignore[no-any-return]
    except Exception as exc:
        # Every waiter re-raises the same object: drop the traceback so it does not grow with each of them.
        error = exc.with_traceback(None)
    raise error


_registry: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopShared] = weakref.WeakKeyDictionary()
_registry_lock = threading.Lock()  # triggerers may run loops in several threads (and tests do)


def loop_shared() -> LoopShared:
    """The registry of the running loop; it goes away with the loop."""
    loop = asyncio.get_running_loop()
    with _registry_lock:
        shared = _registry.get(loop)
        if shared is None:
            shared = _registry[loop] = LoopShared()
        return shared
