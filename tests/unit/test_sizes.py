"""The shape rules of docs/architecture.md, kept true: no class past 400 lines, no provider function past 60, and
the page names every module."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (ROOT / "airflow_toloka", ROOT / "emulator" / "toloka_emulator")


def _sizes(kind: type[ast.AST] | tuple[type[ast.AST], ...], roots: tuple[Path, ...]) -> list[tuple[str, int]]:
    found = []
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, kind):
                    lines = node.end_lineno - node.lineno + 1  # type: ignore[attr-defined]
                    found.append((f"{path.relative_to(ROOT)}:{node.name}", lines))  # type: ignore[attr-defined]
    return found


def test_no_class_is_past_400_lines() -> None:
    assert [(name, n) for name, n in _sizes(ast.ClassDef, PACKAGES) if n > 400] == []


def test_no_provider_function_is_past_60_lines() -> None:
    functions = _sizes((ast.FunctionDef, ast.AsyncFunctionDef), PACKAGES[:1])
    assert functions, "no function found: the walk looks in the wrong place"
    assert [(name, n) for name, n in functions if n > 60] == []


def test_the_architecture_page_names_every_module() -> None:
    """docs/architecture.md keeps a map of the code: each module of the provider and the emulator is named there."""
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    modules = [path for root in PACKAGES for path in sorted(root.rglob("*.py")) if path.stem != "__init__"]
    assert len(modules) > 40, "the walk looks in the wrong place"
    unnamed = [str(p.relative_to(ROOT)) for p in modules if not re.search(rf"\b{re.escape(p.stem)}\b", page)]
    assert unnamed == []
