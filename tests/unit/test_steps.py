"""The story machine: an action in, the events it causes out, automatic ones included."""

from __future__ import annotations

import pytest

from storyfence.core import steps
from storyfence.core.errors import WorkflowError
from storyfence.core.events import ChunkClosed, ChunkLogged, FileChanged, StoryBlocked, TypecheckRan
from storyfence.core.models import CommandRun, FileChange, Outcome, PortsAdapters, Reuse
from storyfence.core.workflow import StoryState

REUSE = Reuse(reused="x", new="none", why_new="n/a")
PORTS = PortsAdapters(core="c", adapters="a")
AT = "2026-12-01T00:00:00.000Z"


def run(outcome: Outcome) -> CommandRun:
    return CommandRun(argv=("tsc",), package="core", exit_code=0, outcome=outcome, duration_seconds=0.1)


def opened() -> StoryState:
    state = steps.begin_chunk(StoryState(), name="n", objective="o", base_commit=None, baseline=()).state
    return steps.write(state, FileChange(path="a.ts", kind="created", sha256="0" * 64)).state


def check(state: StoryState, outcome: Outcome, max_fix: int = 2) -> steps.Step:
    snapshot = steps.typecheck_snapshot(state)
    return steps.typecheck(
        state, story_id="S-1", snapshot=snapshot, runs=[run(outcome)], unchecked=(), max_fix_attempts=max_fix, at=AT
    )


def test_a_step_folds_its_events_into_the_state_it_returns() -> None:
    state = opened()
    step = steps.write(state, FileChange(path="b.ts", kind="created", sha256="1" * 64), staged="tmp")
    assert step.before is state
    assert [type(e) for e in step.events] == [FileChanged]
    assert [c.path for c in step.state.current.changes] == ["a.ts", "b.ts"]  # type: ignore[union-attr]


def test_a_write_without_an_open_chunk_is_refused_and_causes_nothing() -> None:
    with pytest.raises(WorkflowError, match="needs an open chunk"):
        steps.write(StoryState(), FileChange(path="a.ts", kind="created"))


def test_the_first_chunk_keeps_its_baseline_and_later_chunks_do_not() -> None:
    first = steps.begin_chunk(StoryState(), name="n", objective="o", base_commit="abc", baseline=())
    assert first.events[0].baseline == ()  # type: ignore[union-attr]
    state = steps.log_chunk(
        check(opened(), "passed").state, summary="s", reuse=REUSE, ports_adapters=PORTS, notes_risks="n"
    ).state
    second = steps.begin_chunk(state, name="m", objective="o", base_commit="abc", baseline=())
    assert second.events[0].baseline is None  # type: ignore[union-attr]


def test_a_log_after_a_passing_typecheck_closes_the_chunk_in_the_same_step() -> None:
    state = check(opened(), "passed").state
    step = steps.log_chunk(state, summary="s", reuse=REUSE, ports_adapters=PORTS, notes_risks="n")
    assert [type(e) for e in step.events] == [ChunkLogged, ChunkClosed]
    assert step.chunk_closed is True
    assert step.state.status == "idle"


def test_a_passing_typecheck_after_the_log_closes_the_chunk_with_the_rest_of_its_one_section() -> None:
    state = steps.log_chunk(opened(), summary="s", reuse=REUSE, ports_adapters=PORTS, notes_risks="n").state
    state = steps.write(state, FileChange(path="late.ts", kind="created", sha256="2" * 64)).state
    step = check(state, "passed")
    assert [type(e) for e in step.events] == [TypecheckRan, ChunkClosed]
    closed = step.events[1]
    assert isinstance(closed, ChunkClosed)
    assert "late.ts" in closed.log_append
    assert closed.log_append.startswith("- Files changed:")  # no heading: the chunk's heading came first
    assert "### " not in closed.log_append


def test_the_failure_that_uses_up_the_fix_attempts_blocks_the_story_in_the_same_step() -> None:
    state = opened()
    for _ in range(2):  # the first failure, then fix attempt 1
        step = check(state, "failed")
        assert step.blocked is None
        state = steps.write(step.state, FileChange(path="a.ts", kind="modified", sha256="3" * 64)).state
    step = check(state, "failed")  # fix attempt 2 of 2
    assert [type(e) for e in step.events] == [TypecheckRan, StoryBlocked]
    assert step.blocked is not None
    assert step.blocked.by == "fast-fail"
    assert step.blocked.blockers.rstrip().endswith(f"BLOCKED: {step.blocked.reason}")
    assert step.state.status == "blocked"


def test_a_tooling_error_never_counts_as_a_fix_attempt_and_never_closes() -> None:
    step = check(opened(), "tooling_error", max_fix=0)
    assert [type(e) for e in step.events] == [TypecheckRan]
    assert step.state.status == "open"


def test_a_typecheck_recorded_on_a_chunk_that_changed_since_it_was_planned_is_refused() -> None:
    state = opened()
    snapshot = steps.typecheck_snapshot(state)
    later = steps.write(state, FileChange(path="b.ts", kind="created", sha256="4" * 64)).state
    with pytest.raises(WorkflowError, match="changed while the typecheck ran"):
        steps.typecheck(
            later, story_id="S-1", snapshot=snapshot, runs=[run("passed")], unchecked=(), max_fix_attempts=2, at=AT
        )


def test_completing_needs_a_closed_chunk_and_appends_the_completion() -> None:
    with pytest.raises(WorkflowError, match="no chunk has been closed"):
        steps.complete(StoryState(), story_id="S-1", at=AT)
    state = steps.log_chunk(
        check(opened(), "passed").state, summary="s", reuse=REUSE, ports_adapters=PORTS, notes_risks="n"
    ).state
    step = steps.complete(state, story_id="S-1", at=AT)
    assert step.state.status == "complete"
    assert step.events[0].log_append.rstrip().endswith("BACKEND COMPLETE")  # type: ignore[union-attr]


def test_the_log_reads_the_same_whichever_came_first_the_log_or_the_typecheck() -> None:
    def story(log_first: bool) -> str:
        state = opened()
        if log_first:
            state = steps.log_chunk(state, summary="s", reuse=REUSE, ports_adapters=PORTS, notes_risks="n").state
            state = check(state, "passed").state
        else:
            state = check(state, "passed").state
            state = steps.log_chunk(state, summary="s", reuse=REUSE, ports_adapters=PORTS, notes_risks="n").state
        return "".join(state.log_appends)

    assert story(log_first=True) == story(log_first=False)
    text = story(log_first=True)
    assert text.startswith("## Chunk 1 — n\n- Objective (maps to story requirement/AC): o\n")
    assert text.count("## Chunk 1") == 1


def test_a_failure_is_logged_under_its_chunk_heading_and_a_block_ends_the_section() -> None:
    state = check(opened(), "failed").state
    state = steps.write(state, FileChange(path="a.ts", kind="modified", sha256="5" * 64)).state
    state = check(state, "failed").state
    state = steps.write(state, FileChange(path="a.ts", kind="modified", sha256="6" * 64)).state
    text = "".join(check(state, "failed").state.log_appends)
    assert text.index("## Chunk 1 —") < text.index("### Chunk 1 — typecheck failed (run 1")
    assert text.index("typecheck failed (run 3") < text.index("- Files changed:") < text.index("**BLOCKED:")
    assert "- Summary of changes: (not logged" in text
