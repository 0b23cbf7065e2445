"""The gate checks what a change can break: the packages that depend on a changed one, and a dependent that
was failing before the story is not blamed on the chunk. In-process, with a fake typecheck runner injected
through the service's `run_command` port and a real git repo (the base commit is checked in a real, temporary
git worktree; only the commands run there are fake)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest

from storyfence.adapters.policy_file import load_builtin
from storyfence.app.service import StoryfenceService
from storyfence.commands.audit import run_audit
from storyfence.core.events import BaselineChecked
from storyfence.core.models import CommandRun, Diagnostic, PortsAdapters, Reuse
from storyfence.core.policy_load import extend_policy
from tests.support.git import commit_all, git
from tests.support.repos import copy_example, write_tree

STORY = "STORY-042"
ORDER = "packages/core/src/orders/order.ts"
NAMES = {"packages/core": "@example/core", "packages/backend": "@example/backend", "apps/api": "@example/api"}
OLD = Diagnostic(
    file="packages/backend/src/config.ts", line=6, column=14, code="TS2322", message="Type 'string' is bad."
)
NEW = Diagnostic(
    file="packages/backend/src/seed.ts", line=7, column=5, code="TS2353", message="'customerId' is unknown."
)
Errors = Mapping[str, Sequence[Diagnostic]]  # package dir -> the errors its check prints


def turbo(argv: tuple[str, ...], package: str, errors: Errors) -> CommandRun:
    """A run as turbo reports it: the diagnostics, and a summary naming the failed checks."""
    found = tuple(dict.fromkeys(d for dirs in errors.values() for d in dirs))  # tsc's output, deduplicated
    failed = ", ".join(f"{NAMES[d]}#check-types" for d, e in sorted(errors.items()) if e)
    return CommandRun(
        argv=argv,
        package=package,
        exit_code=2 if failed else 0,
        outcome="failed" if failed else "passed",
        duration_seconds=0.1,
        diagnostics=found,
        output_tail=f" Tasks:    1 successful, 3 total\nFailed:    {failed}\n" if failed else " Tasks: 3 successful",
        note=f"{len(found)} type error(s)" if found else "",
    )


@dataclass
class Runner:
    """Answers the repo's checks with `now` and the base commit's with `then`; remembers every call."""

    repo: Path
    now: Errors = field(default_factory=dict[str, Sequence[Diagnostic]])
    then: Errors = field(default_factory=dict[str, Sequence[Diagnostic]])
    install: Callable[[tuple[str, ...]], CommandRun] | None = None
    calls: list[tuple[tuple[str, ...], Path]] = field(default_factory=list[tuple[tuple[str, ...], Path]])
    trees: list[list[str]] = field(default_factory=list[list[str]])  # the repo's worktrees while each ran

    async def __call__(self, argv: tuple[str, ...], *, package: str, cwd: Path, **_: Any) -> CommandRun:
        self.calls.append((argv, cwd))
        if (self.repo / ".git").exists():
            self.trees.append([line for line in git(self.repo, "worktree", "list").splitlines() if line])
        if "install" in argv:
            if self.install is not None:
                return self.install(argv)
            return CommandRun(argv=argv, package=package, exit_code=0, outcome="passed", duration_seconds=0.1)
        errors = self.now if cwd == self.repo else self.then
        return turbo(argv, package, errors)

    @property
    def at_base(self) -> list[tuple[tuple[str, ...], Path]]:
        return [(argv, cwd) for argv, cwd in self.calls if cwd != self.repo]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = copy_example(tmp_path / "repo", node_modules=False)
    commit_all(root, "before the story", init=True)
    return root


def service_with(repo: Path, runner: Runner, **typecheck: Any) -> StoryfenceService:
    policy = extend_policy(load_builtin(), {"typecheck": typecheck}, "repo.toml") if typecheck else load_builtin()
    return StoryfenceService(repo, policy, run_command=runner)


def change_core(service: StoryfenceService, name: str = "rename customerId") -> None:
    service.begin_chunk(STORY, name, "a type change in core")
    text = (service.repo.root / ORDER).read_text(encoding="utf-8")
    service.write_file(STORY, ORDER, text.replace("customerId", "customer"))


def log_chunk(service: StoryfenceService) -> bool:
    reuse = Reuse(reused="Order", new="none", why_new="n/a")
    ports = PortsAdapters(core="the type", adapters="none")
    return service.append_chunk_log(STORY, "renamed", reuse, ports, "none").chunk_closed


def log_text(repo: Path) -> str:
    return (repo / STORY / "_implementation" / "BACKEND-LOG.md").read_text(encoding="utf-8")


def baselines_recorded(service: StoryfenceService) -> list[BaselineChecked]:
    records, _ = service.repo.story(STORY).store.read_state()
    return [r.event for r in records if isinstance(r.event, BaselineChecked)]


def test_a_change_to_core_checks_core_and_every_package_that_depends_on_it_in_one_turbo_command(repo: Path) -> None:
    runner = Runner(repo)
    service = service_with(repo, runner)
    change_core(service)
    result = anyio.run(service.run_typecheck, STORY)
    assert result.outcome == "passed"
    [run] = result.runs
    assert run.argv == ("pnpm", "exec", "turbo", "run", "check-types", "--filter", "...@example/core", "--continue")
    assert run.packages == ("packages/core", "apps/api", "packages/backend")
    assert result.dependents == ["@example/api", "@example/backend"]
    assert result.baselines == []
    assert runner.at_base == []  # nothing failed: no base commit is checked


def test_a_dependent_the_chunk_breaks_fails_the_typecheck_with_the_dependents_diagnostic(repo: Path) -> None:
    runner = Runner(repo, now={"packages/backend": [NEW]})
    service = service_with(repo, runner)
    change_core(service)
    result = anyio.run(service.run_typecheck, STORY)

    assert result.outcome == "failed"
    assert result.runs[0].diagnostics == (NEW,)
    assert result.runs[0].preexisting == ()
    assert result.failed_fix_attempts == 0
    [taken] = result.baselines
    assert (taken.package, taken.available, taken.failed, taken.errors) == ("@example/backend", True, False, ())
    base = git(repo, "rev-parse", "HEAD").strip()
    assert taken.commit == base
    install, check = runner.at_base
    assert install[0][:5] == ("pnpm", "install", "--offline", "--frozen-lockfile", "--ignore-scripts")
    assert check[0] == ("pnpm", "exec", "turbo", "run", "check-types", "--filter", "@example/backend", "--continue")
    assert install[1] == check[1]
    assert not check[1].is_relative_to(repo)
    text = log_text(repo)
    assert f"- Base commit: `{base[:12]}`" in text
    assert "- `@example/backend` passing then: `pnpm exec turbo run check-types --filter @example/backend" in text
    assert "`packages/backend/src/seed.ts:7:5` TS2353" in text  # the failure block lists the new error


def test_a_dependent_failing_before_the_story_is_reported_but_never_blamed_nor_a_fix_attempt(repo: Path) -> None:
    moved = OLD.model_copy(update={"line": 8})  # the same error two lines lower: still the old one
    runner = Runner(repo, now={"packages/backend": [moved]}, then={"packages/backend": [OLD]})
    service = service_with(repo, runner)
    change_core(service)
    result = anyio.run(service.run_typecheck, STORY)

    assert result.outcome == "passed"
    [run] = result.runs
    assert (run.outcome, run.exit_code, run.diagnostics, run.preexisting) == ("passed", 2, (), (moved,))
    assert "already there before the story: 1 in @example/backend" in run.note
    assert "already there before the story" in result.message
    assert result.failed_fix_attempts == 0
    assert log_chunk(service) is True
    text = log_text(repo)
    assert "- `@example/backend` failing then: `pnpm exec turbo run check-types" in text
    assert "`packages/backend/src/config.ts:6:14` TS2322: Type 'string' is bad." in text
    assert "→ passed (exit 2, 0.1s): every type error was already there before the story: 1 in @example/backend" in text

    # the next chunk: the baseline is in the journal, so the base commit is not checked again
    change_core(service, "and back")
    assert anyio.run(service.run_typecheck, STORY).outcome == "passed"
    assert len(runner.at_base) == 2  # the one install and the one check, from the first chunk
    assert len(baselines_recorded(service)) == 1
    assert log_chunk(service) is True
    findings = run_audit(repo, STORY, policy_path=None).findings
    assert [f for f in findings if f.kind == "log-mismatch"] == []  # the log holds every block the journal has


def test_a_dependent_failing_only_on_another_ones_old_error_is_old_too_and_both_are_checked_in_one_run(
    repo: Path,
) -> None:
    # api compiles backend's files, so backend's old error fails api's check too, then and now
    failing = {"packages/backend": [OLD], "apps/api": [OLD]}
    runner = Runner(repo, now=failing, then=failing)
    service = service_with(repo, runner)
    change_core(service)
    result = anyio.run(service.run_typecheck, STORY)
    assert result.outcome == "passed"
    assert [(b.package, b.failed, b.errors) for b in result.baselines] == [
        ("@example/api", True, ()),
        ("@example/backend", True, (OLD,)),
    ]
    _, (check, _) = runner.at_base
    assert check[-5:] == ("--filter", "@example/api", "--filter", "@example/backend", "--continue")


def test_a_dependent_that_fails_now_and_passed_before_is_blamed_even_on_another_ones_old_error(repo: Path) -> None:
    runner = Runner(repo, now={"packages/backend": [OLD], "apps/api": [OLD]}, then={"packages/backend": [OLD]})
    service = service_with(repo, runner)
    change_core(service)
    result = anyio.run(service.run_typecheck, STORY)
    assert result.outcome == "failed"
    assert "the failed check of @example/api was not failing then" in result.runs[0].note
    assert result.failed_fix_attempts == 0  # a first failure, as any other


def test_a_new_error_beside_an_old_one_fails_and_the_old_one_is_listed_apart(repo: Path) -> None:
    runner = Runner(repo, now={"packages/backend": [OLD, NEW]}, then={"packages/backend": [OLD]})
    service = service_with(repo, runner)
    change_core(service)
    result = anyio.run(service.run_typecheck, STORY)
    assert result.outcome == "failed"
    assert (result.runs[0].diagnostics, result.runs[0].preexisting) == ((NEW,), (OLD,))
    assert "1 more were already there before the story" in result.message


def test_the_base_commit_is_checked_in_a_worktree_that_is_gone_after_and_the_working_tree_is_untouched(
    repo: Path,
) -> None:
    runner = Runner(repo, now={"packages/backend": [OLD]}, then={"packages/backend": [OLD]})
    service = service_with(repo, runner)
    change_core(service)
    status_before = git(repo, "status", "--porcelain")
    anyio.run(service.run_typecheck, STORY)
    at_base = [trees for (_, cwd), trees in zip(runner.calls, runner.trees, strict=True) if cwd != repo]
    assert all(len(trees) == 2 and "(detached HEAD)" in trees[1] for trees in at_base)
    assert len(git(repo, "worktree", "list").splitlines()) == 1
    assert not runner.at_base[0][1].exists()
    changed = {line[3:] for line in git(repo, "status", "--porcelain").splitlines()}
    assert changed == {line[3:] for line in status_before.splitlines()} | {f"{STORY}/_implementation/BACKEND-LOG.md"}


def test_without_git_nothing_is_excused_and_the_result_and_log_say_why_once(tmp_path: Path) -> None:
    root = copy_example(tmp_path / "repo", node_modules=False)
    runner = Runner(root, now={"packages/backend": [OLD]}, then={"packages/backend": [OLD]})
    service = service_with(root, runner)
    change_core(service)
    result = anyio.run(service.run_typecheck, STORY)
    assert result.outcome == "failed"
    [taken] = result.baselines
    assert taken.available is False
    assert "did not begin on a git commit" in taken.reason
    assert "no baseline for @example/backend" in result.runs[0].note
    assert "- `@example/backend`: no baseline, so its errors count: the story did not begin" in log_text(root)
    service.write_file(STORY, ORDER, "export type Order = { id: string };\n")
    assert anyio.run(service.run_typecheck, STORY).baselines == []  # recorded: not tried again
    assert runner.at_base == []


def test_an_offline_install_that_fails_leaves_the_failure_counting(repo: Path) -> None:
    def offline_miss(argv: tuple[str, ...]) -> CommandRun:
        return CommandRun(
            argv=argv,
            package="(offline install)",
            exit_code=1,
            outcome="tooling_error",
            duration_seconds=0.1,
            output_tail="ERR_PNPM_NO_OFFLINE_TARBALL",
            note="`pnpm` exited 1 without any TypeScript diagnostic",
        )

    runner = Runner(repo, now={"packages/backend": [OLD]}, then={"packages/backend": [OLD]}, install=offline_miss)
    service = service_with(repo, runner)
    change_core(service)
    result = anyio.run(service.run_typecheck, STORY)
    assert result.outcome == "failed"
    assert "the offline install of its dependencies failed" in result.baselines[0].reason
    assert len(runner.at_base) == 1  # the install only: no check of a tree without its dependencies
    assert "- Setup: `pnpm install --offline" in log_text(repo)


def test_with_dependents_off_only_the_changed_package_is_checked(repo: Path) -> None:
    runner = Runner(repo, now={"packages/backend": [OLD]})
    service = service_with(repo, runner, dependents=False)
    change_core(service)
    result = anyio.run(service.run_typecheck, STORY)
    assert [r.argv for r in result.runs] == [
        ("pnpm", "exec", "turbo", "run", "check-types", "--filter", "@example/core")
    ]
    assert result.dependents == []
    assert result.outcome == "failed"  # nothing is judged old without dependents
    assert runner.at_base == []


def test_without_turbo_each_dependent_gets_a_command_of_its_own(repo: Path) -> None:
    (repo / "turbo.json").unlink()
    runner = Runner(repo)
    service = service_with(repo, runner)
    change_core(service)
    result = anyio.run(service.run_typecheck, STORY)
    assert [(r.argv, r.packages) for r in result.runs] == [
        (("pnpm", "--filter", "@example/core", "run", "check-types"), ("packages/core",)),
        (("pnpm", "--filter", "@example/api", "run", "check-types"), ("apps/api",)),
        (("pnpm", "--filter", "@example/backend", "run", "check-types"), ("packages/backend",)),
    ]


def test_a_workspace_alias_and_a_plain_name_are_edges_of_the_graph(repo: Path) -> None:
    write_tree(
        repo,
        {
            "packages/jobs/package.json": {
                "name": "@example/jobs",
                "scripts": {"check-types": "tsc --noEmit"},
                "dependencies": {"orders": "workspace:@example/backend@*"},
            },
            "packages/report/package.json": {
                "name": "@example/report",
                "scripts": {"check-types": "tsc --noEmit"},
                "devDependencies": {"@example/core": "0.0.0"},
            },
        },
    )
    service = service_with(repo, Runner(repo))
    change_core(service)
    result = anyio.run(service.run_typecheck, STORY)
    assert result.dependents == ["@example/api", "@example/backend", "@example/jobs", "@example/report"]


def test_a_call_cancelled_while_the_base_commit_is_checked_leaves_no_worktree_and_records_what_ran(
    repo: Path,
) -> None:
    runner = Runner(repo, now={"packages/backend": [OLD]})
    checking: list[anyio.Event] = []

    async def hang_at_base(argv: tuple[str, ...], *, package: str, cwd: Path, **rest: Any) -> CommandRun:
        if cwd != repo and "install" not in argv:
            checking[0].set()
            await anyio.sleep_forever()
        return await runner(argv, package=package, cwd=cwd, **rest)

    service = StoryfenceService(repo, load_builtin(), run_command=hang_at_base)
    change_core(service)

    async def cancel_while_checking() -> None:
        checking.append(anyio.Event())
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(service.run_typecheck, STORY)
                await checking[0].wait()
                tg.cancel_scope.cancel()

    anyio.run(cancel_while_checking)
    assert len(git(repo, "worktree", "list").splitlines()) == 1
    assert not runner.at_base[0][1].exists()
    [chunk] = service.story_status(STORY).chunks
    assert chunk.typecheck == "failed"  # no baseline: the dependent's failure counts, as the run found it
    assert baselines_recorded(service) == []
