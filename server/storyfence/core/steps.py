"""The story machine, as h11 is HTTP's: an action and its facts go in, the events it causes come out.

Every function checks the action against the workflow's transition table, builds the events (with the
BACKEND-LOG.md and BLOCKERS.md text they append), and folds them into the state. The automatic
consequences are decided here too: a typecheck or a log that makes the chunk ready closes it; a failed
typecheck after the last allowed fix attempt blocks the story. The application records a Step's events
and renders nothing itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from storyfence.core import logbook
from storyfence.core.checks import outcome as check_outcome
from storyfence.core.errors import WorkflowError
from storyfence.core.events import (
    ChunkClosed,
    ChunkLogged,
    ChunkOpened,
    DirtyFile,
    Event,
    FileChanged,
    FileObserved,
    StoryBlocked,
    StoryCompleted,
    StrayCleared,
    TypecheckRan,
    WriteRefused,
)
from storyfence.core.models import CommandRun, FileChange, PortsAdapters, Reuse, UncheckedFile
from storyfence.core.workflow import Chunk, StoryState, apply, ensure, should_block


@dataclass(frozen=True)
class Step:
    """What one action caused: the events to record, in order, and the state after them."""

    before: StoryState
    events: tuple[Event, ...]
    state: StoryState

    @property
    def chunk_closed(self) -> bool:
        return any(isinstance(e, ChunkClosed) for e in self.events)

    @property
    def blocked(self) -> StoryBlocked | None:
        return next((e for e in self.events if isinstance(e, StoryBlocked)), None)


def _step(state: StoryState, *events: Event) -> Step:
    after = state
    for event in events:
        after = apply(after, event)
    return Step(before=state, events=events, state=after)


NOT_LOGGED = "(not logged: the chunk ended before append_chunk_log)"


def chunk_rest(chunk: Chunk) -> str:
    """Every field of the chunk's section after its Objective, from everything the chunk recorded: its files
    (its own writes and the outside changes it took in), its commands, what was refused, the model's words."""
    return _render(chunk, "rest")


def _render(chunk: Chunk, part: Literal["whole", "opening", "rest"]) -> str:
    entry = chunk.entry
    if entry is None:
        reuse = Reuse(reused=NOT_LOGGED, new=NOT_LOGGED, why_new=NOT_LOGGED)
        ports = PortsAdapters(core=NOT_LOGGED, adapters=NOT_LOGGED)
        summary = notes = NOT_LOGGED
    else:
        reuse, ports, summary, notes = entry.reuse, entry.ports_adapters, entry.summary, entry.notes_risks
    return logbook.render_chunk_section(
        number=chunk.number,
        name=chunk.name,
        objective=chunk.objective,
        files=chunk.changes,
        summary=summary,
        reuse=reuse,
        ports=ports,
        commands=chunk.runs,
        notes_risks=notes,
        unchecked=chunk.unchecked,
        refused=chunk.refused,
        part=part,
    )


def chunk_section(chunk: Chunk) -> str:
    """The chunk's whole section as it reads (or will read) in the log: what append_chunk_log answers."""
    return _render(chunk, "whole")


def _closing_text(chunk: Chunk) -> str:
    """What the log gains when the chunk closes: the rest of its section (a chunk whose heading went in when
    it began), or, in a journal from before that, an addendum for what changed after its section."""
    if chunk.opened_in_log:
        return chunk_rest(chunk)
    late_files = chunk.changes[chunk.changes_at_log :]
    late_runs = chunk.runs[chunk.runs_at_log :]
    late_unchecked = [u for u in chunk.unchecked if u not in chunk.unchecked_at_log]
    if late_files or late_runs or late_unchecked:
        return logbook.render_chunk_addendum(
            number=chunk.number, name=chunk.name, files=late_files, commands=late_runs, unchecked=late_unchecked
        )
    return ""


def _blocked_text(chunk: Chunk | None, reason: str) -> str:
    """The BLOCKED note, after the rest of the open chunk's section (its heading is already in the log)."""
    rest = chunk_rest(chunk) if chunk is not None and chunk.opened_in_log and not chunk.closed else ""
    return rest + logbook.render_blocked_note(reason)


def _then_close(step: Step) -> Step:
    """Add ChunkClosed when the step left the chunk ready to close, with the rest of its section."""
    chunk = step.state.current
    if chunk is None or not chunk.ready_to_close or step.state.strays:
        return step
    return _step(step.before, *step.events, ChunkClosed(chunk=chunk.number, log_append=_closing_text(chunk)))


def begin_chunk(
    state: StoryState, *, name: str, objective: str, base_commit: str | None, baseline: tuple[DirtyFile, ...] | None
) -> Step:
    """Open the next chunk. `baseline` (what was uncommitted) is kept for the story's first chunk only."""
    ensure(state, "begin_chunk")
    first = not state.chunks
    number = len(state.chunks) + 1
    opening = _render(Chunk(number=number, name=name, objective=objective), "opening")
    opened = ChunkOpened(
        number=number,
        name=name,
        objective=objective,
        base_commit=base_commit,
        baseline=baseline if first else None,
        log_append=opening,
    )
    return _step(state, opened)


def write(state: StoryState, change: FileChange, *, staged: str | None = None, unlinks: str | None = None) -> Step:
    """A file written (staged: its temp file, renamed into place right after the record) or deleted."""
    ensure(state, "write")
    chunk = state.current
    assert chunk is not None  # the table allows a write only with an open chunk
    return _step(state, FileChanged(chunk=chunk.number, change=change, staged=staged, unlinks=unlinks))


def typecheck_snapshot(state: StoryState) -> tuple[int, int]:
    """Which chunk a typecheck checks, and how many writes it had: it must be the same when the runs end."""
    ensure(state, "run_typecheck")
    chunk = state.current
    assert chunk is not None
    return chunk.number, len(chunk.changes)


def typecheck(
    state: StoryState,
    *,
    story_id: str,
    snapshot: tuple[int, int],
    runs: Sequence[CommandRun],
    unchecked: Sequence[UncheckedFile],
    max_fix_attempts: int,
    at: str,
) -> Step:
    """Record a typecheck's runs on the chunk they were planned for, then close the chunk or block the story."""
    ensure(state, "run_typecheck")
    current = state.current
    if current is None or (current.number, len(current.changes)) != snapshot:
        raise WorkflowError(
            "files of this chunk changed while the typecheck ran (another client or server): call run_typecheck again."
        )
    result = check_outcome(list(runs), unchecked)
    failure_block = ""
    if result == "failed":
        failing = next(r for r in runs if r.outcome == "failed")
        failure_block = logbook.render_typecheck_failure(
            number=current.number,
            name=current.name,
            attempt=current.failures,  # 0: the first failure since the last pass; then fix attempts
            max_attempts=max_fix_attempts,
            run=failing,
            run_number=len(current.runs) + list(runs).index(failing) + 1,  # the chunk's Nth command
        )
    ran = TypecheckRan(
        chunk=current.number,
        runs=tuple(runs),
        unchecked=tuple(u.path for u in unchecked),
        unchecked_files=tuple(unchecked),
        outcome=result,
        log_append=failure_block,
    )
    step = _step(state, ran)
    chunk = step.state.current
    assert chunk is not None
    if should_block(chunk, max_fix_attempts):
        reason = (
            f"typecheck still failing after {chunk.failed_fix_attempts} fix attempts in chunk "
            f"{chunk.number} ({chunk.name})"
        )
        details = (
            "The fast-fail gate stopped the story: the same chunk failed its typecheck after "
            f"{max_fix_attempts} fix attempts."
        )
        blockers = logbook.render_blockers(
            story_id=story_id,
            reason=reason,
            details=details,
            chunk=chunk.number,
            chunk_name=chunk.name,
            commands=chunk.runs,
            at=at,
        )
        blocked = StoryBlocked(
            chunk=chunk.number,
            reason=reason,
            details="fast-fail: max_fix_attempts reached",
            by="fast-fail",
            blockers=blockers,
            log_append=_blocked_text(chunk, reason),
        )
        return _step(state, ran, blocked)
    if result in ("passed", "not_needed"):
        return _then_close(step)
    return step


def log_chunk(
    state: StoryState, *, summary: str, reuse: Reuse, ports_adapters: PortsAdapters, notes_risks: str
) -> Step:
    """The chunk's section of BACKEND-LOG.md, from what the server recorded plus the model's words."""
    ensure(state, "append_chunk_log")
    chunk = state.current
    assert chunk is not None
    logged = ChunkLogged(
        chunk=chunk.number,
        summary=summary,
        reuse=reuse,
        ports_adapters=ports_adapters,
        notes_risks=notes_risks,
        log_append="",  # a chunk whose heading is in the log gets the rest of its section when it ends
    )
    if not chunk.opened_in_log:  # a journal from before: the whole section goes in now, as it did then
        logged = logged.model_copy(update={"log_append": _render(replace(chunk, entry=logged), "whole")})
    return _then_close(_step(state, logged))


def report_blocker(state: StoryState, *, story_id: str, reason: str, details: str, at: str) -> Step:
    """The model stops the story: BLOCKERS.md names the chunk it was in and the commands that chunk ran."""
    ensure(state, "report_blocker")
    chunk = state.current or (state.chunks[-1] if state.chunks else None)
    blockers = logbook.render_blockers(
        story_id=story_id,
        reason=reason,
        details=details,
        chunk=chunk.number if chunk else None,
        chunk_name=chunk.name if chunk else None,
        commands=chunk.runs if chunk else (),
        at=at,
    )
    blocked = StoryBlocked(
        chunk=chunk.number if chunk else None,
        reason=reason,
        details=details,
        by="model",
        blockers=blockers,
        log_append=_blocked_text(state.current, reason),
    )
    return _step(state, blocked)


def complete(state: StoryState, *, story_id: str, at: str) -> Step:
    ensure(state, "complete_story")
    text = logbook.render_completion(story_id=story_id, chunks=state.closed_chunks, at=at)
    return _step(state, StoryCompleted(chunks=state.closed_chunks, log_append=text))


def observed(state: StoryState, observations: Sequence[FileObserved | StrayCleared]) -> Step:
    """Outside changes seen at a chunk boundary: allowed ones join the open chunk, refused ones are strays,
    strays found undone are cleared (which may let a ready chunk close). Judged by core.outside."""
    return _then_close(_step(state, *observations))


def refused(state: StoryState, *, tool: str, path: str, rule: str) -> Step:
    """A write a rule refused, kept as evidence (counted by rule in the status and the chunk's log)."""
    chunk = state.current
    return _step(state, WriteRefused(chunk=chunk.number if chunk else None, tool=tool, path=path, rule=rule))


def restore(state: StoryState, stray: FileObserved, *, staged: str | None, unlinks: str | None) -> Step:
    """restore_file puts a refused outside change back as it was at the story's base commit."""
    if stray not in state.strays:
        raise WorkflowError(f"{stray.change.path} is not a refused outside change")
    cleared = StrayCleared(path=stray.change.path, by="restore_file", staged=staged, unlinks=unlinks)
    return _then_close(_step(state, cleared))
