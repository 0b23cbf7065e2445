"""A story's journal as a timeline a reviewer reads at a glance: one mark per recorded action (a chunk opened,
a write or a fix, a change made outside storyfence and taken in or refused, a typecheck that failed or passed, a
log, a close, a refused write, a block), and where each sits in a picture of one lane per chunk.

    marks(records)        the journal's records in, one Mark per action out (a write after a failed
                          typecheck of its chunk is a "fix")
    draw(marks, chunks)   the geometry of the picture: lanes and dots, in pixels; the page draws it as SVG
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from storyfence.core.events import (
    BaselineChecked,
    ChunkClosed,
    ChunkLogged,
    ChunkOpened,
    FileChanged,
    FileObserved,
    StoryBlocked,
    StrayCleared,
    TypecheckRan,
    WriteRefused,
)
from storyfence.core.journal import Record

MarkKind = Literal[
    "opened",
    "write",
    "fix",
    "outside",
    "stray",
    "restored",
    "failed",
    "passed",
    "tooling",
    "unchecked",
    "not_needed",
    "logged",
    "closed",
    "refused",
    "blocked",
    "completed",
]
MARK_NAMES: dict[MarkKind, str] = {
    "opened": "chunk opened",
    "write": "write",
    "fix": "fix (a write after a failed typecheck)",
    "outside": "changed outside storyfence, taken in",
    "stray": "changed outside storyfence, refused",
    "restored": "a refused outside change undone",
    "failed": "typecheck failed",
    "passed": "typecheck passed",
    "tooling": "typecheck could not run",
    "unchecked": "a changed file no check covers",
    "not_needed": "no typecheck needed",
    "logged": "chunk logged",
    "closed": "chunk closed",
    "refused": "write refused",
    "blocked": "BLOCKED",
    "completed": "BACKEND COMPLETE",
}
"""What each mark means, in the order a legend lists them."""

_OUTCOME: dict[str, MarkKind] = {
    "passed": "passed",
    "failed": "failed",
    "tooling_error": "tooling",
    "unchecked": "unchecked",
    "not_needed": "not_needed",
}


@dataclass(frozen=True)
class Mark:
    seq: int  # the journal record it comes from
    at: str  # when it was recorded (ISO 8601, UTC)
    chunk: int | None  # None: no chunk was open (a refusal before the first chunk, the completion)
    kind: MarkKind
    title: str  # what happened, in one line


def _typecheck_title(event: TypecheckRan) -> str:
    errors = sum(len(run.diagnostics) for run in event.runs)
    commands = ", ".join(run.display for run in event.runs) or "no command"
    what = {
        "passed": "typecheck passed",
        "failed": f"typecheck failed: {errors} error(s)",
        "tooling_error": "typecheck could not run: " + "; ".join(r.note for r in event.runs if r.note),
        "unchecked": "typecheck: changed files no check covers: " + ", ".join(event.unchecked),
        "not_needed": "no typecheck needed",
    }[event.outcome]
    return f"{what} ({commands})"


def marks(records: Sequence[Record]) -> tuple[Mark, ...]:
    """One mark per action the journal records, in order."""
    found: list[Mark] = []
    current: int | None = None
    failing: set[int] = set()  # chunks whose latest typecheck failed
    for record in records:
        event = record.event
        chunk: int | None = current
        kind: MarkKind
        if isinstance(event, BaselineChecked):
            continue  # the gate's look at the base commit: the typecheck mark after it tells the outcome
        if isinstance(event, WriteRefused):
            chunk, kind, title = event.chunk, "refused", f"refused by `{event.rule}`: {event.tool} {event.path}"
        elif isinstance(event, FileObserved):
            chunk, kind = event.chunk, "outside" if event.allowed else "stray"
            verdict = "taken in" if event.allowed else f"refused by `{event.rule}`"
            title = f"{event.change.kind} outside storyfence, {verdict}: {event.change.path}"
        elif isinstance(event, StrayCleared):
            kind, title = "restored", f"undone ({event.by.replace('_', ' ')}): {event.path}"
        elif isinstance(event, ChunkOpened):
            current = chunk = event.number
            kind, title = "opened", f"chunk {event.number} opened: {event.name}"
        elif isinstance(event, FileChanged):
            chunk = event.chunk
            kind = "fix" if chunk in failing else "write"
            title = f"{'fix: ' if kind == 'fix' else ''}{event.change.kind} {event.change.path}"
        elif isinstance(event, TypecheckRan):
            chunk = event.chunk
            kind = _OUTCOME[event.outcome]
            if event.outcome == "failed":
                failing.add(chunk)
            elif event.outcome != "tooling_error":
                failing.discard(chunk)
            title = _typecheck_title(event)
        elif isinstance(event, ChunkLogged):
            chunk, kind, title = event.chunk, "logged", f"chunk {event.chunk} logged: {event.summary}"
        elif isinstance(event, ChunkClosed):
            chunk, kind, title = event.chunk, "closed", f"chunk {event.chunk} closed"
            current = None
        elif isinstance(event, StoryBlocked):
            chunk, kind, title = event.chunk, "blocked", f"BLOCKED ({event.by}): {event.reason}"
        else:  # the last kind left: StoryCompleted
            chunk, kind, title = None, "completed", f"BACKEND COMPLETE ({event.chunks} chunk(s))"
        found.append(Mark(seq=record.seq, at=record.at, chunk=chunk, kind=kind, title=title))
    return tuple(found)


# --- the picture ----------------------------------------------------------------------------------------------

LABEL_WIDTH = 190  # the lane names on the left
LANE_HEIGHT = 34
TOP = 14
STEP_MAX = 44  # pixels between two marks when there are few
SPAN_MAX = 960  # the marks' span is at most this wide; beyond it the step shrinks, down to STEP_MIN
STEP_MIN = 7
LABEL_CHARS = 24


@dataclass(frozen=True)
class Lane:
    y: float
    label: str  # short (cut to LABEL_CHARS)
    title: str  # in full
    x0: float  # where its line starts (the chunk opened) and ends (closed, or the last mark)
    x1: float
    closed: bool  # drawn solid when closed, dashed while open


@dataclass(frozen=True)
class Dot:
    x: float
    y: float
    mark: Mark


@dataclass(frozen=True)
class Drawing:
    width: float
    height: float
    lanes: tuple[Lane, ...]
    dots: tuple[Dot, ...]


def _cut(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def draw(found: Sequence[Mark], chunks: Sequence[tuple[int, str, bool]]) -> Drawing:
    """Lay `found` out: one lane per chunk of `chunks` ((number, name, closed), in order), and a "story" lane
    above them for marks outside any chunk; one column per mark, left to right in journal order."""
    step = max(STEP_MIN, min(STEP_MAX, SPAN_MAX / max(len(found), 1)))
    story_lane = any(m.chunk is None for m in found)
    rows: dict[int | None, int] = {None: 0} if story_lane else {}
    for number, _, _ in chunks:
        rows[number] = len(rows)
    for mark in found:  # a chunk the journal names but `chunks` does not (a broken journal): still drawn
        rows.setdefault(mark.chunk, len(rows))

    def y_of(chunk: int | None) -> float:
        return TOP + rows[chunk] * LANE_HEIGHT + LANE_HEIGHT / 2

    dots = tuple(Dot(x=LABEL_WIDTH + step * (i + 0.5), y=y_of(m.chunk), mark=m) for i, m in enumerate(found))
    end = LABEL_WIDTH + step * len(found)
    names = {number: (name, closed) for number, name, closed in chunks}
    lanes: list[Lane] = []
    for chunk in rows:
        xs = [d.x for d in dots if d.mark.chunk == chunk]
        if chunk is None:
            label = title = "story"
            closed = True
        else:
            name, closed = names.get(chunk, ("", False))
            title = f"chunk {chunk}: {name}" if name else f"chunk {chunk}"
            label = _cut(f"{chunk} · {name}" if name else f"chunk {chunk}")
        x0 = min(xs, default=LABEL_WIDTH)
        x1 = max(xs, default=LABEL_WIDTH) if closed or chunk is None else end
        lanes.append(Lane(y=y_of(chunk), label=label, title=title, x0=x0, x1=x1, closed=closed))
    height = TOP * 2 + LANE_HEIGHT * max(len(rows), 1)
    return Drawing(width=end + step, height=height, lanes=tuple(lanes), dots=dots)
