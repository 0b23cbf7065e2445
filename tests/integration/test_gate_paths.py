"""The typecheck gate's two ends, BLOCKED and BACKEND COMPLETE, driven in-process with a fake typecheck
runner injected through the service's `run_command` port: no pnpm, no tsc, milliseconds per story.

The real runner is exercised end to end in tests/e2e; here the point is what the server decides and
writes from each outcome: the journal, BACKEND-LOG.md, BLOCKERS.md, and what is refused afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import anyio
import pytest

from storyfence.adapters.policy_file import load_builtin
from storyfence.app.gate import CANCELLED_NOTE
from storyfence.app.service import StoryfenceService
from storyfence.core.errors import WorkflowError
from storyfence.core.models import CommandRun, PortsAdapters, Reuse
from tests.support.repos import copy_example
from tests.support.stories import ScriptedRunner

STORY = "STORY-042"
CORE_FILE = "packages/core/src/orders/cancel-order.ts"
REUSE = Reuse(reused="findOrder", new="cancelOrder", why_new="no cancel use case existed")
PORTS = PortsAdapters(core="the use case", adapters="none yet")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "repo", node_modules=False)


def service_with(repo: Path, runner: ScriptedRunner) -> StoryfenceService:
    return StoryfenceService(repo, load_builtin(), run_command=runner)


def text(repo: Path, rel: str) -> str:
    return (repo / STORY / "_implementation" / rel).read_text(encoding="utf-8")


def typecheck(service: StoryfenceService) -> str:
    return anyio.run(service.run_typecheck, STORY).outcome


def test_two_failed_fix_attempts_block_the_story_and_every_write_after_it(repo: Path) -> None:
    runner = ScriptedRunner(["failed", "tooling_error", "failed", "failed"])
    service = service_with(repo, runner)
    service.begin_chunk(STORY, "cancelOrder use case", "cancel an order in core")

    service.write_file(STORY, CORE_FILE, "export const a: number = 'x';\n")
    assert typecheck(service) == "failed"  # the first failure: not a fix attempt
    service.write_file(STORY, CORE_FILE, "export const a: number = 'y';\n")
    assert typecheck(service) == "tooling_error"  # tooling never counts
    assert service.story_status(STORY).chunks[0].failed_fix_attempts == 0
    assert typecheck(service) == "failed"  # fix attempt 1
    service.write_file(STORY, CORE_FILE, "export const a: number = 'z';\n")
    result = anyio.run(service.run_typecheck, STORY)  # fix attempt 2 of 2: the gate blocks

    assert result.outcome == "failed"
    assert result.signal.startswith("BLOCKED: typecheck still failing after 2 fix attempts in chunk 1")
    assert result.chunk_closed is False
    assert len(runner.calls) == 4
    assert all(runner.calls)
    status = service.story_status(STORY)
    assert status.status == "blocked"
    assert status.signal == result.signal
    blockers = text(repo, "BLOCKERS.md")
    assert blockers.splitlines()[-1] == result.signal
    assert "cancelOrder use case" in blockers
    log = text(repo, "BACKEND-LOG.md")
    assert log.count("typecheck failed (run") == 3
    assert "**BLOCKED: typecheck still failing" in log

    with pytest.raises(WorkflowError, match="BLOCKED"):
        service.write_file(STORY, CORE_FILE, "export const a = 1;\n")
    with pytest.raises(WorkflowError, match="BLOCKED"):
        service.begin_chunk(STORY, "next", "anything")
    assert (repo / CORE_FILE).read_text(encoding="utf-8") == "export const a: number = 'z';\n"


def test_a_passing_typecheck_and_a_log_close_the_chunk_in_either_order_and_the_story_completes(repo: Path) -> None:
    runner = ScriptedRunner(["passed", "passed"])
    service = service_with(repo, runner)

    service.begin_chunk(STORY, "cancelOrder use case", "cancel an order in core")
    service.write_file(STORY, CORE_FILE, "export const a = 1;\n")
    assert typecheck(service) == "passed"
    logged = service.append_chunk_log(STORY, "added cancelOrder", REUSE, PORTS, "none")
    assert logged.chunk_closed is True

    service.begin_chunk(STORY, "second chunk", "log first, then typecheck")
    service.write_file(STORY, "packages/core/src/orders/more.ts", "export const b = 2;\n")
    assert service.append_chunk_log(STORY, "added b", REUSE, PORTS, "none").chunk_closed is False
    result = anyio.run(service.run_typecheck, STORY)
    assert result.chunk_closed is True
    assert "## Chunk 2" in text(repo, "BACKEND-LOG.md")

    done = service.complete_story(STORY)
    assert done.signal == "BACKEND COMPLETE"
    log = text(repo, "BACKEND-LOG.md")
    assert log.rstrip().endswith("BACKEND COMPLETE")
    assert "- Chunks: 2" in log
    status = service.story_status(STORY)
    assert (status.status, [c.closed for c in status.chunks], status.earlier_chunks) == ("complete", [True], 1)
    assert status.recent == ['chunk 1 "cancelOrder use case": 1 file change, 1 typecheck run, closed']
    with pytest.raises(WorkflowError, match="COMPLETE"):
        service.write_file(STORY, CORE_FILE, "export const a = 2;\n")


def test_a_chunk_whose_files_changed_while_its_typecheck_ran_is_not_recorded_as_checked(repo: Path) -> None:
    service = service_with(repo, ScriptedRunner([]))
    service.begin_chunk(STORY, "n", "o")
    service.write_file(STORY, CORE_FILE, "export const a = 1;\n")
    plan = service.gate.plan(STORY)
    service.write_file(STORY, CORE_FILE, "export const a = 2;\n")  # another client writes meanwhile
    passed = CommandRun(argv=("pnpm",), package="core", exit_code=0, outcome="passed", duration_seconds=0.0)
    with pytest.raises(WorkflowError, match="changed while the typecheck ran"):
        service.gate.record(plan, [passed])
    assert service.story_status(STORY).chunks[0].typecheck == "none"


@dataclass
class HangingRunner:
    """A typecheck command that runs until it is cancelled; `started` is set once it runs."""

    started: anyio.Event = field(default_factory=anyio.Event)

    async def __call__(self, argv: tuple[str, ...], **_options: object) -> CommandRun:
        self.started.set()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")


def test_a_cancelled_typecheck_is_recorded_as_cancelled_tooling_never_as_a_fix_attempt(repo: Path) -> None:
    runner = ScriptedRunner(["failed"])
    service = service_with(repo, runner)
    service.begin_chunk(STORY, "cancelOrder use case", "cancel an order in core")
    service.write_file(STORY, CORE_FILE, "export const a: number = 'x';\n")
    assert typecheck(service) == "failed"  # a fix is due: the next failing run would be fix attempt 1
    service.write_file(STORY, CORE_FILE, "export const a: number = 'y';\n")
    hanging = HangingRunner()
    service.gate = type(service.gate)(service.repo, hanging)

    async def cancel_it() -> None:
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(service.run_typecheck, STORY)
                await hanging.started.wait()
                tg.cancel_scope.cancel()

    anyio.run(cancel_it)
    [chunk] = service.story_status(STORY).chunks
    assert chunk.failed_fix_attempts == 0
    assert chunk.closed is False
    last = chunk.commands[-1]
    assert (last.outcome, last.exit_code, last.note) == ("tooling_error", None, CANCELLED_NOTE)
    assert text(repo, "BACKEND-LOG.md").count("typecheck failed (run") == 1  # the cancelled run is no failure
