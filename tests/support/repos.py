"""Repos to work on: one written from a dict of files (a story's inputs included), or a private copy of
examples/."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeAlias

from tests.support.paths import EXAMPLES

# text is written as UTF-8, bytes as they are, a dict or a list as JSON
Content: TypeAlias = str | bytes | dict[str, Any] | list[Any]


def write_tree(root: Path, files: Mapping[str, Content], *, indent: int | None = None) -> Path:
    """Write every file of `files` (repo-relative path -> content) under `root`, making folders as needed;
    JSON is dumped with `indent`. Returns `root`."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            text = content if isinstance(content, str) else json.dumps(content, indent=indent)
            path.write_text(text, encoding="utf-8")
    return root


def story_inputs(
    story: str, *, story_md: str = "# Story\n", plan: str = "# Plan\n", scope: str = "# Scope\n"
) -> dict[str, str]:
    """A story's three read-only inputs (STORY-n.md, IMPLEMENTATION-PLAN.md, SCOPE.md) as files for write_tree."""
    return {
        f"{story}/{story}.md": story_md,
        f"{story}/_implementation/IMPLEMENTATION-PLAN.md": plan,
        f"{story}/_implementation/SCOPE.md": scope,
    }


def copy_example(target: Path, *, node_modules: bool = True) -> Path:
    """A private copy of examples/ at `target`, symlinks kept as links so pnpm's node_modules still resolve
    (node_modules=False leaves them out); turbo's caches are never copied. Returns `target`."""
    skip = (".turbo",) if node_modules else (".turbo", "node_modules")
    shutil.copytree(EXAMPLES, target, symlinks=True, ignore=shutil.ignore_patterns(*skip))
    return target
