"""The core takes values and returns values: no module under storyfence/core imports I/O, a process or mcp."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "server" / "storyfence" / "core"
CORE_PACKAGE = "storyfence.core"

FORBIDDEN_MODULES = frozenset(
    {
        "os",
        "io",
        "pathlib",
        "subprocess",
        "shutil",
        "socket",
        "mcp",
        "anyio",
        "asyncio",
        "tempfile",
        "fcntl",
        "importlib",
        "storyfence.adapters",
        "storyfence.service",
        "storyfence.mcp_server",
    }
)
FORBIDDEN_CALLS = frozenset({"open", "__import__"})


def _absolute(module: str | None, level: int, package: str) -> str:
    if level == 0:
        return module or ""
    parts = package.split(".")
    base = parts[: len(parts) - (level - 1)]
    return ".".join([*base, module] if module else base)


def _is_forbidden(name: str) -> bool:
    return any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN_MODULES)


def impurities(source: str, package: str = CORE_PACKAGE) -> list[str]:
    """What in `source` reaches outside the pure core: forbidden imports and calls, as `line: what`."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"{node.lineno}: import {a.name}" for a in node.names if _is_forbidden(a.name)]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module, node.level, package)
            if _is_forbidden(base):
                found.append(f"{node.lineno}: from {base} import ...")
            else:
                found += [
                    f"{node.lineno}: from {base} import {a.name}"
                    for a in node.names
                    if _is_forbidden(f"{base}.{a.name}")
                ]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
            found.append(f"{node.lineno}: call {node.func.id}()")
    return found


CORE_MODULES = sorted(CORE.glob("*.py"))


def test_the_core_package_holds_the_modules_this_test_guards() -> None:
    names = {p.name for p in CORE_MODULES}
    assert {"policy.py", "scope.py", "workflow.py", "journal.py", "events.py"} <= names


@pytest.mark.parametrize("module", CORE_MODULES, ids=lambda p: p.name)
def test_a_core_module_imports_no_io_no_process_and_no_mcp(module: Path) -> None:
    assert impurities(module.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import os", ["1: import os"]),
        ("import os.path", ["1: import os.path"]),
        ("import subprocess as sp", ["1: import subprocess"]),
        ("import json, socket", ["1: import socket"]),
        ("from pathlib import Path", ["1: from pathlib import ..."]),
        ("from mcp.server.fastmcp import FastMCP", ["1: from mcp.server.fastmcp import ..."]),
        ("import anyio", ["1: import anyio"]),
        (
            "from storyfence.adapters.store import StoryStore",
            ["1: from storyfence.adapters.store import ..."],
        ),
        ("from storyfence import service", ["1: from storyfence import service"]),
        ("from ..adapters import workspace", ["1: from storyfence.adapters import ..."]),
        ("from .. import mcp_server", ["1: from storyfence import mcp_server"]),
        ("def f():\n    import tempfile", ["2: import tempfile"]),
        ("text = open('x').read()", ["1: call open()"]),
        ("m = __import__('os')", ["1: call __import__()"]),
        ("from importlib import import_module", ["1: from importlib import ..."]),
    ],
)
def test_the_purity_check_catches_each_kind_of_impurity(source: str, expected: list[str]) -> None:
    assert impurities(source) == expected


@pytest.mark.parametrize(
    "source",
    [
        "import json\nimport hashlib\nimport re",
        "from storyfence.core.errors import PolicyError",
        "from .errors import StateError",
        "import pathspec\nimport pydantic",
        "from typing import IO",
        "import osmosis",
        "def f(f):\n    return f.open()",
    ],
)
def test_the_purity_check_lets_pure_imports_through(source: str) -> None:
    assert impurities(source) == []
