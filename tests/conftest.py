"""Shared fixtures: real temporary repos (the bundled example monorepo, copied with its node_modules)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.paths import EXAMPLES
from tests.support.repos import copy_example


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hook's policy cache goes to a folder of this test run, never the user's own (processes inherit it)."""
    monkeypatch.setenv("STORYFENCE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "storyfence-cache"))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def example_repo(tmp_path: Path) -> Path:
    """A private copy of examples/ (symlinks kept as links, so pnpm's node_modules still resolve)."""
    if not (EXAMPLES / "node_modules").is_dir():
        pytest.fail("examples/node_modules is missing: run `make setup` (the README's test command does)")
    return copy_example(tmp_path / "repo")
