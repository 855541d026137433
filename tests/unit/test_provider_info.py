"""The provider registers itself the way Airflow 3 discovers it, and its connection form reaches the UI."""

from __future__ import annotations

from importlib.metadata import distribution, entry_points

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
    assert meta.standard_fields.password.title == "API token"
    assert meta.standard_fields.login.hidden and meta.standard_fields.port.hidden
    assert meta.extra_fields["environment"]["schema"]["enum"] == ["PRODUCTION", "SANDBOX", None]
    assert set(meta.extra_fields) == {"environment", "url"}
