"""Hostile input, in-process properties (hypothesis) over paths, edit lists and SCOPE.md text: the service
writes inside the root under an allowed path or raises a StoryfenceError, nothing else, and the disk outside
the root never changes. (The same server spoken to in raw JSON-RPC over stdio is in tests/e2e/test_hostile.py.)"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storyfence.adapters.policy_file import load_policy
from storyfence.app.service import StoryfenceService
from storyfence.app.writes import Edit
from storyfence.core.errors import StoryfenceError
from tests.support.repos import story_inputs, write_tree

STORY = "STORY-001"
IMPL = f"{STORY}/_implementation"
PROPERTY = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def snapshot(top: Path, skip: Path | None = None) -> dict[str, str]:
    """Every entry under `top` (but `skip`): files by content hash, links by target, directories by name."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        if skip is not None and Path(dirpath) == skip.parent:
            dirnames[:] = [d for d in dirnames if Path(dirpath, d) != skip]
        for name in [*filenames, *dirnames]:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, top)
            if os.path.islink(full):
                out[rel] = "link->" + os.readlink(full)
            elif os.path.isdir(full):
                out[rel] = "dir"
            else:
                out[rel] = hashlib.sha256(Path(full).read_bytes()).hexdigest()
    return out


@dataclass
class World:
    """A repo with symlinks out of it, a git dir, an env file and a story; the service bound to it."""

    top: Path
    root: Path
    service: StoryfenceService

    def outside(self) -> dict[str, str]:
        return snapshot(self.top, skip=self.root)

    def guarded(self) -> dict[str, str]:
        return {rel: digest for rel, digest in snapshot(self.root).items() if rel.split(os.sep)[0] in (".git", ".env")}


@pytest.fixture
def world(tmp_path: Path) -> World:
    root = tmp_path / "repo"
    outside = tmp_path / "repo-evil"
    outside.mkdir()
    (outside / "secret.txt").write_text("outside\n", encoding="utf-8")
    files = {
        "packages/core/src/a.ts": "export const a = 1;\n",
        "packages/core/src/orders/order.ts": "export type Order = { id: string };\n",
        ".env": "API_PORT=3001\n",
        ".git/config": "[core]\n",
        **story_inputs(STORY, scope="# Scope\nEverything backend.\n"),
    }
    write_tree(root, files)
    os.symlink(outside, root / "packages/core/src/escape")
    os.symlink(outside / "secret.txt", root / "packages/core/src/link.ts")
    policy, sources = load_policy(root)
    service = StoryfenceService(root, policy, policy_paths=sources, use_ripgrep=False)
    service.begin_chunk(STORY, "hostile", "nothing lands outside")
    return World(top=tmp_path.resolve(), root=root.resolve(), service=service)


SEGMENTS = [
    *("..", ".", "", " ", "~", "*", "?", "[a]", "!x", "$HOME", "%2e%2e"),
    *(".git", ".GIT", ".Git", "HEAD", ".env", ".ENV", ".Env", ".env.local", ".ENV.LOCAL", "node_modules"),
    *("packages", "core", "src", "orders", "apps", "api", "__http__", "ui", "escape", "link.ts", "a.ts"),
    *(STORY, "_implementation", "BACKEND-LOG.md", "SCOPE.md", ".storyfence", "journal.jsonl", ".storyfence.toml"),
    *("x.http", "Button.tsx", "ﬁle.ts", "Ａ.ts", "a\u0301.ts", "\u202e.ts", "a\x00.ts", "a\n.ts", "\ud800.ts"),
    "\udc80.ts",
]
PREFIXES = ["", "", "/", "{root}/", "{outside}/", "./", "../", "{root}/../", "packages/core/src/orders/"]
PREFIXES += ["packages/core/src/", "packages/core/src/escape/", "__http__/", "apps/api/api/", ".git/", "//"]
segment = st.one_of(
    st.sampled_from(SEGMENTS),
    st.text(min_size=1, max_size=12),
    st.text(alphabet="aé漢😀", min_size=60, max_size=140),  # a name of more than 255 bytes, often
)
separator = st.sampled_from(["/", "/", "/", "//", "\\", "/./", "/../"])


ALLOWED_DIRS = [
    "packages/core/src/orders/",
    "packages/core/src/",
    "apps/api/api/",
    "__http__/",
    "{root}/packages/core/",
]


@st.composite
def hostile_paths(draw: st.DrawFn) -> str:
    """Half of the time one hostile name in an allowed folder (where a write gets furthest), else anything."""
    if draw(st.booleans()):
        return draw(st.sampled_from(ALLOWED_DIRS)) + draw(segment)
    parts = draw(st.lists(segment, min_size=1, max_size=6))
    seps = [draw(separator) for _ in parts[1:]]
    path = parts[0] + "".join(sep + part for sep, part in zip(seps, parts[1:], strict=True))
    return draw(st.sampled_from(PREFIXES)) + path


def inside(root: Path, rel: str) -> bool:
    real = os.path.realpath(root / rel)
    return real.startswith(str(root) + os.sep)


def holds_the_property(world: World, operation: Callable[[], Any]) -> Any:
    """Run one service call: it returns or raises a StoryfenceError; nothing outside the root changes."""
    outside, guarded = world.outside(), world.guarded()
    try:
        result = operation()
    except StoryfenceError:
        result = None
    assert world.outside() == outside
    assert world.guarded() == guarded
    return result


@PROPERTY
@given(path=hostile_paths(), content=st.text(max_size=40))
def test_a_hostile_write_path_lands_inside_the_root_under_an_allowed_path_or_raises_a_storyfence_error(
    world: World, path: str, content: str
) -> None:
    raw = path.replace("{root}", str(world.root)).replace("{outside}", str(world.top / "repo-evil"))
    result = holds_the_property(world, lambda: world.service.write_file(STORY, raw, content))
    if result is not None:
        rel = result.change.path
        assert inside(world.root, rel)
        assert not (world.root / rel).is_symlink()
        assert world.service.check_path(rel, STORY).allowed
        assert (world.root / rel).read_bytes() == content.encode("utf-8")


@PROPERTY
@given(path=hostile_paths())
def test_a_hostile_delete_or_read_path_never_escapes_and_never_raises_anything_else(world: World, path: str) -> None:
    raw = path.replace("{root}", str(world.root)).replace("{outside}", str(world.top / "repo-evil"))
    deleted = holds_the_property(world, lambda: world.service.delete_file(STORY, raw))
    if deleted is not None:
        assert inside(world.root, deleted.change.path)
        assert world.service.check_path(deleted.change.path, STORY).allowed
    read = holds_the_property(world, lambda: world.service.read_file(raw))
    if read is not None:
        assert inside(world.root, read.path)
    holds_the_property(world, lambda: world.service.check_path(raw, STORY))


def apply_edits(text: str, edits: list[Edit]) -> str | None:
    """What edit_file must produce: each old_text replaced where it occurs exactly once, else None."""
    for edit in edits:
        if text.count(edit.old_text) != 1:
            return None
        text = text.replace(edit.old_text, edit.new_text, 1)
    return text


@st.composite
def file_and_edits(draw: st.DrawFn) -> tuple[str, list[Edit]]:
    text = draw(st.text(min_size=1, max_size=60))
    edits: list[Edit] = []
    for _ in range(draw(st.integers(1, 4))):
        if draw(st.booleans()):
            start = draw(st.integers(0, len(text) - 1))
            old = text[start : draw(st.integers(start + 1, len(text)))]
        else:
            old = draw(st.text(min_size=1, max_size=6))
        new = draw(st.one_of(st.text(max_size=10), st.sampled_from(["\ud800", "// TODO later", "x" * 100])))
        edits.append(Edit(old_text=old, new_text=new))
    return text, edits


@PROPERTY
@given(case=file_and_edits())
def test_an_edit_list_applies_exactly_or_raises_a_storyfence_error_and_leaves_the_file_alone(
    world: World, case: tuple[str, list[Edit]]
) -> None:
    text, edits = case
    target = world.root / "packages/core/src/orders/edit-me.ts"
    target.write_bytes(text.encode("utf-8"))
    expected = apply_edits(text, edits)
    result = holds_the_property(
        world, lambda: world.service.edit_file(STORY, "packages/core/src/orders/edit-me.ts", edits)
    )
    if result is None:
        assert target.read_bytes() == text.encode("utf-8")  # refused: nothing written
    else:
        assert expected is not None
        assert result.applied == (expected != text)
        assert target.read_bytes() == expected.encode("utf-8")


scope_line = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["## In scope", "## Out of scope", "**In scope:**", "# Scope", "```", "~~~", "- `**`", "- `/`"]),
    st.builds(lambda g: f"- `{g}`", st.text(max_size=20)),
    st.builds(lambda g: f"- `{g}`", st.sampled_from(["packages/core/**", "**/.git/**", "../**", "!x", "[", "\\"])),
)
TRIED = ["packages/core/src/orders/new.ts", "packages/core/src/b.ts", "apps/api/api/x.ts", ".env", f"{IMPL}/SCOPE.md"]


@PROPERTY
@given(scope=st.lists(scope_line, max_size=12).map("\n".join), path=st.sampled_from(TRIED))
def test_any_scope_md_text_gives_allowed_writes_or_storyfence_errors_and_never_a_crash(
    world: World, scope: str, path: str
) -> None:
    (world.root / IMPL / "SCOPE.md").write_bytes(scope.encode("utf-8"))
    holds_the_property(world, lambda: world.service.read_story(STORY))
    result = holds_the_property(world, lambda: world.service.write_file(STORY, path, "export {};\n"))
    if result is not None:
        assert world.service.check_path(result.change.path, STORY).allowed
    assert (world.root / ".env").read_text(encoding="utf-8") == "API_PORT=3001\n"
