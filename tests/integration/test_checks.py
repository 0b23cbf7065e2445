"""The check command read from a repo (package manager, script, turbo, tsc), and the gate in the service
with an injected run_command: a chunk with a file no check covers never closes silently."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import anyio
import pytest

from storyfence.adapters.checks import Checks, detect_manager, script_command, turbo_runs
from storyfence.adapters.packages import WorkspacePackages
from storyfence.adapters.policy_file import load_builtin
from storyfence.app.service import StoryfenceService
from storyfence.core.models import CommandRun, PortsAdapters, Reuse
from storyfence.core.policy import Policy
from storyfence.core.policy_load import extend_policy
from tests.support.repos import story_inputs, write_tree

STORY = "STORY-001"
SETTINGS = load_builtin().typecheck


def monorepo(
    root: Path, *, lockfile: str = "pnpm-lock.yaml", script: str = "typecheck", extra: dict[str, Any] | None = None
) -> Path:
    files: dict[str, Any] = {
        "package.json": {"name": "shop", "private": True, "workspaces": ["apps/*", "packages/*"]},
        lockfile: "",
        "packages/core/package.json": {"name": "@shop/core", "scripts": {script: "tsc --noEmit", "build": "tsc"}},
        "packages/core/src/a.ts": "export const a = 1;\n",
        "packages/backend/package.json": {"name": "@shop/backend"},
        "packages/backend/tsconfig.json": "{}",
        "packages/backend/src/b.ts": "export const b = 1;\n",
        "apps/api/package.json": {"name": "api"},
        "apps/api/orders/views.py": "def view(): ...\n",
        **story_inputs(STORY),
    }
    if lockfile == "pnpm-lock.yaml":
        files["pnpm-workspace.yaml"] = "packages:\n  - apps/*\n  - packages/*\n"
    return write_tree(root, {**files, **(extra or {})})


# --- reading the repo ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"package.json": {"packageManager": "yarn@4.1.0"}, "pnpm-lock.yaml": ""}, "yarn"),  # the field wins
        ({"package.json": {}, "pnpm-lock.yaml": ""}, "pnpm"),
        ({"package.json": {}, "package-lock.json": "{}"}, "npm"),
        ({"package.json": {}, "yarn.lock": ""}, "yarn"),
        ({"package.json": {}, "bun.lock": ""}, "bun"),
        ({"package.json": {}, "bun.lockb": ""}, "bun"),
        ({"package.json": {"packageManager": "bun@1.2.0"}}, "bun"),
        ({"package.json": {}}, "npm"),
    ],
)
def test_the_package_manager_comes_from_package_manager_else_the_lockfile(
    tmp_path: Path, files: dict[str, Any], expected: str
) -> None:
    assert detect_manager(write_tree(tmp_path, files)) == expected


def test_turbo_runs_a_task_only_when_turbo_json_defines_it_and_turbo_is_a_root_dependency(tmp_path: Path) -> None:
    write_tree(
        tmp_path, {"package.json": {"devDependencies": {"turbo": "2"}}, "turbo.json": {"tasks": {"typecheck": {}}}}
    )
    assert turbo_runs(tmp_path, "typecheck")
    assert not turbo_runs(tmp_path, "check-types")
    write_tree(tmp_path, {"turbo.json": {"pipeline": {"api#check-types": {}}}})  # turbo 1, one package's task
    assert turbo_runs(tmp_path, "check-types")
    write_tree(tmp_path, {"package.json": {"devDependencies": {}}})
    assert not turbo_runs(tmp_path, "check-types")


@pytest.mark.parametrize(
    ("manager", "turbo", "argv"),
    [
        ("pnpm", False, ("pnpm", "--filter", "@shop/core", "run", "typecheck")),
        ("npm", False, ("npm", "run", "typecheck", "--workspace", "@shop/core")),
        ("yarn", False, ("yarn", "workspace", "@shop/core", "run", "typecheck")),
        ("bun", False, ("bun", "run", "--filter", "@shop/core", "typecheck")),
        ("pnpm", True, ("pnpm", "exec", "turbo", "run", "typecheck", "--filter", "@shop/core")),
        ("npm", True, ("npm", "exec", "--no", "--", "turbo", "run", "typecheck", "--filter", "@shop/core")),
        ("yarn", True, ("yarn", "turbo", "run", "typecheck", "--filter", "@shop/core")),
        ("bun", True, ("bun", "run", "turbo", "run", "typecheck", "--filter", "@shop/core")),
    ],
)
def test_the_command_is_built_for_each_package_manager_with_and_without_turbo(
    manager: Any, turbo: bool, argv: tuple[str, ...]
) -> None:
    assert script_command(manager, "@shop/core", "typecheck", turbo=turbo) == argv


def test_through_turbo_a_package_and_its_dependents_are_one_command_that_runs_every_check() -> None:
    argv = script_command("pnpm", "@shop/core", "typecheck", turbo=True, dependents=True)
    assert argv == ("pnpm", "exec", "turbo", "run", "typecheck", "--filter", "...@shop/core", "--continue")
    assert script_command("pnpm", "@shop/core", "typecheck", turbo=False, dependents=True) == (
        "pnpm",
        "--filter",
        "@shop/core",
        "run",
        "typecheck",
    )


def test_changed_packages_and_their_dependents_are_planned_once_each(tmp_path: Path) -> None:
    turbo = {
        "package.json": {"name": "shop", "devDependencies": {"turbo": "2"}},
        "turbo.json": {"tasks": {"typecheck": {}}},
    }
    root = monorepo(
        tmp_path,
        extra={
            **turbo,
            "packages/backend/package.json": {"name": "@shop/backend", "dependencies": {"@shop/core": "workspace:*"}},
            "apps/api/package.json": {
                "name": "api",
                "scripts": {"typecheck": "tsc --noEmit"},
                "dependencies": {"@shop/backend": "workspace:*"},
            },
        },
    )
    checks = Checks(root, SETTINGS)
    dependents = checks.workspace.dependents(["packages/core"])
    assert dependents == ("apps/api", "packages/backend")
    planned = checks.commands(["packages/core"], dependents)
    # turbo runs api's typecheck with core's; backend has no script, so the repo's tsc checks it on its own
    assert [(c.argv, c.packages) for c in planned] == [
        (
            ("pnpm", "exec", "turbo", "run", "typecheck", "--filter", "...@shop/core", "--continue"),
            ("packages/core", "apps/api"),
        ),
        (("node_modules/.bin/tsc", "--noEmit", "-p", "packages/backend/tsconfig.json"), ("packages/backend",)),
    ]
    # api changed too: core's command already checks it
    both = checks.commands(["apps/api", "packages/core"], checks.workspace.dependents(["apps/api", "packages/core"]))
    assert [c.packages for c in both] == [("packages/core", "apps/api"), ("packages/backend",)]
    # without dependents, one command per changed package, as before
    alone = checks.commands(["packages/core"])
    assert [c.argv for c in alone] == [("pnpm", "exec", "turbo", "run", "typecheck", "--filter", "@shop/core")]


def test_the_root_package_runs_its_own_script(tmp_path: Path) -> None:
    assert script_command("npm", "shop", "typecheck", turbo=True, root=True) == ("npm", "run", "typecheck")


def test_a_package_without_a_script_but_with_a_tsconfig_is_checked_by_the_repos_own_tsc(tmp_path: Path) -> None:
    root = monorepo(tmp_path)
    checks = Checks(root, SETTINGS)
    lib = checks.command(checks.workspace.by_dir["packages/backend"])
    assert lib is not None
    assert lib.argv == ("node_modules/.bin/tsc", "--noEmit", "-p", "packages/backend/tsconfig.json")
    assert lib.diagnostics_dir == "."  # tsc prints paths relative to the repo root it runs in
    write_tree(root, {"packages/backend/node_modules/.bin/tsc": "#!/bin/sh\n"})
    again = Checks(root, SETTINGS).command(checks.workspace.by_dir["packages/backend"])
    assert again is not None
    assert again.argv[0] == "packages/backend/node_modules/.bin/tsc"
    assert checks.command(checks.workspace.by_dir["apps/api"]) is None  # no script, no tsconfig


def test_a_custom_command_replaces_the_script_command_with_package_and_script_filled_in(tmp_path: Path) -> None:
    root = monorepo(tmp_path, script="check:types")
    custom = SETTINGS.model_copy(update={"command": ("make", "check", "PKG={package}", "TASK={script}")})
    checks = Checks(root, custom)
    core = checks.command(checks.workspace.by_dir["packages/core"])
    assert core is not None
    assert core.argv == ("make", "check", "PKG=@shop/core", "TASK=check:types")


def test_a_types_script_that_generates_code_is_not_taken_for_a_check(tmp_path: Path) -> None:
    root = monorepo(
        tmp_path, extra={"packages/core/package.json": {"name": "@shop/core", "scripts": {"types": "prisma generate"}}}
    )
    checks = Checks(root, SETTINGS)
    assert checks.command(checks.workspace.by_dir["packages/core"]) is None


# --- the gate, with an injected run_command ----------------------------------------------------------------


class FakeRunner:
    """Records every argv and answers with `outcome` (the service never knows it is not a subprocess)."""

    def __init__(self, outcome: str = "passed") -> None:
        self.outcome = outcome
        self.argvs: list[tuple[str, ...]] = []

    async def __call__(self, argv: tuple[str, ...], *, package: str, **_: Any) -> CommandRun:
        self.argvs.append(argv)
        code = 0 if self.outcome == "passed" else 2
        return CommandRun(argv=argv, package=package, exit_code=code, outcome=self.outcome, duration_seconds=0.1)  # type: ignore[arg-type]


def allowing(*entries: dict[str, Any]) -> Policy:
    return extend_policy(load_builtin(), {"typecheck": {"unchecked": list(entries)}}, "repo.toml")


def log_chunk(service: StoryfenceService) -> bool:
    reuse = Reuse(reused="none", new="x", why_new="needed")
    return service.append_chunk_log(STORY, "s", reuse, PortsAdapters(core="a", adapters="b"), "none").chunk_closed


def log_text(root: Path) -> str:
    return (root / STORY / "_implementation" / "BACKEND-LOG.md").read_text(encoding="utf-8")


def test_a_chunk_with_a_ts_file_no_check_covers_does_not_close_and_says_what_to_do(tmp_path: Path) -> None:
    root = monorepo(tmp_path)
    (root / "packages/backend/tsconfig.json").unlink()  # no script, no tsconfig: nothing checks the package
    runner = FakeRunner()
    service = StoryfenceService(root, load_builtin(), run_command=runner)
    service.begin_chunk(STORY, "orders", "AC1")
    service.write_file(STORY, "packages/backend/src/orders.ts", "export const orders = 1;\n")
    result = anyio.run(service.run_typecheck, STORY)
    assert result.outcome == "unchecked"
    assert result.runs == []
    assert runner.argvs == []
    assert result.unchecked == ["packages/backend/src/orders.ts"]
    assert result.chunk_closed is False
    assert "no typecheck covers packages/backend/src/orders.ts" in result.message
    assert "[[typecheck.unchecked]]" in result.message
    assert "report_blocker" in result.message
    assert log_chunk(service) is False
    status = service.story_status(STORY)
    assert "cannot close" in status.next_step
    assert "add a check script" in status.next_step
    assert status.chunks[0].typecheck == "unchecked"
    assert "- Commands run (if any):" not in log_text(root)  # the rest of the section waits for the chunk's end

    # the user adds a check script outside the story: run_typecheck may run again without a write
    write_tree(
        root, {"packages/backend/package.json": {"name": "@shop/backend", "scripts": {"typecheck": "tsc --noEmit"}}}
    )
    again = anyio.run(service.run_typecheck, STORY)
    assert again.outcome == "passed"
    assert again.chunk_closed is True
    assert runner.argvs == [("pnpm", "--filter", "@shop/backend", "run", "typecheck")]
    text = log_text(root)
    assert "after the log" not in text
    assert (
        "- Commands run (if any):\n"
        "  - `pnpm --filter @shop/backend run typecheck` → passed (exit 0, 0.1s)\n"
        "- Notes / Risks:"
    ) in text


def test_an_unchecked_allowance_lets_the_chunk_close_and_the_log_lists_the_file_with_its_reason(tmp_path: Path) -> None:
    root = monorepo(tmp_path)
    django = {"paths": ["apps/api/**"], "reason": "Django backend: no TypeScript check applies"}
    policy = extend_policy(
        allowing(django),
        {"rules": [{"id": "django", "kind": "allow", "patterns": ["apps/api/**"], "reason": "r"}]},
        "r.toml",
    )
    runner = FakeRunner()
    service = StoryfenceService(root, policy, run_command=runner)
    service.begin_chunk(STORY, "views", "AC1")
    service.write_file(STORY, "apps/api/orders/views.py", "def view():\n    return 1\n")
    service.write_file(STORY, "packages/core/src/a.ts", "export const a = 2;\n")
    result = anyio.run(service.run_typecheck, STORY)
    assert result.outcome == "passed"
    assert [u.path for u in result.unchecked_files] == ["apps/api/orders/views.py"]
    assert result.unchecked_files[0].allowed is True
    assert "Not type-checked: apps/api/orders/views.py (Django backend: no TypeScript check applies)" in result.message
    assert runner.argvs == [("pnpm", "--filter", "@shop/core", "run", "typecheck")]
    assert log_chunk(service) is True
    text = log_text(root)
    assert (
        "  - `pnpm --filter @shop/core run typecheck` → passed (exit 0, 0.1s)\n"
        "  - not type-checked: `apps/api/orders/views.py` (Django backend: no TypeScript check applies)\n"
    ) in text


def test_files_logged_before_the_typecheck_are_listed_as_not_checked_in_the_chunks_one_section(
    tmp_path: Path,
) -> None:
    root = monorepo(tmp_path)
    service = StoryfenceService(root, load_builtin(), run_command=FakeRunner())
    service.begin_chunk(STORY, "migration", "AC1")
    service.write_file(STORY, "packages/db/migrations/0002_cancel.sql", "alter table orders add column x int;\n")
    assert log_chunk(service) is False
    result = anyio.run(service.run_typecheck, STORY)
    assert (result.outcome, result.chunk_closed) == ("not_needed", True)
    text = log_text(root)
    assert "###" not in text  # one section, whichever came first: the log or the typecheck
    assert (
        "- Commands run (if any):\n"
        "  - not type-checked: `packages/db/migrations/0002_cancel.sql` (not code a typecheck reads)\n"
    ) in text
    assert "- Files changed:\n  - `packages/db/migrations/0002_cancel.sql` (created)\n" in text


@pytest.mark.parametrize(
    ("lockfile", "argv"),
    [
        ("package-lock.json", ("npm", "run", "typecheck", "--workspace", "@shop/core")),
        ("yarn.lock", ("yarn", "workspace", "@shop/core", "run", "typecheck")),
        ("bun.lock", ("bun", "run", "--filter", "@shop/core", "typecheck")),
        ("pnpm-lock.yaml", ("pnpm", "--filter", "@shop/core", "run", "typecheck")),
    ],
)
def test_the_gate_runs_the_packages_typecheck_script_with_the_repos_package_manager(
    tmp_path: Path, lockfile: str, argv: tuple[str, ...]
) -> None:
    root = monorepo(tmp_path, lockfile=lockfile)
    runner = FakeRunner()
    service = StoryfenceService(root, load_builtin(), run_command=runner)
    service.begin_chunk(STORY, "core", "AC1")
    service.write_file(STORY, "packages/core/src/a.ts", "export const a = 2;\n")
    assert anyio.run(service.run_typecheck, STORY).outcome == "passed"
    assert runner.argvs == [argv]


@pytest.mark.skipif(shutil.which("bun") is not None, reason="bun is installed here")
def test_a_missing_bun_is_a_tooling_error_not_a_pass_and_not_a_fix_attempt(tmp_path: Path) -> None:
    root = monorepo(tmp_path, lockfile="bun.lock")
    service = StoryfenceService(root, load_builtin())  # the real run_command
    service.begin_chunk(STORY, "core", "AC1")
    service.write_file(STORY, "packages/core/src/a.ts", "export const a = 2;\n")
    result = anyio.run(service.run_typecheck, STORY)
    assert result.outcome == "tooling_error"
    assert result.runs[0].argv[0] == "bun"
    assert "`bun` was not found on PATH" in result.runs[0].note
    assert result.failed_fix_attempts == 0
    assert result.chunk_closed is False


def test_a_typescript_package_without_tsc_installed_is_a_tooling_error(tmp_path: Path) -> None:
    root = monorepo(tmp_path)
    service = StoryfenceService(root, load_builtin())  # the real run_command: there is no node_modules/.bin/tsc
    service.begin_chunk(STORY, "lib", "AC1")
    service.write_file(STORY, "packages/backend/src/b.ts", "export const b = 2;\n")
    result = anyio.run(service.run_typecheck, STORY)
    assert result.outcome == "tooling_error"
    assert result.runs[0].argv == ("node_modules/.bin/tsc", "--noEmit", "-p", "packages/backend/tsconfig.json")
    assert "was not found in the repo" in result.runs[0].note
    assert result.chunk_closed is False


def test_workspace_discovery_is_unchanged_for_the_checks(tmp_path: Path) -> None:
    root = monorepo(tmp_path)
    assert {p.dir for p in WorkspacePackages(root).packages} >= {"packages/core", "packages/backend", "apps/api", "."}
