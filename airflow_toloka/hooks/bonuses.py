"""User bonuses: paying Tolokers extra, in batches, exactly once per idempotency key; and reading bonuses back.

:class:`BonusesMixin` gives toloka-kit's method names to the upload machinery of
:class:`~airflow_toloka.hooks.uploads.UploadsMixin`, the same that uploads tasks. Bonuses are money that cannot
be taken back, so the default is the only mode Toloka makes idempotent (docs/toloka-api.md M2): async operations
under deterministic ids (the idempotency key, the batch number and its content). A retried call with the same key
and bonuses finds the operations the first call made (409 ``OPERATION_ALREADY_EXISTS``) and pays nothing twice;
a POST whose answer was lost is sent again under the same id, with the same effect.

Sync mode (``async_mode=False``) carries no operation id and Toloka does not deduplicate it: a request that may
have reached Toloka is never repeated, only one that certainly did not (a refused connection, a 429).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import timedelta
from typing import Any

from airflow_toloka.batching import USER_BONUSES, CreateOptions
from airflow_toloka.hooks.base import seg
from airflow_toloka.hooks.operations import Timeout
from airflow_toloka.hooks.uploads import UploadsMixin
from airflow_toloka.models import BatchCreateResult, Operation, UserBonus

__all__ = ["BonusesMixin"]

_PAGE = 300  # Toloka's largest page of user bonuses


class BonusesMixin(UploadsMixin):
    """User bonuses with toloka-kit's method names: issue them in batches, at most once per idempotency key, and
    read them back.

    :param toloka_conn_id: Airflow connection id.
    :param max_in_flight: batches submitted and awaited concurrently.
    :param poll_interval: longest pause between two status polls of an operation, seconds.
    :param transport: ``timeout``, ``retry_limit``, ``retry_delay``, ``retry_budget``.
    """

    def create_user_bonus(
        self,
        user_bonus: UserBonus | Mapping[str, Any],
        *,
        async_mode: bool = True,
        idempotency_key: str | None = None,
    ) -> UserBonus:
        """Pay one bonus and read it back.

        :param user_bonus: ``user_id``, ``amount`` (USD, at least 0.005), a message or ``without_message``.
        :param async_mode: True (default): an async operation whose id comes from ``idempotency_key``, so a retry
            with the same key pays once. False: one sync request, which Toloka does not deduplicate.
        :param idempotency_key: what makes a repeated call find the first one's operation (random when omitted).
        :return: the bonus as Toloka stored it (with ``id`` and ``created``).
        :raises TolokaInputError: when the bonus is invalid (nothing is sent).
        :raises TolokaValidationError: when Toloka rejects it (unknown Toloker, amount out of range …).
        :raises TolokaEntityConflictError: when Toloka refuses it as a duplicate.
        """
        return self._create_one(  # type: ignore[no-any-return]
            USER_BONUSES, user_bonus, CreateOptions(), async_mode=async_mode, idempotency_key=idempotency_key
        )

    def create_user_bonuses(
        self,
        user_bonuses: Iterable[UserBonus | Mapping[str, Any]],
        *,
        skip_invalid_items: bool = False,
        async_mode: bool = True,
        batch_size: int | None = None,
        idempotency_key: str | None = None,
        timeout: Timeout = timedelta(hours=1),
    ) -> BatchCreateResult:
        """Pay many bonuses in batches and map each input position to the bonus created.

        Async (the default), each batch is one ``USER_BONUS.BATCH_CREATE`` operation whose id comes from
        ``idempotency_key``, the batch number, its content and ``skip_invalid_items``: calling again with the same
        key and bonuses (an Airflow retry) re-attaches to the operations already made and pays nothing twice. Give
        a key that names the payment (``dag_id/run_id/task_id``); without one a random key makes the call
        unrepeatable. Every bonus of a list is validated before the first request. Batches are independent: a
        batch Toloka refuses pays nothing, the others are paid. The key covers the same bonuses only: a batch whose
        content changed (a bonus removed or fixed shifts every later batch) is a new operation and is paid again,
        so after changing the bonuses pay the rest under a new key, leaving out what ``items`` says was paid.

        :param user_bonuses: models or dicts, any iterable.
        :param skip_invalid_items: pay the valid bonuses and report the rejected ones in ``validation_errors``
            (an error is raised only when nothing was paid); False (default): a batch with a rejected bonus pays
            nothing, and the error names every rejected bonus by input index.
        :param async_mode: False sends sync requests of at most 100 bonuses, which Toloka does not deduplicate: a
            request that may have reached Toloka is not repeated.
        :param batch_size: bonuses per request (default and most: 1,000 async, 100 sync).
        :param idempotency_key: what makes a repeated call find the first one's operations.
        :param timeout: how long to wait for each batch's operation.
        :return: created bonus ids and rejections, by input index.
        :raises TolokaInputError: for invalid or empty input (nothing of a list is sent).
        :raises TolokaValidationError: when Toloka rejects bonuses and ``skip_invalid_items`` is not set.
        :raises TolokaEntityConflictError: when Toloka refuses a batch holding two identical bonuses for one
            Toloker (same amount, title, message and comment); that batch pays nothing.
        :raises TolokaTimeoutError: when an operation is still running at the timeout (a retry re-attaches).
        """
        return self.create_objects(
            USER_BONUSES,
            user_bonuses,
            options=CreateOptions(skip_invalid_items=skip_invalid_items),
            async_mode=async_mode,
            batch_size=batch_size,
            idempotency_key=idempotency_key,
            timeout=timeout,
        )

    def create_user_bonuses_async(
        self,
        user_bonuses: Iterable[UserBonus | Mapping[str, Any]],
        *,
        skip_invalid_items: bool = False,
        operation_id: str | None = None,
    ) -> Operation:
        """Start one ``USER_BONUS.BATCH_CREATE`` operation (at most 1,000 bonuses) and return without waiting.

        :param user_bonuses: the bonuses.
        :param skip_invalid_items: pay the valid ones even when some are rejected.
        :param operation_id: the operation's id, which makes it idempotent: sent again, it finds the operation
            already made. Random when omitted (as in toloka-kit), which makes the call unrepeatable.
        :return: the operation (its log, :meth:`operation_results`, says what was paid).
        :raises TolokaInputError: for invalid, empty or too many bonuses (nothing is sent).
        :raises TolokaEntityConflictError: when Toloka refuses two identical bonuses for one Toloker.
        """
        options = CreateOptions(skip_invalid_items=skip_invalid_items)
        return self._submit_one(USER_BONUSES, user_bonuses, options, operation_id=operation_id)

    def get_user_bonus(self, user_bonus_id: str) -> UserBonus:
        """Read a bonus.

        :param user_bonus_id: the bonus id.
        :return: the bonus.
        :raises TolokaDoesNotExistError: when Toloka has no such bonus.
        """
        bonus: UserBonus = self._request("GET", f"{USER_BONUSES.path}/{seg(user_bonus_id)}", model=UserBonus)
        return bonus

    def get_user_bonuses(self, **filters: Any) -> Iterator[UserBonus]:
        """Every bonus matching Toloka's search, lazily, paged by id (300 a page).

        :param filters: query parameters of ``GET /user-bonuses``: ``user_id``, ``assignment_id``,
            ``private_comment``, ``id_gt`` …, ``created_gte`` ….
        :return: the bonuses in id order, one page in memory at a time.
        """
        for page in self._pages(USER_BONUSES.path, {**filters, "limit": _PAGE}):
            yield from (UserBonus.model_validate(raw) for raw in page)
