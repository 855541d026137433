"""Everything that differs between the Airflow versions the provider supports (3.2 and 3.3), in one place.

The suite runs on Airflow 3.2.2 (task-sdk 1.2.2) and 3.3.2 (task-sdk 1.3.2); task-sdk 1.3.0 and 1.3.1 (Airflow
3.3.0, 3.3.1) were read to have what 1.3.2 has here.

- **Async secret masking.** ``airflow.sdk.log.amask_secret`` exists from 3.3.0. Airflow 3.2 has only the
  synchronous ``mask_secret``, which tells the supervisor with a blocking send; on the triggerer's event loop
  that send needs a greenback portal in the calling task and is silently dropped without one. On 3.2 it runs
  in a worker thread instead, where the send blocks only that thread.
- **Async connection lookup.** ``BaseHook.aget_connection`` exists on both, but on 3.2 it masks the secrets
  it found with that synchronous ``mask_secret``, on the loop. On 3.2 the synchronous ``get_connection`` runs
  in a worker thread instead (as ``apache-airflow-providers-common-compat``'s ``get_async_connection`` does
  before 3.3.2).
- **``asset_state_store``** (key/value state kept per asset in the metadata DB) is given to an asset watcher's
  trigger from 3.3.0 only. There :func:`asset_state_store` returns it, and the closed-pools trigger keeps its
  cursor in it across triggerer restarts; on 3.2 it returns ``None`` and the cursor lives in the trigger's memory.
- **``task_state_store``** (the task-instance scoped store that survives retries) is in the task context from
  3.3.0 only. On 3.2 :func:`task_state_store` returns ``None``, and an upload's retry relies on its
  deterministic operation ids alone (README, "Supported versions").

Each check looks for the feature itself rather than comparing version numbers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import BaseHook, Connection

__all__ = ["aget_connection", "amask_secret", "asset_state_store", "has_async_masking", "task_state_store"]


def has_async_masking() -> bool:
    """Whether this Airflow masks secrets asynchronously (3.3+), in ``amask_secret`` and ``aget_connection``.

    :return: ``True`` on Airflow 3.3 and later, ``False`` on 3.2.
    """
    import airflow.sdk.log as sdk_log

    return hasattr(sdk_log, "amask_secret")


async def aget_connection(hook: BaseHook | type[BaseHook], conn_id: str) -> Connection:
    """Look a connection up without blocking the event loop, its secrets masked, on every supported Airflow.

    :param hook: the hook (or hook class) whose ``aget_connection`` / ``get_connection`` to use.
    :param conn_id: the connection id.
    :return: the connection.
    :raises airflow.sdk.exceptions.AirflowNotFoundException: when no backend has the connection.
    """
    if has_async_masking():
        return await hook.aget_connection(conn_id)
    return await asyncio.to_thread(hook.get_connection, conn_id)


async def amask_secret(secret: str | None) -> None:
    """Register a secret with Airflow's masker, here and in the supervisor, without blocking the event loop.

    :param secret: the value never to show in logs; nothing to mask when it is empty or ``None``.
    """
    import airflow.sdk.log as sdk_log

    if not secret:
        return
    if hasattr(sdk_log, "amask_secret"):
        await sdk_log.amask_secret(secret)
    else:
        await asyncio.to_thread(sdk_log.mask_secret, secret)


def task_state_store(context: Mapping[str, Any]) -> Any | None:
    """The task instance's ``task_state_store`` (Airflow 3.3+), or ``None`` where Airflow has none.

    :param context: the task context.
    :return: the store (``get`` / ``set`` by key), or ``None`` on Airflow 3.2.
    """
    return context.get("task_state_store")


def asset_state_store(trigger: Any) -> Any | None:
    """The state store of the assets an event trigger watches (Airflow 3.3+), or ``None`` where Airflow has none.

    :param trigger: a ``BaseEventTrigger`` the triggerer runs for an ``AssetWatcher``.
    :return: the store (``aget`` / ``aset`` by key), or ``None`` on Airflow 3.2 and outside an asset watcher.
    """
    return getattr(trigger, "asset_state_store", None)
