"""The core takes values and returns values: a module under storyfence/core imports only what this
allow-list names (pure standard-library modules, pydantic and pathspec, and the core itself), and no two
core modules import each other, directly or in a loop (a layer, not a web).

An allow-list, not a deny-list: `time`, `uuid`, `random` or `storyfence.commands.hook` are refused
because nobody listed them, not because somebody remembered to forbid them.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "server" / "storyfence" / "core"
CORE_PACKAGE = "storyfence.core"

ALLOWED_MODULES = frozenset(
    {
        "__future__",
        "typing",
        "dataclasses",
        "enum",
        "abc",
        "collections",
        "collections.abc",
        "functools",
        "itertools",
        "operator",
        "bisect",
        "re",
        "json",
        "hashlib",
        "difflib",
        "posixpath",  # path strings only: it never touches the disk
        "string",
        "textwrap",
        "pydantic",
        "pathspec",
        CORE_PACKAGE,
    }
)
FORBIDDEN_CALLS = frozenset({"open", "__import__", "exec", "eval", "compile"})


def _absolute(module: str | None, level: int, package: str) -> str:
    if level == 0:
        return module or ""
    parts = package.split(".")
    base = parts[: len(parts) - (level - 1)]
    return ".".join([*base, module] if module else base)


def _allowed(name: str) -> bool:
    return any(name == ok or name.startswith(ok + ".") for ok in ALLOWED_MODULES)


def impurities(source: str, package: str = CORE_PACKAGE) -> list[str]:
    """What in `source` reaches outside the pure core: imports not on the allow-list and I/O calls."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"{node.lineno}: import {a.name}" for a in node.names if not _allowed(a.name)]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module, node.level, package)
            if not _allowed(base):
                found.append(f"{node.lineno}: from {base} import ...")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
            found.append(f"{node.lineno}: call {node.func.id}()")
    return found


CORE_MODULES = sorted(CORE.glob("*.py"))


def test_the_core_package_holds_the_modules_this_test_guards() -> None:
    names = {p.name for p in CORE_MODULES}
    assert {"policy.py", "scope.py", "workflow.py", "journal.py", "events.py"} <= names


@pytest.mark.parametrize("module", CORE_MODULES, ids=lambda p: p.name)
def test_a_core_module_imports_only_what_the_allow_list_names(module: Path) -> None:
    assert impurities(module.read_text(encoding="utf-8")) == []


def core_imports(source: str, package: str = CORE_PACKAGE) -> set[str]:
    """The core modules `source` imports (by module name), those under `if TYPE_CHECKING:` included."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module, node.level, package)
            names = [f"{base}.{a.name}" for a in node.names] if base == CORE_PACKAGE else [base]
        else:
            continue
        found |= {n.split(".")[2] for n in names if n.startswith(CORE_PACKAGE + ".")}
    return found


def test_no_two_core_modules_import_each_other_directly_or_in_a_loop() -> None:
    graph = {p.stem: core_imports(p.read_text(encoding="utf-8")) - {p.stem} for p in CORE_MODULES}
    try:
        order = list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        # graphlib lists each module before the one that imports it
        pytest.fail(f"core modules import each other: {' imports '.join(reversed(exc.args[1]))}")
    assert set(order) >= set(graph)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from storyfence.core.policy import Policy", {"policy"}),
        ("from storyfence.core import logbook, scope", {"logbook", "scope"}),
        ("from .decisions import Decision", {"decisions"}),
        ("import storyfence.core.events", {"events"}),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from storyfence.core.errors import X", {"errors"}),
        ("import re\nfrom storyfence.adapters.git import x", set()),
    ],
)
def test_the_loop_check_sees_every_way_of_importing_a_core_module(source: str, expected: set[str]) -> None:
    assert core_imports(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import os", ["1: import os"]),
        ("import os.path", ["1: import os.path"]),
        ("import subprocess as sp", ["1: import subprocess"]),
        ("import json, socket", ["1: import socket"]),
        ("import time", ["1: import time"]),
        ("import uuid", ["1: import uuid"]),
        ("from datetime import datetime", ["1: from datetime import ..."]),
        ("from pathlib import Path", ["1: from pathlib import ..."]),
        ("from mcp.server.mcpserver import MCPServer", ["1: from mcp.server.mcpserver import ..."]),
        ("import anyio", ["1: import anyio"]),
        ("from storyfence.adapters.store import StoryStore", ["1: from storyfence.adapters.store import ..."]),
        ("from storyfence.commands.hook import claude_code_hook", ["1: from storyfence.commands.hook import ..."]),
        ("from storyfence import app", ["1: from storyfence import ..."]),
        ("from ..adapters import workspace", ["1: from storyfence.adapters import ..."]),
        ("from .. import mcp", ["1: from storyfence import ..."]),
        ("import storyfence", ["1: import storyfence"]),
        ("import storyfence.corex", ["1: import storyfence.corex"]),
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
        "from . import events",
        "import pathspec\nimport pydantic",
        "from typing import IO",
        "def f(f):\n    return f.open()",
    ],
)
def test_the_purity_check_lets_pure_imports_through(source: str) -> None:
    assert impurities(source) == []
