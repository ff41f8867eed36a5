"""The layers of app/: no module imports from a layer above its own (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parent.parent / "app"
# Lowest first. A module may import from its own layer and the layers below it.
LAYERS = (
    ("app.errors", "app.models", "app.config", "app.helpers.clock"),
    ("app.helpers",),
    ("app.controllers", "app.security", "app.openapi", "app.logs"),
    ("app", "app.serving", "app.dynamodb_local"),
)


def module_name(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int:
    """The layer of a module: the one naming it or its closest package."""
    best = (-1, 0)
    for index, names in enumerate(LAYERS):
        for name in names:
            if module == name or module.startswith(name + "."):
                best = max(best, (len(name), index))
    return best[1] if best[0] >= 0 else -1


def app_imports(path: Path) -> set[str]:
    """Every app module `path` imports, type-checking imports included."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("app"):
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("app")}
    # `from app.helpers import users` names a module; `from app.models import UserItem` not.
    return {
        name
        for name in found
        if (APP.parent / name.replace(".", "/")).exists()
        or (APP.parent / (name.replace(".", "/") + ".py")).exists()
    }


MODULES = sorted(APP.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_module_imports_nothing_from_a_layer_above_it(path):
    module = module_name(path)
    assert layer_of(module) >= 0, f"{module} is in no layer: add it to LAYERS and the docs"

    above = sorted(name for name in app_imports(path) if layer_of(name) > layer_of(module))

    assert above == [], f"{module} (layer {layer_of(module)}) imports {above}"


def test_no_helper_imports_a_controller():
    offenders = [
        module_name(path)
        for path in (APP / "helpers").rglob("*.py")
        if any(name.startswith("app.controllers") for name in app_imports(path))
    ]

    assert offenders == []


def test_the_layer_check_can_fail():
    # A controller's name imported by a helper would be caught: the rule is not vacuous.
    assert layer_of("app.controllers.access") > layer_of("app.helpers.credentials")
    assert layer_of("app.helpers.tables.users") == layer_of("app.helpers")
    assert layer_of("app.helpers.clock") < layer_of("app.helpers.users")
