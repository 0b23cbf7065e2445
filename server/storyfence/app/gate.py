"""The typecheck gate: run_typecheck plans the commands under the story's lock, runs them outside it (a
long typecheck never holds the lock or the event loop), and records what they found on the chunk they
were planned for. The core decides what the outcome causes: a closed chunk, a BLOCKED story."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio

from storyfence.adapters.ports import Progress, RunCommand
from storyfence.adapters.store import now_iso
from storyfence.app.observe import Observer
from storyfence.app.repo import Repo, Story
from storyfence.app.results import TypecheckResult
from storyfence.core import checks as checks_core
from storyfence.core import steps
from storyfence.core.errors import StoryfenceError
from storyfence.core.events import TypecheckRan
from storyfence.core.models import CommandRun, UncheckedFile
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
                runs.append(
                    await run(
                        command.argv,
                        package=command.package,
                        package_dir=command.diagnostics_dir,
                        package_dirs=plan.package_dirs,
                        cwd=self.repo.root,
                        timeout=settings.timeout_seconds,
                        output_cap=settings.output_cap_bytes,
                        progress=progress,
                    )
                )
            except anyio.get_cancelled_exc_class():
                # the client cancelled the call (or the server is stopping): the runner has killed the command's
                # process group; what ran is recorded, this one as a tooling outcome, never as a fix attempt
                runs.append(cancelled(command, time.monotonic() - started))
                with anyio.CancelScope(shield=True), contextlib.suppress(StoryfenceError):  # the chunk moved on
                    await anyio.to_thread.run_sync(self.record, plan, runs)
                raise
        return await anyio.to_thread.run_sync(self.record, plan, runs)

    def plan(self, story: str) -> Plan:
        """Under the lock: the open chunk, and the check commands its files need."""
        st = self.repo.story(story)
        settings = self.repo.policy.typecheck
        with st.store.transaction() as tx:
            # outside changes first: a file fixed with another tool is a change the typecheck must see
            self.observer.record(st, tx, self.repo.bounds(st))
            snapshot = steps.typecheck_snapshot(tx.state)
            chunk = tx.state.current
            assert chunk is not None
        # imported on first use: the subprocess machinery is not needed to start serving
        from storyfence.adapters.checks import Checks

        checks = Checks(self.repo.root, settings)
        paths = list(dict.fromkeys(c.path for c in chunk.changes))
        covered = checks_core.coverage(paths, checks.owners(paths), settings)
        packages = checks.workspace.packages
        commands: list[CheckCommand] = []
        for directory in covered.targets:
            command = checks.command(checks.workspace.by_dir[directory])
            assert command is not None
            commands.append(command)
        # turbo also checks a package's dependencies; their errors carry their own prefix and paths
        package_dirs = {p.name: p.dir for p in packages} | {p.dir: p.dir for p in packages}
        return Plan(st, snapshot, commands, covered.unchecked, package_dirs)

    def record(self, plan: Plan, runs: list[CommandRun]) -> TypecheckResult:
        """Under the lock again: record the runs on the chunk they were planned for; the core closes or blocks."""
        st, unchecked = plan.story, plan.unchecked
        max_fix = self.repo.policy.typecheck.max_fix_attempts
        with st.store.transaction() as tx:
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
                signal=signal,
                message=message,
                next_step=next_step(tx.state),
            )
