"""The provider registers itself the way Airflow 3 discovers it, and its connection form reaches the UI."""

from __future__ import annotations

from importlib.metadata import distribution, entry_points

import pytest
from packaging.utils import canonicalize_name

from airflow_toloka.get_provider_info import get_provider_info


def test_entry_point_and_package_name() -> None:
    (ep,) = [e for e in entry_points(group="apache_airflow_provider") if e.value.startswith("airflow_toloka")]
    assert ep.load() is get_provider_info
    assert get_provider_info()["package-name"] == canonicalize_name(
        distribution("airflow-toloka").metadata["Name"]
    )


def test_one_version_everywhere() -> None:
    """pyproject.toml takes the version from airflow_toloka.__version__, and the provider info says the same."""
    from pathlib import Path

    import airflow_toloka

    project = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    static = project.split("[project]")[1].split("\n[")[0]  # the [project] table
    assert 'dynamic = ["version"]' in static and "\nversion =" not in static
    assert 'version = { attr = "airflow_toloka.__version__" }' in project
    assert get_provider_info()["versions"] == [airflow_toloka.__version__]


def test_every_listed_module_and_class_imports() -> None:
    import importlib

    info = get_provider_info()
    for role in ("hooks", "operators", "sensors", "triggers"):
        for entry in info[role]:
            for module in entry["python-modules"]:
                importlib.import_module(module)
    for path in [*info["extra-links"], info["connection-types"][0]["hook-class-name"]]:
        module, _, name = path.rpartition(".")
        assert getattr(importlib.import_module(module), name)


def test_every_hook_operator_sensor_and_trigger_module_is_listed() -> None:
    import ast
    from pathlib import Path

    import airflow_toloka

    root = Path(airflow_toloka.__file__).parent
    info = get_provider_info()
    for role, suffixes in [
        ("hooks", ("Hook", "Mixin")),
        ("operators", ("Operator",)),
        ("sensors", ("Sensor",)),
        ("triggers", ("Trigger",)),
    ]:
        listed = {m for entry in info[role] for m in entry["python-modules"]}
        defining = {
            f"airflow_toloka.{role}.{path.stem}"
            for path in (root / role).glob("*.py")
            if any(
                isinstance(node, ast.ClassDef)
                and node.name.endswith(suffixes)
                and not node.name.startswith("_")
                for node in ast.parse(path.read_text()).body
            )
        }
        assert defining - {f"airflow_toloka.{role}.base"} <= listed, role


def test_connection_form_as_the_airflow_ui_builds_it() -> None:
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    (meta,) = [h for h in HookMetaService.hook_meta_data() if h.connection_type == "toloka"]
    assert meta.hook_class_name == "airflow_toloka.hooks.toloka.TolokaHook"
    fields = meta.standard_fields
    assert fields.password.title == "API token"
    assert fields.login.hidden and fields.port.hidden and fields.url_schema.hidden
    assert set(meta.extra_fields) == {"environment"}  # one URL field in the form: no "URL override" beside it
    environment = meta.extra_fields["environment"]
    # The form's select lists the enum as options: None would be a literal "null" option, and a default would
    # be saved into every connection, an emulator's too; clearing the select means Production.
    assert environment["schema"]["enum"] == ["PRODUCTION", "SANDBOX"]
    assert environment["value"] is None and "default" not in environment["schema"]
    assert set(environment["schema"]["values_display"]) == {"PRODUCTION", "SANDBOX"}
    # the help text names the URL field by the label the form shows
    assert fields.host.title in environment["description"]
    assert "when empty" in environment["description"]
    assert "/api/v1" in fields.host.placeholder


def test_the_providers_page_shows_plain_text_and_a_documentation_url() -> None:
    import re
    from pathlib import Path

    from airflow.api_fastapi.core_api.services.public.providers import _provider_mapper
    from airflow.providers_manager import ProvidersManager

    tomllib = pytest.importorskip("tomllib")
    description = get_provider_info()["description"]
    assert not re.search(r"\[[^\]]*\]\(|[*`_<>]", description)  # no markdown or rst: the page shows it raw
    shown = _provider_mapper(ProvidersManager().providers["airflow-toloka"])
    # the page links a URL that stands between spaces (or at the end) as a whole word
    assert "https://toloka.ai" in shown.description.split(" ")
    # Airflow takes the page's link from the distribution's Project-URL "Documentation" (pyproject.toml)
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert pyproject["project"]["urls"]["Documentation"] == get_provider_info()["documentation-url"]
