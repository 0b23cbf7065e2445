"""The timeline: one mark per recorded action, a write after a failed typecheck is a fix, and the picture puts
each chunk on its own lane, left to right in journal order."""

from __future__ import annotations

from storyfence.core.events import (
    ChunkClosed,
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
from storyfence.core.journal import Record, chain
from storyfence.core.models import CommandRun, Diagnostic, FileChange, Outcome, PortsAdapters, Reuse
from storyfence.core.timeline import LABEL_CHARS, STEP_MIN, draw, marks

AT = "2026-01-02T03:04:05.000Z"


def wrote(chunk: int, path: str = "packages/core/src/a.ts") -> FileChanged:
    return FileChanged(chunk=chunk, change=FileChange(path=path, kind="modified", sha256="0" * 64))


def checked(chunk: int, outcome: Outcome) -> TypecheckRan:
    diagnostics = (Diagnostic(file="a.ts", line=1, column=1, code="TS2322", message="no"),)
    run = CommandRun(
        argv=("pnpm", "check-types"),
        package="@example/core",
        exit_code=0 if outcome == "passed" else 2,
        outcome=outcome,
        duration_seconds=1.0,
        diagnostics=diagnostics if outcome == "failed" else (),
    )
    return TypecheckRan(chunk=chunk, runs=(run,), outcome=outcome)


def logged(chunk: int) -> ChunkLogged:
    return ChunkLogged(
        chunk=chunk,
        summary="did it",
        reuse=Reuse(reused="x", new="y", why_new="z"),
        ports_adapters=PortsAdapters(core="c", adapters="a"),
        notes_risks="none",
        log_append="## Chunk\n",
    )


def records(*events: Event) -> list[Record]:
    return chain(None, events, AT)


def test_every_action_is_one_mark_and_a_write_after_a_failed_typecheck_is_a_fix() -> None:
    found = marks(
        records(
            ChunkOpened(number=1, name="use case", objective="AC1"),
            wrote(1),
            checked(1, "failed"),
            wrote(1),
            checked(1, "tooling_error"),
            wrote(1),  # still a fix: tooling never ends a run of failures
            checked(1, "passed"),
            wrote(1),  # after a pass: a plain write again
            logged(1),
            ChunkClosed(chunk=1),
            StoryCompleted(chunks=1, log_append="done"),
        )
    )
    assert [m.kind for m in found] == [
        "opened",
        "write",
        "failed",
        "fix",
        "tooling",
        "fix",
        "passed",
        "write",
        "logged",
        "closed",
        "completed",
    ]
    assert [m.seq for m in found] == list(range(11))
    assert found[2].title.startswith("typecheck failed: 1 error(s) (pnpm check-types)")
    assert found[3].title == "fix: modified packages/core/src/a.ts"
    assert found[-1].chunk is None
    assert {m.chunk for m in found[:-1]} == {1}


def test_a_block_sits_on_its_chunk_and_names_its_reason() -> None:
    found = marks(
        records(
            ChunkOpened(number=1, name="n", objective="o"),
            StoryBlocked(chunk=1, reason="still failing", details="", by="fast-fail", blockers="# Blockers\n"),
        )
    )
    assert (found[-1].kind, found[-1].chunk, found[-1].title) == ("blocked", 1, "BLOCKED (fast-fail): still failing")


def test_refused_writes_and_changes_made_around_the_server_are_marks_too() -> None:
    outside = FileChange(path="packages/core/src/b.ts", kind="created", sha256="1" * 64, outside=True)
    stray = FileChange(path="apps/web/B.tsx", kind="created", sha256="2" * 64, outside=True)
    found = marks(
        records(
            WriteRefused(chunk=None, tool="write_file", path=".env", rule="no-env-files"),
            ChunkOpened(number=1, name="n", objective="o"),
            FileObserved(chunk=1, change=outside, allowed=True, rule="core-package"),
            FileObserved(chunk=1, change=stray, allowed=False, rule="no-react-components"),
            StrayCleared(path="apps/web/B.tsx", by="restore_file"),
        )
    )
    assert [(m.kind, m.chunk, m.title) for m in found] == [
        ("refused", None, "refused by `no-env-files`: write_file .env"),
        ("opened", 1, "chunk 1 opened: n"),
        ("outside", 1, "created outside storyfence, taken in: packages/core/src/b.ts"),
        ("stray", 1, "created outside storyfence, refused by `no-react-components`: apps/web/B.tsx"),
        ("restored", 1, "undone (restore file): apps/web/B.tsx"),
    ]


def test_each_chunk_has_a_lane_marks_go_left_to_right_and_a_story_lane_holds_the_rest() -> None:
    found = marks(
        records(
            ChunkOpened(number=1, name="a chunk whose name is far too long for a lane label", objective="o"),
            wrote(1),
            ChunkClosed(chunk=1),
            ChunkOpened(number=2, name="second", objective="o"),
            wrote(2),
            StoryCompleted(chunks=1, log_append="done"),
        )
    )
    drawing = draw(found, [(1, "a chunk whose name is far too long for a lane label", True), (2, "second", False)])
    xs = [d.x for d in drawing.dots]
    assert xs == sorted(xs)
    assert len(set(xs)) == len(xs)
    story, first, second = drawing.lanes
    assert story.label == "story"
    assert story.y < first.y < second.y
    assert len(first.label) == LABEL_CHARS
    assert first.label.endswith("…")
    assert first.title == "chunk 1: a chunk whose name is far too long for a lane label"
    assert (first.closed, second.closed) == (True, False)
    assert first.x0 == xs[0]
    assert first.x1 == xs[2]
    assert second.x1 > xs[-1]  # an open chunk's lane runs on to the end
    assert [d.y for d in drawing.dots] == [first.y] * 3 + [second.y] * 2 + [story.y]
    assert drawing.width > xs[-1]
    assert drawing.height > second.y


def test_a_long_story_stays_within_a_page_width_until_the_step_reaches_its_minimum() -> None:
    events: list[Event] = [ChunkOpened(number=1, name="n", objective="o")]
    events += [wrote(1, f"packages/core/src/f{i}.ts") for i in range(499)]
    drawing = draw(marks(records(*events)), [(1, "n", False)])
    steps = {round(b.x - a.x, 6) for a, b in zip(drawing.dots, drawing.dots[1:], strict=False)}
    assert steps == {STEP_MIN}
