"""The typecheck gate: run_typecheck plans the commands under the story's lock, runs them outside it (a
long typecheck never holds the lock or the event loop), and records what they found on the chunk they
were planned for. The core decides what the outcome causes: a closed chunk, a BLOCKED story.

The commands check the packages the chunk changed and, by default, every package that depends on them. When
a package the chunk did not change fails, its own check at the story's base commit (taken once per story,
in a worktree apart from the user's files) tells its old errors from new ones: core/blame.py judges."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import anyio

from storyfence.adapters.ports import Progress, RunCommand
from storyfence.adapters.store import now_iso
from storyfence.app.observe import Observer
from storyfence.app.repo import Repo, Story
from storyfence.app.results import TypecheckResult
from storyfence.core import blame, steps
from storyfence.core import checks as checks_core
from storyfence.core.errors import StoryfenceError
from storyfence.core.events import TypecheckRan
from storyfence.core.models import CommandRun, PackageBaseline, UncheckedFile
from storyfence.core.status import next_step, typecheck_message

if TYPE_CHECKING:
    from storyfence.adapters.checks import CheckCommand


CANCELLED_NOTE = (
    "cancelled before it finished (the whole process group was killed): a tooling outcome, not a type error; "
    "it does not count as a fix attempt. Run run_typecheck again."
)


def cancelled(command: CheckCommand, duration: float) -> CommandRun:
    """The record of a command whose call was cancelled while it ran."""
    return CommandRun(
        argv=command.argv,
        package=command.package,
        exit_code=None,
        outcome="tooling_error",
        duration_seconds=duration,
        note=CANCELLED_NOTE,
    )


@dataclass(frozen=True)
class Plan:
    """What run_typecheck decided under the lock before running anything: the chunk it checks and how."""

    story: Story
    snapshot: tuple[int, int]  # (chunk number, files recorded): the chunk must still be this one after the runs
    commands: list[CheckCommand]
    unchecked: tuple[UncheckedFile, ...]
    package_dirs: dict[str, str]
    dependents: tuple[str, ...] = ()  # the names of the packages checked because they depend on a changed one
    scope: blame.Scope | None = None  # None: dependents are not checked, and nothing is judged old
    memory: blame.Memory = field(default_factory=lambda: blame.Memory(base_commit=None, baselines={}, history=()))


class Gate:
    def __init__(self, repo: Repo, run_command: RunCommand | None = None) -> None:
        self.repo = repo
        self.observer = Observer(repo)
        self._run_command = run_command

    def runner(self) -> RunCommand:
        if self._run_command is None:
            # imported on first use: the subprocess machinery is not needed to start serving
            from storyfence.adapters.typecheck import run_command

            self._run_command = run_command
        return self._run_command

    async def run_typecheck(self, story: str, progress: Progress | None = None) -> TypecheckResult:
        # the journal's lock may be held by another server for a while: wait for it (and read the disk) in a
        # worker thread, never on the event loop that serves every other session
        plan = await anyio.to_thread.run_sync(self.plan, story)
        settings = self.repo.policy.typecheck
        run = self.runner()
        runs: list[CommandRun] = []
        for command in plan.commands:
            started = time.monotonic()
            try:
                ran = await run(
                    command.argv,
                    package=command.package,
                    package_dir=command.diagnostics_dir,
                    package_dirs=plan.package_dirs,
                    cwd=self.repo.root,
                    timeout=settings.timeout_seconds,
                    output_cap=settings.output_cap_bytes,
                    progress=progress,
                )
            except anyio.get_cancelled_exc_class():
                # the client cancelled the call (or the server is stopping): the runner has killed the command's
                # process group; what ran is recorded, this one as a tooling outcome, never as a fix attempt
                await self._record_cancelled(plan, [*runs, cancelled(command, time.monotonic() - started)])
                raise
            runs.append(ran.model_copy(update={"packages": command.packages}))
        if plan.scope is None:
            return await anyio.to_thread.run_sync(self.record, plan, runs)
        try:
            baselines, setup = await self.baselines(plan, runs, progress)
        except anyio.get_cancelled_exc_class():
            await self._record_cancelled(plan, runs)  # judged by the baselines already recorded: fail closed
            raise
        memory = replace(plan.memory, baselines={**{b.dir: b for b in baselines}, **plan.memory.baselines})
        judged = [blame.judge(r, plan.scope, memory) for r in runs]
        return await anyio.to_thread.run_sync(self.record, plan, judged, baselines, setup)

    async def _record_cancelled(self, plan: Plan, runs: list[CommandRun]) -> None:
        """Record what ran before the call was cancelled, unless the chunk moved on meanwhile."""
        if plan.scope is not None:
            runs = [blame.judge(r, plan.scope, plan.memory) for r in runs]
        with anyio.CancelScope(shield=True), contextlib.suppress(StoryfenceError):
            await anyio.to_thread.run_sync(self.record, plan, runs)

    async def baselines(
        self, plan: Plan, runs: Sequence[CommandRun], progress: Progress | None
    ) -> tuple[tuple[PackageBaseline, ...], tuple[CommandRun, ...]]:
        """The base commit's check of each unchanged package these runs implicate that has none recorded yet,
        and the commands that prepared the base commit's tree."""
        assert plan.scope is not None
        wanted = blame.wanting(runs, plan.scope, plan.memory)
        if not wanted:
            return (), ()
        # imported on first use: git worktrees are needed only when a package the chunk did not change fails
        from storyfence.adapters.baseline import BaseCommit

        base = BaseCommit(self.repo.root, plan.memory.base_commit, self.repo.policy.typecheck, self.runner())
        taken = await base.check({d: plan.scope.name(d) for d in wanted}, progress)
        return taken.baselines, taken.setup

    def plan(self, story: str) -> Plan:
        """Under the lock: the open chunk, and the check commands its files need."""
        st = self.repo.story(story)
        settings = self.repo.policy.typecheck
        with st.store.transaction() as tx:
            # outside changes first: a file fixed with another tool is a change the typecheck must see
            self.observer.record(st, tx, self.repo.bounds(st))
            snapshot = steps.typecheck_snapshot(tx.state)
            chunk = tx.state.current
            records = list(tx.records)
            assert chunk is not None
        # imported on first use: the subprocess machinery is not needed to start serving
        from storyfence.adapters.checks import Checks

        checks = Checks(self.repo.root, settings)
        paths = list(dict.fromkeys(c.path for c in chunk.changes))
        covered = checks_core.coverage(paths, checks.owners(paths), settings)
        packages = checks.workspace.packages
        dependents = checks.workspace.dependents(covered.targets) if settings.dependents else ()
        commands = checks.commands(covered.targets, dependents)
        # turbo also checks a package's dependencies; their errors carry their own prefix and paths
        package_dirs = {p.name: p.dir for p in packages} | {p.dir: p.dir for p in packages}
        plan = Plan(st, snapshot, commands, covered.unchecked, package_dirs)
        if not settings.dependents:
            return plan
        checked = {d for c in commands for d in c.packages}
        scope = blame.Scope(
            changed=frozenset(covered.targets),
            dirs=frozenset(p.dir for p in packages if p.dir != "."),
            names={p.name: p.dir for p in packages},
        )
        names = tuple(scope.name(d) for d in dependents if d in checked)
        return replace(plan, dependents=names, scope=scope, memory=blame.remember(r.event for r in records))

    def record(
        self,
        plan: Plan,
        runs: list[CommandRun],
        baselines: Sequence[PackageBaseline] = (),
        setup: Sequence[CommandRun] = (),
    ) -> TypecheckResult:
        """Under the lock again: record the baselines taken and the runs on the chunk they were planned for; the
        core closes the chunk or blocks the story."""
        st, unchecked = plan.story, plan.unchecked
        max_fix = self.repo.policy.typecheck.max_fix_attempts
        with st.store.transaction() as tx:
            if baselines:
                commit = plan.memory.base_commit
                tx.record(blame.record_baselines(tx.state, commit=commit, baselines=baselines, setup=setup))
            step = steps.typecheck(
                tx.state,
                story_id=st.id,
                snapshot=plan.snapshot,
                runs=runs,
                unchecked=unchecked,
                max_fix_attempts=max_fix,
                at=now_iso(),
            )
            tx.record(step)
            ran = step.events[0]
            assert isinstance(ran, TypecheckRan)
            chunk = next(c for c in tx.state.chunks if c.number == ran.chunk)
            blocked = step.blocked
            signal = f"BLOCKED: {blocked.reason}" if blocked is not None else ""
            message = signal or typecheck_message(ran.outcome, runs, unchecked, chunk, max_fix)
            if tx.state.strays and not signal:
                message += f" The chunk cannot close: {tx.state.stray_advice()}."
            return TypecheckResult(
                story=st.id,
                chunk=chunk.number,
                outcome=ran.outcome,
                runs=runs,
                unchecked=[u.path for u in unchecked],
                unchecked_files=list(unchecked),
                failed_fix_attempts=chunk.failed_fix_attempts,
                max_fix_attempts=max_fix,
                chunk_closed=step.chunk_closed,
                dependents=list(plan.dependents),
                baselines=list(baselines),
                signal=signal,
                message=message,
                next_step=next_step(tx.state),
            )
