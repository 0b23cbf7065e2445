"""Over stdio, on fixture monorepos of real shapes with no `.storyfence.toml`: the server says it uses the
learned layout, `write_file` lands the backend on disk, and the frontend, env and Docker stay refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.client import call, refused
from tests.support.monorepos import SHAPES, build
from tests.support.repos import story_inputs, write_tree
from tests.support.server import connect

pytestmark = pytest.mark.anyio
STORY = "STORY-001"


def with_story(root: Path) -> Path:
    story = story_inputs(
        STORY,
        story_md="# STORY-001\n\nThe backend of a small feature.\n",
        plan="# Plan\n\n1. Backend only.\n",
        scope="# Scope\n\nThe backend of the feature, wherever it lives.\n",
    )
    return write_tree(root, story)


@pytest.mark.parametrize("shape", ["t3-trpc-drizzle", "next-app-with-lib-backend", "pnpm-django-api"])
async def test_write_file_over_stdio_follows_the_learned_layout(shape: str, tmp_path: Path) -> None:
    spec = SHAPES[shape]
    root = with_story(build(spec, tmp_path))
    async with connect(root) as client:
        story = await call(client, "read_story", story=STORY)
        assert "learned from this repo's layout" in story["policy"]
        await call(client, "begin_chunk", story=STORY, name="backend", objective="write the backend files")
        for path in spec.allowed:
            result = await call(client, "write_file", story=STORY, path=path, content="export const ok = 1;\n")
            assert result["rule"].startswith(("learned-", "database", "api-endpoints", "backend-package"))
            assert (root / path).read_text(encoding="utf-8") == "export const ok = 1;\n"
        for path in (*spec.refused, *spec.extra_refused):
            before = (root / path).read_bytes() if (root / path).exists() else None
            text = await refused(client, "write_file", story=STORY, path=path, content="pwned\n")
            assert text.startswith(f"{path}: refused by rule `"), text
            after = (root / path).read_bytes() if (root / path).exists() else None
            assert after == before, f"{path} changed on disk although refused"
