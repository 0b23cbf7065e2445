"""The chunk workflow: a state derived from journal events, and a transition table for the tools.

    idle --begin_chunk--> open --writes--> open
    open: append_chunk_log and run_typecheck, either order; the chunk closes when its log section
          exists and its latest typecheck passed (or nothing needed one) with no write since; a changed
          file no check covers and no policy entry allows ("unchecked") keeps it open
    failed typecheck: fix writes allowed; max_fix_attempts failed fixes --> BLOCKED
    idle --complete_story--> COMPLETE (needs >= 1 closed chunk); report_blocker --> BLOCKED

An illegal action raises WorkflowError naming the state and the next step, and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from storyfence.core.checks import unchecked_advice
from storyfence.core.errors import WorkflowError
from storyfence.core.events import (
    BaselineChecked,
    ChunkLogged,
    ChunkOpened,
    Event,
    FileChanged,
    FileObserved,
    StoryBlocked,
    StoryCompleted,
    StrayCleared,
    TypecheckRan,
    WriteRefused,
)
from storyfence.core.models import CommandRun, FileChange, UncheckedFile

Status = Literal["idle", "open", "blocked", "complete"]
Action = Literal["begin_chunk", "write", "run_typecheck", "append_chunk_log", "complete_story", "report_blocker"]
Check = Literal["none", "passed", "failed", "tooling_error", "not_needed", "unchecked"]


@dataclass(frozen=True)
class Chunk:
    number: int
    name: str
    objective: str
    changes: tuple[FileChange, ...] = ()
    runs: tuple[CommandRun, ...] = ()
    logged: bool = False
    changes_at_log: int = 0  # len(changes) when the section was written
    runs_at_log: int = 0
    check: Check = "none"
    writes_since_check: bool = False
    failures: int = 0  # failed typecheck calls in this chunk since its last passing one
    closed: bool = False
    unchecked: tuple[UncheckedFile, ...] = ()  # from the latest typecheck: changed files no check covered
    unchecked_at_log: tuple[UncheckedFile, ...] = ()  # those listed in the section when it was written
    refused: tuple[str, ...] = ()  # the rule of each write refused while this chunk was open
    opened_in_log: bool = False  # its heading went into the log when it began: the rest goes in when it ends
    entry: ChunkLogged | None = None  # what the model logged (summary, reuse, ports, notes)

    @property
    def failed_fix_attempts(self) -> int:
        return max(0, self.failures - 1)

    @property
    def ready_to_close(self) -> bool:
        return (
            not self.closed and self.logged and self.check in ("passed", "not_needed") and not self.writes_since_check
        )

    def next_step(self) -> str:
        """What the model must do for this chunk to close, in words."""
        steps: list[str] = []
        if not self.logged:
            steps.append(f"chunk {self.number} is not logged: call append_chunk_log")
        if self.check == "failed" and not self.writes_since_check:
            steps.append(f"chunk {self.number}'s typecheck failed: fix the errors, then call run_typecheck")
        elif self.check == "unchecked" and not self.writes_since_check:
            steps.append(
                f"chunk {self.number} cannot close: {unchecked_advice(self.unchecked)}; then call run_typecheck"
            )
        elif self.check not in ("passed", "not_needed") or self.writes_since_check:
            steps.append(f"chunk {self.number} has no passing typecheck since its last write: call run_typecheck")
        return "; ".join(steps) if steps else f"chunk {self.number} is ready to close"


@dataclass(frozen=True)
class StoryState:
    status: Status = "idle"
    chunks: tuple[Chunk, ...] = ()
    blocked_reason: str = ""
    log_appends: tuple[str, ...] = field(default=(), repr=False)
    strays: tuple[FileObserved, ...] = ()  # refused outside changes not undone yet: no chunk closes meanwhile
    refused: tuple[str, ...] = ()  # the rule of each write refused while no chunk was open
    # kept by the fold, so a status costs the same at chunk 100 as at chunk 2 (no pass over every chunk)
    closed_chunks: int = 0  # chunks closed
    files_before_last: int = 0  # file changes recorded in the chunks before the last one

    @property
    def current(self) -> Chunk | None:
        if self.chunks and not self.chunks[-1].closed:
            return self.chunks[-1]
        return None

    def stray_advice(self) -> str:
        """What keeps the chunk open while outside changes were refused, and how to undo each."""
        items = "; ".join(f"{s.change.path} (rule {s.rule})" for s in self.strays)
        return (
            f"files changed outside storyfence were refused: {items}: undo each with restore_file(story, path), "
            "or rewrite it within the rules, then go on"
        )


_T = TypeVar("_T", "Chunk", "StoryState")


def replace(obj: _T, **changes: object) -> _T:
    """`dataclasses.replace` without its `__init__` round trip, about five times faster: `apply` folds every
    journal record, so a first open of a 2,000-write story pays it 5,000 times. The same field names are
    checked; nothing else is skipped (these frozen dataclasses have no `__post_init__`)."""
    unknown = changes.keys() - obj.__dataclass_fields__.keys()
    if unknown:
        raise TypeError(f"{type(obj).__name__} has no field {', '.join(sorted(unknown))}")
    new = object.__new__(type(obj))
    new.__dict__.update(obj.__dict__)
    new.__dict__.update(changes)
    return new


def _replace_current(state: StoryState, chunk: Chunk) -> StoryState:
    return replace(state, chunks=(*state.chunks[:-1], chunk))


def apply(state: StoryState, event: Event) -> StoryState:
    """Fold one journal event into the state. Events were validated when recorded; this trusts them."""
    appended: str = event.__dict__.get("log_append", "")  # not getattr: a pydantic miss costs a raised error
    if appended:
        state = replace(state, log_appends=(*state.log_appends, appended))
    if isinstance(event, ChunkOpened):
        chunk = Chunk(
            number=event.number, name=event.name, objective=event.objective, opened_in_log=bool(event.log_append)
        )
        before = state.files_before_last + (len(state.chunks[-1].changes) if state.chunks else 0)
        return replace(state, status="open", chunks=(*state.chunks, chunk), files_before_last=before)
    current = state.current
    if isinstance(event, FileObserved):
        kept = tuple(s for s in state.strays if s.change.path != event.change.path)
        state = replace(state, strays=kept if event.allowed else (*kept, event))
        if not event.allowed:
            return state
    if isinstance(event, StrayCleared):
        return replace(state, strays=tuple(s for s in state.strays if s.change.path != event.path))
    if isinstance(event, WriteRefused):
        if current is None:
            return replace(state, refused=(*state.refused, event.rule))
        return _replace_current(state, replace(current, refused=(*current.refused, event.rule)))
    if isinstance(event, StoryBlocked):
        return replace(state, status="blocked", blocked_reason=event.reason)
    if isinstance(event, StoryCompleted):
        return replace(state, status="complete")
    if current is None:
        return state
    if isinstance(event, FileChanged | FileObserved):
        return _replace_current(
            state, replace(current, changes=(*current.changes, event.change), writes_since_check=True)
        )
    if isinstance(event, TypecheckRan):
        runs = (*current.runs, *event.runs)
        if event.outcome == "tooling_error":
            # tooling failures are recorded but never move the chunk: not a pass, not a failed attempt
            return _replace_current(state, replace(current, runs=runs))
        # a pass ends a run of failures: the next failure is a new first failure, not a failed fix attempt
        failures = current.failures + 1 if event.outcome == "failed" else 0
        chunk = replace(
            current,
            runs=runs,
            check=event.outcome,
            writes_since_check=False,
            failures=failures,
            unchecked=event.unchecked_files,
        )
        return _replace_current(state, chunk)
    if isinstance(event, ChunkLogged):
        chunk = replace(
            current,
            logged=True,
            changes_at_log=len(current.changes),
            runs_at_log=len(current.runs),
            unchecked_at_log=current.unchecked,
            entry=event,
        )
        return _replace_current(state, chunk)
    if isinstance(event, BaselineChecked):
        return state  # a fact about the story's base commit: core/blame.py reads it, the workflow does not move
    # the last kind left: ChunkClosed
    closed = _replace_current(state, replace(current, closed=True))
    return replace(closed, status="idle", closed_chunks=state.closed_chunks + 1)


def derive(events: Iterable[Event]) -> StoryState:
    state = StoryState()
    for event in events:
        state = apply(state, event)
    return state


# --- the transition table ---------------------------------------------------------------------------------

Guard = Callable[[StoryState], str | None]
"""Returns None when the action is allowed, else the refusal (state and next step)."""


def _ok(_: StoryState) -> str | None:
    return None


def _no_chunk(action: str) -> Guard:
    def guard(_: StoryState) -> str | None:
        return f"{action} needs an open chunk and none is open: call begin_chunk(story, name, objective) first."

    return guard


def _chunk_open(state: StoryState) -> str | None:
    chunk = state.current
    assert chunk is not None
    step = state.stray_advice() if state.strays and chunk.ready_to_close else chunk.next_step()
    return f"chunk {chunk.number} ({chunk.name}) is still open: {step}."


def _can_log(state: StoryState) -> str | None:
    chunk = state.current
    assert chunk is not None
    if chunk.logged:
        return f"chunk {chunk.number} already has its log section (the log is append-only): {chunk.next_step()}."
    return None


def _can_typecheck(state: StoryState) -> str | None:
    chunk = state.current
    assert chunk is not None
    if chunk.check == "failed" and not chunk.writes_since_check:
        return (
            f"nothing changed since chunk {chunk.number}'s typecheck failed: fix the errors with "
            "write_file or edit_file first, then call run_typecheck."
        )
    if chunk.check in ("passed", "not_needed") and not chunk.writes_since_check:
        return f"chunk {chunk.number}'s typecheck already passed and nothing changed since: {chunk.next_step()}."
    return None


def _can_complete(state: StoryState) -> str | None:
    if state.closed_chunks == 0:
        return "no chunk has been closed yet: implement at least one chunk (begin_chunk ...) before complete_story."
    if state.strays:
        return state.stray_advice() + "."
    return None


def _terminal(state: StoryState) -> str | None:
    if state.status == "blocked":
        return (
            f"the story is BLOCKED ({state.blocked_reason}): every write and every new chunk is refused. "
            "A human must resolve BLOCKERS.md."
        )
    return "the story is COMPLETE (BACKEND COMPLETE): nothing more may be written."


TABLE: dict[Status, dict[Action, Guard]] = {
    "idle": {
        "begin_chunk": _ok,
        "write": _no_chunk("a write"),
        "run_typecheck": _no_chunk("run_typecheck"),
        "append_chunk_log": _no_chunk("append_chunk_log"),
        "complete_story": _can_complete,
        "report_blocker": _ok,
    },
    "open": {
        "begin_chunk": _chunk_open,
        "write": _ok,
        "run_typecheck": _can_typecheck,
        "append_chunk_log": _can_log,
        "complete_story": _chunk_open,
        "report_blocker": _ok,
    },
    "blocked": dict.fromkeys(
        ("begin_chunk", "write", "run_typecheck", "append_chunk_log", "complete_story", "report_blocker"),
        _terminal,
    ),
    "complete": dict.fromkeys(
        ("begin_chunk", "write", "run_typecheck", "append_chunk_log", "complete_story", "report_blocker"),
        _terminal,
    ),
}


def ensure(state: StoryState, action: Action) -> None:
    """Raise WorkflowError if `action` is not allowed in `state`; the message says what to do next."""
    refusal = TABLE[state.status][action](state)
    if refusal is not None:
        raise WorkflowError(f"{action} refused in state {state.status.upper()}: {refusal}")


def should_block(chunk: Chunk, max_fix_attempts: int) -> bool:
    """After a failed typecheck: have the failed fix attempts reached the limit?"""
    return chunk.check == "failed" and chunk.failed_fix_attempts >= max_fix_attempts
