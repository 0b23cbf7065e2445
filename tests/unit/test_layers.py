"""The folders are the layers, and imports only go down them:

    cli.py    the command line       may import every layer below
    serve.py  `storyfence serve`     the command line's server start: the same
    mcp/      the MCP edge           may import app, core (and the package version)
    commands/ the CLI's commands     may import app, adapters, core
    app/      the application        may import adapters, core
    adapters/ disk, processes, git   may import core
    core/     pure                   imports only core (tests/unit/test_core_is_pure.py says what else)

So a write goes down once: nothing below the application can call back into it, and the store reaches the
repo's files through its port in adapters/, never through the service.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "server" / "storyfence"

MAY_IMPORT: dict[str, set[str]] = {
    "core": {"core"},
    "adapters": {"adapters", "core"},
    "app": {"app", "adapters", "core"},
    "mcp": {"mcp", "app", "core", "(package)"},
    "commands": {"commands", "app", "adapters", "core", "(package)"},
    "cli": {"cli", "serve", "commands", "mcp", "app", "adapters", "core", "(package)"},
    "serve": {"cli", "serve", "commands", "mcp", "app", "adapters", "core", "(package)"},
    "__main__": {"cli"},
    "__init__": set(),
}


def layer_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def imported_layers(source: str, package: str) -> list[tuple[int, str]]:
    """Every storyfence layer `source` imports (at any depth, TYPE_CHECKING included), with its line."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                names = [".".join([*base, node.module] if node.module else base)]
            elif node.module:
                names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "storyfence":
                found.append((node.lineno, parts[1] if len(parts) > 1 else "(package)"))
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_a_module_imports_only_its_own_layer_and_the_layers_below(module: Path) -> None:
    layer = layer_of(module)
    package = ".".join(["storyfence", *module.relative_to(PACKAGE).parent.parts])
    wrong = [
        f"line {line}: {layer} imports {target}"
        for line, target in imported_layers(module.read_text(encoding="utf-8"), package)
        if target not in MAY_IMPORT[layer]
    ]
    assert wrong == []


def test_every_folder_is_a_known_layer() -> None:
    assert {layer_of(m) for m in MODULES} <= set(MAY_IMPORT)


@pytest.mark.parametrize(
    ("layer", "source", "package", "expected"),
    [
        ("adapters", "from storyfence.app.service import StoryfenceService", "storyfence.adapters", ["app"]),
        ("core", "from ..adapters import store", "storyfence.core", ["adapters"]),
        ("app", "import storyfence.mcp.server", "storyfence.app", ["mcp"]),
        ("app", "from storyfence.core import steps", "storyfence.app", []),
    ],
)
def test_the_layer_check_catches_an_import_that_climbs(
    layer: str, source: str, package: str, expected: list[str]
) -> None:
    targets = [t for _, t in imported_layers(source, package) if t not in MAY_IMPORT[layer]]
    assert targets == expected
