"""Provider metadata read by Airflow's providers manager through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

import copy
from typing import Any

from airflow_toloka import __version__

DOCUMENTATION_URL = "https://pypi.org/project/airflow-toloka/"
"""Where the README is published; pyproject.toml's ``[project.urls] Documentation`` is the same URL."""
ENVIRONMENT_CHOICES = {
    "PRODUCTION": "Production (https://toloka.dev)",
    "SANDBOX": "Sandbox (https://sandbox.toloka.dev)",
}

PROVIDER_INFO: dict[str, Any] = {
    "package-name": "airflow-toloka",
    "name": "Toloka",
    "versions": [__version__],  # the one version, airflow_toloka.__version__, also the distribution's
    # Plain text: the Providers page shows it as it is, and links only a URL standing alone between spaces.
    "description": "Run Toloka labeling pipelines: projects and pools, batched idempotent uploads, deferrable "
    "waits for the crowd, export, review and aggregation. Toloka: https://toloka.ai",
    "documentation-url": DOCUMENTATION_URL,
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
                    # No default and no null option: the select can be cleared, and empty means Production, so
                    # an emulator connection does not get saved with "environment": "PRODUCTION".
                    "description": "Which Toloka: Production (https://toloka.dev) when empty, or Sandbox "
                    "(https://sandbox.toloka.dev). Ignored when Other API URL is set.",
                    "schema": {
                        "type": ["string", "null"],
                        "enum": list(ENVIRONMENT_CHOICES),
                        "values_display": dict(ENVIRONMENT_CHOICES),
                    },
                },
            },
            "ui-field-behaviour": {
                "hidden-fields": ["schema", "login", "port"],
                "relabeling": {"password": "API token", "host": "Other API URL"},
                "placeholders": {
                    "password": "OAuth token or API key",
                    "host": "Empty for Toloka; the emulator: http://127.0.0.1:8765 (/api/v1 optional)",
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
