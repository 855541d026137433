"""Event-driven runs: export a pool's answers as soon as it closes, whoever closed it.

The asset's watcher runs ``TolokaPoolClosedTrigger`` in the triggerer: it polls the project's closed pools and
turns each new close into an asset event carrying the pool; the events start this DAG, which exports each closed
pool's answers. Pools made and closed in Toloka's own UI count as any other.

Configure ``AIRFLOW_CONN_TOLOKA_DEFAULT`` (see the README), set ``PROJECT_ID`` to your labeling team's project and
``EXPORTS`` to where the answers go (any ``ObjectStoragePath``), and unpause the DAG: the watcher runs while it is
unpaused.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, Asset, AssetWatcher, task

from airflow_toloka.operators import ExportAssignmentsOperator
from airflow_toloka.triggers import TolokaPoolClosedTrigger

PROJECT_ID = "1"
EXPORTS = "file:///tmp/toloka/exports"

pools_closed = Asset(
    "toloka_pools_closed",
    watchers=[
        AssetWatcher(
            name="toloka_pools_closed",
            trigger=TolokaPoolClosedTrigger(
                PROJECT_ID, poll_interval=60, close_reasons=["COMPLETED", "MANUAL"]
            ),
        )
    ],
)

with DAG(
    dag_id="toloka_export_closed_pools", schedule=[pools_closed], catchup=False, tags=["toloka", "example"]
):

    @task
    def closed_pools(*, triggering_asset_events: Any = None) -> list[dict[str, str]]:
        # Several closes may have queued one run: one export per pool.
        pools = [event.extra["payload"]["pool_id"] for event in triggering_asset_events[pools_closed]]
        return [{"pool_id": pool, "results_path": f"{EXPORTS}/pool-{pool}.jsonl"} for pool in pools]

    ExportAssignmentsOperator.partial(task_id="export").expand_kwargs(closed_pools())
