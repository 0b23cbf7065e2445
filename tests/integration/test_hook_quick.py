"""The hook's quick path decides exactly as the long way: the same outcome and the same refusal text, on the
example monorepo (with the `.storyfence.toml` that `init` writes, and with no policy file: the learned layout),
for allowed paths, every kind of refusal, protected story files, symlinks, `..`, absolute paths and case
variants; and it steps aside (the long way decides) whenever its cache cannot be trusted."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from storyfence.adapters import hook_cache, private_cache
from storyfence.adapters.layout_cache import learned_overlay_cached
from storyfence.app.service import StoryfenceService
from storyfence.commands.hook import ToolCall, claude_code_hook, judge, parse_hook_input
from storyfence.commands.hook_quick import Unsure, quick_judge
from storyfence.commands.init import init
from tests.support.policies import policy_allowing_unchecked
from tests.support.repos import copy_example, story_inputs, write_tree

STORY = "STORY-042"
OTHER = "STORY-050"
OTHER_SCOPE = """# Scope

## In scope
- `packages/backend/src/**`
- `packages/core/src/orders/**`

## Out of scope
- `packages/core/src/orders/ports.ts`
"""
HOUR_AGO = time.time() - 3600


@pytest.fixture(autouse=True)
def settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """storyfence's own modules may be fresh from a checkout: inputs count as settled at once (the test of the
    two-second rule puts it back)."""
    monkeypatch.setattr(private_cache, "RACY_NS", 0)


def backdate(root: Path) -> None:
    """Every file and folder of the repo an hour old, as a checkout's are: the cache never trusts a file
    changed within the last two seconds."""
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            os.utime(os.path.join(folder, name), (HOUR_AGO, HOUR_AGO), follow_symlinks=False)
    os.utime(root, (HOUR_AGO, HOUR_AGO))


def example(tmp_path: Path, *, policy_file: bool) -> Path:
    """The example monorepo with two stories in progress (open chunks), a symlink out of the repo and one
    inside it; with the `.storyfence.toml` that `init` writes, or with none (the layout is learned)."""
    root = copy_example(tmp_path / "repo", node_modules=False)
    write_tree(root / "docs/stories", story_inputs(OTHER, scope=OTHER_SCOPE))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.ts").write_text("export const x = 1;\n", encoding="utf-8")
    (root / "packages/core/src/out").symlink_to(outside)
    (root / "packages/core/src/orders-link").symlink_to(root / "packages/core/src/orders")
    (root / "packages/core/src/orders/linked.ts").symlink_to(root / "packages/core/src/orders/order.ts")
    if policy_file:
        assert init(root, clients=[], force=False, claude_code_hook=False) == 0
    service = StoryfenceService(root, policy_allowing_unchecked("**"))
    service.begin_chunk(STORY, "cancel orders", "AC1: an order can be cancelled")
    service.begin_chunk(OTHER, "seed orders", "AC1: seed data")
    backdate(root)
    return root


PATHS = [
    # allowed, and narrowed by the stories' SCOPE.md lists
    "packages/core/src/orders/cancel-order.ts",
    "packages/core/src/index.ts",
    "packages/backend/src/cancel.ts",
    "apps/api/api/orders/cancel.ts",
    "__http__/orders-cancel.http",
    "packages/core/src/orders/ports.ts",
    "packages/core/src/other.ts",
    "packages/db/migrations/0002_cancel.sql",
    # refused by the policy's rules
    "apps/web/components/CancelButton.tsx",
    "apps/web/app/page.tsx",
    "packages/ui/src/index.ts",
    "packages/ui/src/Cancel.tsx",
    ".env",
    "apps/api/.env.local",
    "docker-compose.yml",
    "orders.http",
    "README.md",
    "scripts/deploy.sh",
    "apps/api/src/http.ts",
    # protected: git, policy and client files, the stories' inputs and the server's own files
    ".git/config",
    ".storyfence.toml",
    ".claude/settings.json",
    ".mcp.json",
    f"{STORY}/{STORY}.md",
    f"{STORY}/_implementation/SCOPE.md",
    f"{STORY}/_implementation/IMPLEMENTATION-PLAN.md",
    f"{STORY}/_implementation/BACKEND-LOG.md",
    f"{STORY}/_implementation/.storyfence/journal.jsonl",
    f"docs/stories/{OTHER}/_implementation/SCOPE.md",
    # case variants: deny rules and protections hold on case-insensitive filesystems
    ".ENV",
    "Apps/Web/Components/X.TSX",
    ".GIT/config",
    f"{STORY.lower()}/_implementation/scope.md",
    "PACKAGES/core/src/orders/x.ts",
    "Docker-Compose.yml",
    # confinement: `..`, absolute paths, symlinks, odd names
    "../outside.ts",
    "packages/../../etc/passwd",
    "packages/core/../core/src/orders/normalised.ts",
    "./packages/core/src/orders/dot.ts",
    "/etc/passwd",
    "/tmp/elsewhere.ts",
    "packages/core/src/out/x.ts",
    "packages/core/src/orders-link/x.ts",
    "packages/core/src/orders/linked.ts",
    "packages/core/src/orders/a\nb.ts",
    "packages/core/src/orders/back\\slash.ts",
    "packages/core/src/" + "n" * 300 + ".ts",
    " packages/core/src/orders/spaced.ts ",
    ".",
]

CONTENTS = [
    "export const cancel = (id: string) => id;\n",
    'import express from "express";\nexport const app = express();\n',
    "// TODO: cancel the order\nexport const cancel = 1;\n",
]


def calls(root: Path) -> Iterator[ToolCall]:
    for path in PATHS:
        absolute = path if path.startswith("/") or path.startswith("..") else str(root / path)
        for shown in {path, absolute}:
            for content in CONTENTS:
                yield ToolCall("Write", {"file_path": shown, "content": content}, str(root))
    order = "packages/core/src/orders/order.ts"
    text = (root / order).read_text(encoding="utf-8")
    first = text.splitlines()[0]
    for new in (first + " // FIXME later", first, 'import { Hono } from "hono";\n' + first):
        yield ToolCall("Edit", {"file_path": str(root / order), "old_string": first, "new_string": new}, str(root))
    page = str(root / "apps/web/app/page.tsx")
    yield ToolCall("Edit", {"file_path": page, "old_string": "x", "new_string": "y"}, None)
    yield ToolCall("NotebookEdit", {"notebook_path": str(root / "packages/core/n.ipynb"), "new_source": "x"}, None)


def long_way(call: ToolCall, root: Path, story: str | None) -> str | None:
    try:
        return judge(call, root, policy_path=None, story=story)
    except Exception as exc:  # what claude_code_hook turns into a refusal or exit 2: compared by its words
        return f"error: {type(exc).__name__}: {exc}"


def quick_way(call: ToolCall, root: Path, story: str | None) -> str | Unsure | None:
    try:
        return quick_judge(call, root, policy_path=None, story=story)
    except Unsure as exc:
        return exc


@pytest.mark.parametrize("policy_file", [True, False], ids=["storyfence-toml", "learned-layout"])
@pytest.mark.parametrize("story", [None, STORY, OTHER], ids=["open-stories", STORY, OTHER])
def test_the_quick_path_decides_every_call_as_the_long_way_does(
    tmp_path: Path, policy_file: bool, story: str | None
) -> None:
    root = example(tmp_path, policy_file=policy_file)
    decided = 0
    stepped_aside: list[str] = []
    for call in calls(root):
        expected = long_way(call, root, story)  # writes the cache entry the quick path reads
        got = quick_way(call, root, story)
        if isinstance(got, Unsure):
            stepped_aside.append(call.path)
            continue
        decided += 1
        assert got == expected, call.path
    # it steps aside only for what confinement refuses or words itself (outside, `..`, links, odd names)
    assert decided >= 3 * 60
    confined = {p.strip() for p in stepped_aside}
    assert confined <= {
        "../outside.ts",
        "packages/../../etc/passwd",
        str(root / "packages/../../etc/passwd"),
        "/etc/passwd",
        "/tmp/elsewhere.ts",
        str(root / "packages/core/src/out/x.ts"),
        "packages/core/src/out/x.ts",
        str(root / "packages/core/src/orders-link/x.ts"),
        "packages/core/src/orders-link/x.ts",
        str(root / "packages/core/src/orders/linked.ts"),
        "packages/core/src/orders/linked.ts",
        str(root / "packages/core/src/orders/back\\slash.ts"),
        "packages/core/src/orders/back\\slash.ts",
        str(root / ("packages/core/src/" + "n" * 300 + ".ts")),
        "packages/core/src/" + "n" * 300 + ".ts",
        str(root / "."),
        ".",
        str(root),
    }


def test_the_refusals_it_words_name_every_kind_of_rule(tmp_path: Path) -> None:
    root = example(tmp_path, policy_file=True)
    rules: set[str] = set()
    for call in calls(root):
        long_way(call, root, None)
        got = quick_way(call, root, None)
        if isinstance(got, str):
            rules.add(got.split("by rule `", 1)[1].split("`", 1)[0])
    assert {
        "protected-git",
        "protected-policy",
        "protected-story-inputs",
        "protected-server-owned",
        "no-react-components",
        "default-deny",
        "story-out-of-scope",
        "story-not-in-scope",
        "no-control-characters",
        "core-transport-agnostic",
        "no-todo-markers",
        "http-files-under-http-dir",
        "no-env-files",
    } <= rules


def hook(root: Path, path: str) -> tuple[int, str]:
    text = json.dumps(
        {
            "hook_event_name": "PreToolUse",
            "tool_name": "Write",
            "tool_input": {"file_path": str(root / path), "content": "export const a = 1;\n"},
            "cwd": str(root),
        }
    )
    return claude_code_hook(text, root=root, policy_path=None, story=None, environ={})


def test_nothing_changed_within_the_last_two_seconds_is_cached_against(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(private_cache, "RACY_NS", 2_000_000_000)
    root = example(tmp_path, policy_file=True)
    policy = root / ".storyfence.toml"
    policy.write_text(policy.read_text(encoding="utf-8") + "\n# just edited\n", encoding="utf-8")
    call = parse_hook_input(
        json.dumps({"tool_name": "Write", "tool_input": {"file_path": str(root / "README.md"), "content": "x"}})
    )
    assert call is not None
    long_way(call, root, None)
    assert isinstance(quick_way(call, root, None), Unsure)


def warm(root: Path) -> ToolCall:
    call = parse_hook_input(
        json.dumps({"tool_name": "Write", "tool_input": {"file_path": str(root / "README.md"), "content": "x"}})
    )
    assert call is not None
    long_way(call, root, None)
    assert isinstance(quick_way(call, root, None), str)
    return call


def test_a_changed_policy_file_is_never_decided_from_the_cache(tmp_path: Path) -> None:
    root = example(tmp_path, policy_file=True)
    call = warm(root)
    policy = root / ".storyfence.toml"
    policy.write_text(policy.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert isinstance(quick_way(call, root, None), Unsure)


def test_a_new_workspace_package_is_never_decided_from_the_cache(tmp_path: Path) -> None:
    root = example(tmp_path, policy_file=True)
    call = warm(root)
    write_tree(root, {"packages/admin/package.json": '{"name": "@acme/admin", "dependencies": {"react": "18"}}'})
    assert isinstance(quick_way(call, root, None), Unsure)


@pytest.mark.parametrize("layout_learned_first", [False, True], ids=["layout-learned-now", "layout-from-its-cache"])
def test_an_edited_module_of_a_learned_app_is_never_decided_from_the_cache(
    tmp_path: Path, layout_learned_first: bool
) -> None:
    """Also when the server (or an earlier hook) learned the layout first: the hook's long way then reads it from
    the layout cache, and its entry must still be keyed on every file and folder the layout was learned from."""
    root = example(tmp_path, policy_file=False)
    if layout_learned_first:
        learned_overlay_cached(root)
    call = warm(root)
    page = root / "apps/web/app/page.tsx"
    page.write_text(page.read_text(encoding="utf-8") + "\n// edited\n", encoding="utf-8")
    assert isinstance(quick_way(call, root, None), Unsure)


def test_a_story_whose_journal_or_scope_changed_is_decided_the_long_way(tmp_path: Path) -> None:
    root = example(tmp_path, policy_file=True)
    call = warm(root)
    scope = root / STORY / "_implementation/SCOPE.md"
    scope.write_text(scope.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert isinstance(quick_way(call, root, STORY), Unsure)
    backdate(root)  # a file changed within the last two seconds is never cached against
    call = warm(root)
    journal = root / STORY / "_implementation/.storyfence/journal.jsonl"
    with journal.open("a", encoding="utf-8") as fh:
        fh.write("\n")
    assert isinstance(quick_way(call, root, None), Unsure)


def test_a_damaged_or_foreign_cache_entry_is_never_trusted(tmp_path: Path) -> None:
    root = example(tmp_path, policy_file=True)
    call = warm(root)
    file = Path(hook_cache.entry_file(os.path.realpath(root), None))
    entry = json.loads(file.read_text(encoding="utf-8"))
    entry["bounds"]["rules"] = "not rules"
    file.write_text(json.dumps(entry), encoding="utf-8")
    assert isinstance(quick_way(call, root, None), Unsure)
    assert hook(root, "README.md")[1]  # the long way still refuses, and writes a sound entry again
    assert isinstance(quick_way(call, root, None), str)
    file.write_bytes(b"\x80garbage")
    assert isinstance(quick_way(call, root, None), Unsure)
    warm(root)
    file.chmod(0o666)
    assert isinstance(quick_way(call, root, None), Unsure)  # another user could have written it


def test_an_allowed_write_from_the_cache_still_gets_no_output(tmp_path: Path) -> None:
    root = example(tmp_path, policy_file=True)
    warm(root)
    assert hook(root, "packages/backend/src/fresh.ts") == (0, "")
    code, out = hook(root, "apps/web/components/X.tsx")
    assert code == 0
    assert "no-react-components" in json.loads(out)["hookSpecificOutput"]["permissionDecisionReason"]
