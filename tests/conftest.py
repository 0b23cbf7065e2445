"""Shared fixtures: real temporary repos (the bundled example monorepo, copied with its node_modules)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from storyfence.adapters.policy_file import load_builtin
from storyfence.core.policy import Policy
from storyfence.core.policy_load import extend_policy

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
NODE_BIN = REPO / "tools" / "node" / "node_modules" / ".bin"


def tool_path() -> str:
    """PATH for the server under test: the venv (rg, storyfence) and the pinned Node tools (pnpm)."""
    return os.pathsep.join([str(Path(sys.executable).parent), str(NODE_BIN), os.environ.get("PATH", "")])


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def example_repo(tmp_path: Path) -> Path:
    """A private copy of examples/ (symlinks kept as links, so pnpm's node_modules still resolve)."""
    if not (EXAMPLES / "node_modules").is_dir():
        pytest.fail("examples/node_modules is missing: run `make setup` (the README's test command does)")
    target = tmp_path / "repo"
    shutil.copytree(EXAMPLES, target, symlinks=True, ignore=shutil.ignore_patterns(".turbo"))
    return target


def policy_allowing_unchecked(*paths: str) -> Policy:
    """The built-in policy plus a `[[typecheck.unchecked]]` entry: for test repos that have no typecheck."""
    entry = {"paths": list(paths), "reason": "this test repo has no typecheck"}
    return extend_policy(load_builtin(), {"typecheck": {"unchecked": [entry]}}, "test-policy.toml")
