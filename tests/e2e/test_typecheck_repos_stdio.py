"""run_typecheck over stdio on repos other than the example's shape, with the real tools: a pnpm repo whose
check script is `typecheck` (through turbo, and without it), an npm-workspaces repo (`npm run typecheck
--workspace`), and a TypeScript package with no script (the repo's own tsc). Each fails on a real type
error and passes after the fix; the log on disk lists what ran and what was not type-checked."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from storyfence.commands import demo_script as s
from tests.support.client import call
from tests.support.paths import EXAMPLES
from tests.support.repos import story_inputs, write_tree
from tests.support.server import connect

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

CORE_FILE = "packages/core/src/orders/cancel-order.ts"
TYPESCRIPT = (EXAMPLES / "node_modules" / "typescript").resolve()


def rename_script(root: Path, old: str, new: str) -> None:
    """Rename a script in every package.json of the repo, and the turbo task of the same name."""
    for manifest in [root / "package.json", *root.glob("*/*/package.json")]:
        data: dict[str, Any] = json.loads(manifest.read_text(encoding="utf-8"))
        scripts: dict[str, str] = data.get("scripts", {})
        if old in scripts:
            scripts[new] = scripts.pop(old).replace(f"turbo run {old}", f"turbo run {new}")
            manifest.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    turbo = root / "turbo.json"
    turbo.write_text(turbo.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")


def log_text(root: Path, story: str) -> str:
    return (root / story / "_implementation" / "BACKEND-LOG.md").read_text(encoding="utf-8")


async def fail_then_pass(root: Path, story: str, path: str, broken: str, fix: dict[str, str]) -> list[dict[str, Any]]:
    """One chunk: write `broken`, typecheck (must fail), apply `fix`, typecheck (must pass), log it."""
    async with connect(root) as client:
        await call(client, "begin_chunk", story=story, name="cancel", objective="AC1")
        await call(client, "write_file", story=story, path=path, content=broken)
        failed = await call(client, "run_typecheck", story=story)
        await call(client, "edit_file", story=story, path=path, edits=[fix])
        passed = await call(client, "run_typecheck", story=story)
        logged = await call(client, "append_chunk_log", story=story, **s.CHUNK_1_LOG)
    assert failed["outcome"] == "failed", failed["message"]
    assert passed["outcome"] == "passed", passed["message"]
    assert logged["chunk_closed"] is True
    return [failed, passed]


@pytest.mark.parametrize("turbo", [True, False], ids=["turbo", "pnpm-filter"])
async def test_a_pnpm_repo_whose_script_is_typecheck_gets_a_real_check(example_repo: Path, turbo: bool) -> None:
    root = example_repo
    rename_script(root, "check-types", "typecheck")
    if not turbo:
        (root / "turbo.json").unlink()
    failed, _ = await fail_then_pass(root, s.STORY, CORE_FILE, s.CANCEL_ORDER_BROKEN, s.CANCEL_ORDER_FIX)
    # core and its dependents: one turbo command, or one command per package
    run, *dependents = failed["runs"]
    expected = (
        ["pnpm", "exec", "turbo", "run", "typecheck", "--filter", "...@example/core", "--continue"]
        if turbo
        else ["pnpm", "--filter", "@example/core", "run", "typecheck"]
    )
    assert run["argv"] == expected
    assert [r["package"] for r in dependents] == ([] if turbo else ["@example/api", "@example/backend"])
    assert [(d["file"], d["line"], d["code"]) for d in run["diagnostics"]] == [(CORE_FILE, 22, "TS2820")]
    text = log_text(root, s.STORY)
    assert f"`{' '.join(expected)}` → failed (exit" in text
    assert f"`{' '.join(expected)}` → passed (exit 0" in text
    assert "Commands run (if any):\n  - (none)" not in text


BROKEN = "export function total(prices: number[]): number {\n  return prices.join(',');\n}\n"
FIX = {"old_text": "prices.join(',')", "new_text": "prices.reduce((a, b) => a + b, 0)"}
NPM_STORY = "STORY-007"


def npm_repo(root: Path) -> Path:
    """An npm-workspaces repo: core has a `typecheck` script, backend only a tsconfig.json; typescript is
    the one the example already installed (linked, not downloaded)."""
    tsconfig = {"compilerOptions": {"strict": True, "noEmit": True, "target": "ES2022", "types": []}}
    files: dict[str, Any] = {
        "package.json": {"name": "shop", "private": True, "workspaces": ["packages/*"]},
        "package-lock.json": {"name": "shop", "lockfileVersion": 3, "requires": True, "packages": {}},
        "packages/core/package.json": {"name": "@shop/core", "private": True, "scripts": {"typecheck": "tsc -p ."}},
        "packages/core/tsconfig.json": {**tsconfig, "include": ["src"]},
        "packages/core/src/index.ts": "export const one = 1;\n",
        "packages/backend/package.json": {"name": "@shop/backend", "private": True},
        "packages/backend/tsconfig.json": {**tsconfig, "include": ["src"]},
        "packages/backend/src/index.ts": "export const two = 2;\n",
        **story_inputs(NPM_STORY, story_md="# Totals\n"),
    }
    write_tree(root, files, indent=2)
    (root / "node_modules" / ".bin").mkdir(parents=True)
    os.symlink(TYPESCRIPT, root / "node_modules" / "typescript")
    os.symlink("../typescript/bin/tsc", root / "node_modules" / ".bin" / "tsc")
    return root


async def test_an_npm_workspaces_repo_runs_npm_run_typecheck_for_the_workspace(tmp_path: Path) -> None:
    root = npm_repo(tmp_path / "repo")
    path = "packages/core/src/total.ts"
    failed, _ = await fail_then_pass(root, NPM_STORY, path, BROKEN, FIX)
    [run] = failed["runs"]
    assert run["argv"] == ["npm", "run", "typecheck", "--workspace", "@shop/core"]
    assert [(d["file"], d["line"], d["code"]) for d in run["diagnostics"]] == [(path, 2, "TS2322")]
    assert "`npm run typecheck --workspace @shop/core` → passed (exit 0" in log_text(root, NPM_STORY)


async def test_a_typescript_package_without_a_script_is_checked_with_the_repos_tsc(tmp_path: Path) -> None:
    root = npm_repo(tmp_path / "repo")
    path = "packages/backend/src/total.ts"
    failed, _ = await fail_then_pass(root, NPM_STORY, path, BROKEN, FIX)
    [run] = failed["runs"]
    assert run["argv"] == ["node_modules/.bin/tsc", "--noEmit", "-p", "packages/backend/tsconfig.json"]
    assert [(d["file"], d["line"], d["code"]) for d in run["diagnostics"]] == [(path, 2, "TS2322")]
    text = log_text(root, NPM_STORY)
    assert "`node_modules/.bin/tsc --noEmit -p packages/backend/tsconfig.json` → passed (exit 0" in text


async def test_the_example_story_still_closes_with_its_http_and_sql_files_listed_as_not_type_checked(
    example_repo: Path,
) -> None:
    root = example_repo
    (root / s.STORY / "_implementation" / "SCOPE.md").write_text("# Scope\n", encoding="utf-8")  # db in scope
    async with connect(root) as client:
        await call(client, "begin_chunk", story=s.STORY, name="migration and requests", objective="AC4")
        await call(client, "write_file", story=s.STORY, path="__http__/orders-cancel.http", content=s.CANCEL_HTTP)
        sql = "packages/db/migrations/0002_cancelled_at.sql"
        await call(client, "write_file", story=s.STORY, path=sql, content="ALTER TABLE orders ADD cancelled_at text;\n")
        checked = await call(client, "run_typecheck", story=s.STORY)
        logged = await call(client, "append_chunk_log", story=s.STORY, **s.CHUNK_2_LOG)
    assert checked["outcome"] == "not_needed"
    assert checked["unchecked"] == ["__http__/orders-cancel.http", sql]
    assert logged["chunk_closed"] is True
    text = log_text(root, s.STORY)
    assert "  - not type-checked: `__http__/orders-cancel.http` (not code a typecheck reads)\n" in text
    assert f"  - not type-checked: `{sql}` (not code a typecheck reads)\n" in text
