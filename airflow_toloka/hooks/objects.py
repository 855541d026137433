"""The machinery of projects, pools and trainings: find-or-create, search, actions, clones.

:class:`ObjectsMixin` builds on :class:`~airflow_toloka.hooks.operations.OperationsMixin`; the projects, pools and
trainings mixins build on it.

Creating a project, a pool or a training and cloning a pool are not idempotent in Toloka (no operation id): a
repeated POST makes a second object. So, given an ``idempotency_key``, the hook tags what it creates
(``metadata["airflow_toloka_key"]``), looks for a tagged object before creating, and after an ambiguous failure
(5xx or no answer, Toloka may have created it) looks again before sending anything twice. The transport never
retries these POSTs by itself once they may have reached Toloka.

A tagged object is found whatever its status: an archived pool is what the first run of a finished date made,
and making another would pay the crowd again. ``create_or_update_*`` also compare the object found with the spec
given now (:func:`~airflow_toloka.specs.changed_fields`) and update it where Toloka allows, or refuse naming the
fields, so that an edited spec is never silently ignored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection, Iterator, Mapping
from typing import Any, TypeVar

from airflow_toloka.exceptions import (
    TolokaError,
    TolokaInputError,
    TolokaRemoteUnavailableError,
    json_body,
)
from airflow_toloka.hooks.base import Request, seg
from airflow_toloka.hooks.operations import OperationsMixin, Timeout
from airflow_toloka.models import (
    POOLS,
    READ_ONLY_FIELDS,
    ObjectKind,
    Operation,
    TolokaModel,
    compact_json,
    parse_body,
)
from airflow_toloka.specs import changed_fields

__all__ = [
    "KEY_TAG",
    "ObjectsMixin",
    "create_body",
    "tag_of",
    "with_tag",
]

KEY_TAG = "airflow_toloka_key"
"""The ``metadata`` key under which created objects carry their idempotency key."""

_PAGE = 300  # Toloka's largest page for pools, projects and trainings
M = TypeVar("M", bound=TolokaModel)


def create_body(obj: TolokaModel | Mapping[str, Any], model: type[M]) -> M:
    """A caller's object as a request body: read-only fields dropped (Toloka ignores them; a copy must not keep ids).

    :param obj: a model or a dict.
    :param model: the wire model.
    :return: the body as the model.
    :raises pydantic.ValidationError: when it does not fit the model.
    """
    data = obj.to_json_dict() if isinstance(obj, TolokaModel) else dict(obj)
    for key in READ_ONLY_FIELDS:
        data.pop(key, None)
    return model.model_validate(data)


def tag_of(obj: TolokaModel) -> str | None:
    """The idempotency key an object was created with.

    :param obj: a project, pool or training.
    :return: the key, or None for an object this provider did not tag.
    """
    values = (getattr(obj, "metadata", None) or {}).get(KEY_TAG)
    if isinstance(values, list) and values:
        return str(values[0])
    return None


def with_tag(obj: M, key: str | None) -> M:
    """A copy of an object carrying an idempotency key in its ``metadata``.

    :param obj: a project, pool or training.
    :param key: the key; None leaves the object as it is.
    :return: the tagged copy.
    """
    if key is None:
        return obj
    metadata = dict(getattr(obj, "metadata", None) or {})
    metadata[KEY_TAG] = [key]
    return obj.model_copy(update={"metadata": metadata})


class ObjectsMixin(OperationsMixin):
    """The machinery of projects, pools and trainings: find-or-create by a metadata tag, id-paged search, actions
    (204 = already there) and clones. Not an area of the API: :class:`~airflow_toloka.hooks.projects.
    ProjectsMixin` and :class:`~airflow_toloka.hooks.pools.PoolsMixin` build on it.

    :param toloka_conn_id: Airflow connection id.
    :param max_in_flight: requests of one call run concurrently.
    :param poll_interval: longest pause between two status polls of an operation, seconds.
    :param transport: ``timeout``, ``retry_limit``, ``retry_delay``, ``retry_budget``.
    """

    def _create(self, kind: ObjectKind, body: M, key: str | None, scope: Mapping[str, Any]) -> M:
        """POST a new object once: find it by its key first, and never send it twice within one call."""
        if key is not None:
            found = self._find_tagged(kind, key, scope)
            if found is not None:
                self._log_found(kind, found, key)
                return found  # type: ignore[return-value]
        return self._post(kind, body, key, scope)

    def _post(self, kind: ObjectKind, body: M, key: str | None, scope: Mapping[str, Any]) -> M:
        """POST a new object tagged with its key, once.

        After an ambiguous failure (a 5xx or a lost answer: Toloka may have created it) the object is looked for
        once more; when it is not (yet) listed, the error is raised rather than the POST repeated, because a
        second POST seconds later could make a twin that a list lagging behind had hidden. The next try (an
        Airflow retry, minutes later) looks again first.
        """
        sent = compact_json(with_tag(body, key).to_json_dict()).encode()
        try:
            return self._send(Request("POST", kind.path, body=sent, idempotent=False, model=kind.model))  # type: ignore[no-any-return]
        except TolokaRemoteUnavailableError as exc:
            found = self._find_tagged(kind, key, scope) if key is not None else None
            if found is not None:
                return found  # type: ignore[return-value]
            hint = (
                "a retry with the same key looks for it before creating" if key else "no key to look it up by"
            )
            raise TolokaRemoteUnavailableError(
                f"creating a Toloka {kind.item} got no clear answer ({exc}); Toloka may or may not have created "
                f"it: {hint}",
                http_status=exc.http_status,
                code=exc.code,
            ) from exc

    def _create_or_update(
        self,
        kind: ObjectKind,
        body: M,
        key: str,
        scope: Mapping[str, Any],
        *,
        update: Callable[[str, Any], TolokaModel],
        editable: Collection[str],
        keep: Collection[str] = (),
    ) -> TolokaModel:
        """Find the object made under the key and apply the given spec to it, or create it.

        :param kind: what it is.
        :param body: the spec given now.
        :param key: the idempotency key.
        :param scope: the search that lists it.
        :param update: ``PUT`` (object id, new object).
        :param editable: the statuses in which Toloka lets it be replaced.
        :param keep: top-level fields not compared, and kept as found in an update (a relative ``will_expire``).
        :return: the object created, found unchanged, or updated.
        :raises TolokaInputError: when it differs and its status forbids an update; nothing is changed.
        """
        found = self._find_tagged(kind, key, scope)
        if found is None:
            return self._post(kind, body, key, scope)
        given, held = body.to_json_dict(), found.to_json_dict()
        changed = changed_fields(given, held, ignore={f"metadata.{KEY_TAG}", *keep})
        found_id, status = str(getattr(found, "id", "")), getattr(found, "status", None)
        if not changed:
            self._log_found(kind, found, key)
            return found
        fields = ", ".join(changed)
        if status not in editable:
            raise TolokaInputError(
                f"Toloka {kind.item} {found_id} (idempotency key {key!r}) is {status} and differs from the given "
                f"spec in: {fields}. Toloka changes a {kind.item} only while it is {' or '.join(editable)}, so "
                f"nothing was changed. {_what_to_do(kind, str(status), key)}"
            )
        merged = {**held, **given}
        for name in keep:
            if name in held:
                merged[name] = held[name]
            else:
                merged.pop(name, None)
        updated = update(found_id, with_tag(create_body(merged, kind.model), key))
        self.log.info(
            "Toloka %s %s (idempotency key %r) was made by an earlier run and differed from the given spec in: "
            "%s; updated it",
            kind.item,
            found_id,
            key,
            fields,
        )
        return updated

    def _log_found(self, kind: ObjectKind, found: TolokaModel, key: str) -> None:
        status = getattr(found, "status", None)
        self.log.info(
            "Toloka %s %s (%s) was created earlier under key %r; reusing it",
            kind.item,
            getattr(found, "id", None),
            status,
            key,
        )

    def _get(self, kind: ObjectKind, object_id: str) -> Any:
        """Read one object of a kind (a 404 is :class:`~airflow_toloka.exceptions.TolokaDoesNotExistError`)."""
        return self._request("GET", f"{kind.path}/{seg(object_id)}", model=kind.model)

    def _put(self, kind: ObjectKind, object_id: str, obj: TolokaModel | Mapping[str, Any]) -> Any:
        """Replace one object (``PUT`` sends the whole object, read-only fields left out)."""
        body = compact_json(create_body(obj, kind.model).to_json_dict()).encode()
        return self._request("PUT", f"{kind.path}/{seg(object_id)}", body=body, model=kind.model)

    def _find(self, kind: ObjectKind, filters: Mapping[str, Any]) -> Iterator[TolokaModel]:
        """Every object of a kind matching a search, paged by id."""
        for page in self._pages(kind.path, {**filters, "limit": _PAGE}):
            yield from (kind.model.model_validate(raw) for raw in page)

    async def _afind(self, kind: ObjectKind, filters: Mapping[str, Any]) -> AsyncIterator[TolokaModel]:
        """Async twin of :meth:`_find`, for triggers: paged by an ``id_gt`` cursor, one page in memory."""
        query = {**filters, "limit": _PAGE, "sort": "id"}
        while True:
            page = await self._arequest("GET", kind.path, params=query)
            items = page.get("items", []) if isinstance(page, Mapping) else []
            for raw in items:
                yield kind.model.model_validate(raw)
            if not items or not page.get("has_more"):
                return
            query["id_gt"] = str(items[-1]["id"])

    def _find_tagged(self, kind: ObjectKind, key: str, scope: Mapping[str, Any]) -> TolokaModel | None:
        """The object created with this key, whatever its status; the first in id order is what the first try
        made (Toloka cannot search metadata, so the scope is listed)."""
        for obj in self._find(kind, scope):
            if tag_of(obj) == key:
                return obj
        return None

    def _act(self, kind: ObjectKind, object_id: str, action: str, timeout: Timeout) -> TolokaModel:
        """Run an action to its end and read the object after it."""
        self.finish_operation(self._action(kind, object_id, action), timeout)
        return self._get(kind, object_id)  # type: ignore[no-any-return]

    def _start_clone(self, kind: ObjectKind, object_id: str) -> Operation:
        """POST ``/{id}/clone``, never repeated: Toloka may have started it even when no answer came."""
        path = f"{kind.path}/{seg(object_id)}/clone"
        return self._send(Request("POST", path, idempotent=False, model=Operation))  # type: ignore[no-any-return]

    def _clone(self, kind: ObjectKind, object_id: str, timeout: Timeout) -> TolokaModel:
        """Clone with Toloka's endpoint, wait, and read the copy the operation names in ``details.<kind>_id``."""
        op = self.finish_operation(self._start_clone(kind, object_id), timeout)
        details = op.details if op is not None and isinstance(op.details, Mapping) else {}
        new_id = details.get(kind.id_key)
        if not new_id:
            done = op.id if op is not None else ""
            raise TolokaError(f"{kind.op_prefix}.CLONE {done} finished without details.{kind.id_key}")
        return self._get(kind, str(new_id))  # type: ignore[no-any-return]

    def _action(self, kind: ObjectKind, object_id: str, action: str) -> Operation | None:
        """POST ``/{id}/{action}``: the operation (202), or None (204) when the object is there already."""
        path = f"{kind.path}/{seg(object_id)}/{action}"
        return self._send(Request("POST", path, idempotent=True, decode=_operation_or_none))  # type: ignore[no-any-return]


def _what_to_do(kind: ObjectKind, status: str, key: str) -> str:
    """The way out of a spec that differs from the object a re-run found."""
    if status == "ARCHIVED":
        return (
            f"An archived {kind.item} cannot be changed: restore the spec to reuse it as it is, or give a new "
            f"idempotency_key (e.g. {key + '/2'!r}) to make a new {kind.item}."
        )
    if kind is POOLS:
        return (
            "Close it (ClosePoolOperator, or close_pool_for_update) and run again to update it, restore the spec, "
            "or give a new idempotency_key to make a new pool."
        )
    return f"Restore the spec, or give a new idempotency_key to make a new {kind.item}."


def _operation_or_none(status: int, content: bytes) -> Operation | None:
    """A 204 (already in that state) is None; otherwise the operation."""
    if status == 204 or not content.strip():
        return None
    return parse_body(Operation, json_body(status, content), "operation")
