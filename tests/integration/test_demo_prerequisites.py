"""`storyfence demo` checks what it needs before it starts anything, and says what to run when something is
missing: the example monorepo, its installed dependencies, node, and pnpm (the PATH's, else the one `make setup`
puts in the checkout's tools/node)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from storyfence.commands.demo import DemoFailed, prerequisites
from tests.support.repos import write_tree


def executable(folder: Path, name: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    path.chmod(0o755)
    return path


@pytest.fixture
def examples(tmp_path: Path) -> Path:
    root = write_tree(tmp_path / "examples", {"pnpm-workspace.yaml": "packages: []\n"})
    (root / "node_modules").mkdir()
    return root


def test_without_the_example_monorepo_it_says_to_run_make_demo_in_a_checkout(tmp_path: Path) -> None:
    with pytest.raises(DemoFailed, match=r"comes with a source checkout.*`make demo`"):
        prerequisites(None, "")
    with pytest.raises(DemoFailed, match="not found"):
        prerequisites(tmp_path / "nowhere", "")


def test_without_its_dependencies_it_says_to_run_make_setup(examples: Path) -> None:
    (examples / "node_modules").rmdir()
    with pytest.raises(DemoFailed, match=r"node_modules is missing: run `make setup`"):
        prerequisites(examples, "")


def test_without_node_it_says_to_install_it(examples: Path, tmp_path: Path) -> None:
    with pytest.raises(DemoFailed, match="node is not on PATH"):
        prerequisites(examples, str(tmp_path / "empty"))


def test_without_pnpm_anywhere_it_says_what_to_run(examples: Path, tmp_path: Path) -> None:
    bin_dir = executable(tmp_path / "bin", "node").parent
    with pytest.raises(DemoFailed, match=r"pnpm is not on PATH.*run `make setup`.*`make demo`"):
        prerequisites(examples, str(bin_dir), tools_bin=tmp_path / "no-tools")


def test_pnpm_on_path_is_used_as_it_is(examples: Path, tmp_path: Path) -> None:
    bin_dir = executable(tmp_path / "bin", "node").parent
    executable(bin_dir, "pnpm")
    assert prerequisites(examples, str(bin_dir), tools_bin=None) == (examples, str(bin_dir))


def test_else_the_pnpm_make_setup_installed_in_the_checkout_is_put_first_on_path(
    examples: Path, tmp_path: Path
) -> None:
    bin_dir = executable(tmp_path / "bin", "node").parent
    tools = executable(tmp_path / "tools", "pnpm").parent
    assert prerequisites(examples, str(bin_dir), tools_bin=tools) == (
        examples,
        os.pathsep.join([str(tools), str(bin_dir)]),
    )
