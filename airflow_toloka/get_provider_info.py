"""Provider metadata read by Airflow's providers manager through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

import copy
from typing import Any

from airflow_toloka import __version__

PROVIDER_INFO: dict[str, Any] = {
    "package-name": "airflow-toloka",
    "name": "Toloka",
    "versions": [__version__],  # the one version, airflow_toloka.__version__, also the distribution's
    "description": "Run [Toloka](https://toloka.ai/) labeling pipelines: projects and pools, batched idempotent "
    "uploads, deferrable waits for the crowd, export, review and aggregation.",
    "integrations": [
        {
            "integration-name": "Toloka",
            "external-doc-url": "https://toloka.ai/docs/api/",
            "tags": ["service"],
        }
    ],
    "hooks": [
        {
            "integration-name": "Toloka",
            "python-modules": [
                "airflow_toloka.hooks.base",
                "airflow_toloka.hooks.operations",
                "airflow_toloka.hooks.objects",
                "airflow_toloka.hooks.projects",
                "airflow_toloka.hooks.pools",
                "airflow_toloka.hooks.trainings",
                "airflow_toloka.hooks.uploads",
                "airflow_toloka.hooks.tasks",
                "airflow_toloka.hooks.bonuses",
                "airflow_toloka.hooks.requester",
                "airflow_toloka.hooks.skills",
                "airflow_toloka.hooks.restrictions",
                "airflow_toloka.hooks.assignments",
                "airflow_toloka.hooks.analytics",
                "airflow_toloka.hooks.toloka",
            ],
        }
    ],
    "operators": [
        {
            "integration-name": "Toloka",
            "python-modules": [
                "airflow_toloka.operators.tasks",
                "airflow_toloka.operators.pools",
                "airflow_toloka.operators.labels",
                "airflow_toloka.operators.bonuses",
                "airflow_toloka.operators.quality",
                "airflow_toloka.operators.report",
            ],
        }
    ],
    "sensors": [
        {
            "integration-name": "Toloka",
            "python-modules": ["airflow_toloka.sensors.operation", "airflow_toloka.sensors.pool"],
        }
    ],
    "triggers": [
        {
            "integration-name": "Toloka",
            "python-modules": [
                "airflow_toloka.triggers.operation",
                "airflow_toloka.triggers.pool",
                "airflow_toloka.triggers.closed_pools",
            ],
        }
    ],
    "extra-links": [
        "airflow_toloka.operators.links.TolokaPoolLink",
        "airflow_toloka.operators.links.TolokaOperationLink",
    ],
    "connection-types": [
        {
            "connection-type": "toloka",
            "hook-class-name": "airflow_toloka.hooks.toloka.TolokaHook",
            "hook-name": "Toloka",
            "conn-fields": {
                "environment": {
                    "label": "Environment",
                    "description": "Toloka environment used when Host is empty.",
                    "schema": {
                        "type": ["string", "null"],
                        "enum": ["PRODUCTION", "SANDBOX", None],
                        "default": "PRODUCTION",
                    },
                },
                "url": {
                    "label": "API URL",
                    "description": "Optional API root (e.g. a proxy); overrides Environment.",
                    "schema": {"type": ["string", "null"], "format": "uri"},
                },
            },
            "ui-field-behaviour": {
                "hidden-fields": ["schema", "login", "port"],
                "relabeling": {"password": "API token", "host": "URL override"},
                "placeholders": {
                    "password": "OAuth token or API key",
                    "host": "http://127.0.0.1:8765 (local emulator); leave empty for Toloka",
                },
            },
        }
    ],
}


def get_provider_info() -> dict[str, Any]:
    """Describe the provider to Airflow's providers manager.

    :return: the provider's metadata; ``package-name`` equals the normalized distribution name.
    """
    return copy.deepcopy(PROVIDER_INFO)
