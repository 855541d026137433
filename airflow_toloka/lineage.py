"""No I/O: what the operators report to OpenLineage, as datasets named the way Airflow's own providers name them.

A Toloka pool is ``toloka://<API host>`` / ``pools/<pool id>``: the host (with its port, never a credential:
:mod:`airflow_toloka.hooks.connection` refuses a URL holding one) tells production, the sandbox, the emulator and a
proxy apart, and the id is unique within one host. A file is named as Airflow's common-io and cloud providers name
the assets their ``ObjectStoragePath`` reads and writes report: a local file ``file`` / its absolute path, an object
``<scheme>://<bucket>`` / its key (the Airflow connection id of ``s3://conn@bucket/key`` is not part of the name),
so a downstream task that reads the same file through ``ObjectStoragePath`` joins the same node of the graph.

Nothing here imports OpenLineage at module level: only :func:`operator_lineage` does, when the OpenLineage provider
calls an operator's ``get_openlineage_facets_on_complete``; without the provider that never happens.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage

__all__ = ["LineageDataset", "file_dataset", "operator_lineage", "pool_dataset", "toloka_namespace"]

# The scheme a bucket is named under when fsspec offers several spellings for one store.
_SCHEMES = {"gcs": "gs", "s3a": "s3", "s3n": "s3"}


@dataclass(frozen=True)
class LineageDataset:
    """One OpenLineage dataset: where it lives (namespace) and what it is there (name).

    :param namespace: e.g. ``toloka://toloka.dev``, ``file`` or ``s3://bucket``.
    :param name: e.g. ``pools/1001``, ``/data/tasks.tsv`` or ``labels/2026-11-01.jsonl``.
    """

    namespace: str
    name: str


def toloka_namespace(base_url: str) -> str:
    """The namespace of everything on one Toloka API host.

    :param base_url: the API root the hook talks to, e.g. ``https://toloka.dev`` or ``http://127.0.0.1:8765``.
    :return: ``toloka://<host[:port]>``.
    :raises ValueError: for a URL without a host.
    """
    parts = urlsplit(base_url)
    host = parts.netloc.rpartition("@")[2]  # defensive: a base URL never carries a user, but a name must not
    if not host:
        raise ValueError(f"not an API URL with a host: {base_url!r}")
    return f"toloka://{host.lower()}"


def pool_dataset(base_url: str, pool_id: Any) -> LineageDataset:
    """A Toloka pool as a dataset.

    :param base_url: the API root of the pool's Toloka.
    :param pool_id: the pool's id.
    :return: ``toloka://<host>`` / ``pools/<pool id>``.
    """
    return LineageDataset(toloka_namespace(base_url), f"pools/{pool_id}")


def file_dataset(path: Any) -> LineageDataset:
    """A file as a dataset, local or on any object store, named as Airflow's providers name its asset.

    :param path: a local path (relative to the working directory, as the operators read and write it), a
        ``file://`` URL, an object store URL (``s3://conn@bucket/key``) or an ``ObjectStoragePath``.
    :return: ``file`` / the absolute path, or ``<scheme>://<bucket>`` / the key (``/`` for the bucket itself).
    """
    text = str(path)
    if "://" not in text:
        return LineageDataset("file", os.path.abspath(text))
    parts = urlsplit(text)
    scheme = _SCHEMES.get(parts.scheme.lower(), parts.scheme.lower())
    # What stands before "@" is an Airflow connection id (or a credential): never part of a dataset's name.
    host = parts.netloc.rpartition("@")[2]
    if scheme == "file":
        name = parts.path or "/"
        return LineageDataset(f"file://{host}" if host and host != "localhost" else "file", name)
    return LineageDataset(f"{scheme}://{host}", parts.path.lstrip("/") or "/")


def operator_lineage(inputs: Iterable[LineageDataset], outputs: Iterable[LineageDataset]) -> OperatorLineage:
    """The OpenLineage provider's ``OperatorLineage`` of these datasets, each once, in order.

    :param inputs: what the task read.
    :param outputs: what the task wrote.
    :return: the lineage (no facets: nothing about the connection, its token least of all).
    :raises ImportError: without the OpenLineage provider.
    """
    from airflow.providers.common.compat.openlineage.facet import Dataset
    from airflow.providers.openlineage.extractors import OperatorLineage

    def datasets(items: Iterable[LineageDataset]) -> list[Dataset]:
        return [Dataset(namespace=d.namespace, name=d.name) for d in dict.fromkeys(items)]

    return OperatorLineage(inputs=datasets(inputs), outputs=datasets(outputs))
