"""`storyfence report STORY`: a reviewer's page for a story, from what the server recorded and what git says.

On top the audit's verdict (commands/audit.py's run_audit, as `storyfence audit` gives it), then the story and
its acceptance criteria, a timeline of the chunks drawn from the journal, every changed file with its diff
against the story's base commit and who changed it, the typecheck runs with their diagnostics, the writes
refused by rule and the blockers. Rendered (report_render.py) as one self-contained HTML page, or as Markdown
sized for a pull-request comment.

Exit 0 when the audit is clean, 1 on findings (the page is written either way), 2 when no page can be made.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal, TypeGuard

from storyfence import __version__
from storyfence.adapters.policy_file import load_policy
from storyfence.app.service import StoryfenceService
from storyfence.commands import report_render
from storyfence.commands.audit import Report, UsageError, changed_stories, run_audit
from storyfence.commands.audit_journal import Finding, baseline, last_writes, read_journal
from storyfence.commands.file_changes import FileChanges
from storyfence.core.errors import StoryfenceError
from storyfence.core.events import (
    ChunkLogged,
    ChunkOpened,
    Event,
    FileChanged,
    FileObserved,
    StoryBlocked,
    TypecheckRan,
    WriteRefused,
)
from storyfence.core.file_diff import FileDiff
from storyfence.core.status import signal
from storyfence.core.story_doc import StoryDoc, read_story_doc
from storyfence.core.timeline import Drawing, Mark, draw, marks
from storyfence.core.workflow import derive

Who = Literal[
    "storyfence",  # written through the server, and still what it wrote
    "storyfence, then outside",  # written through the server, edited outside it since (a finding)
    "outside, taken in",  # changed outside the server, seen at a chunk boundary and allowed into the chunk
    "outside storyfence",  # changed outside the server and never recorded (a finding)
    "before the story",  # already uncommitted when the story began, and unchanged since
]


@dataclass(frozen=True)
class ChangedFile:
    path: str
    kind: str  # created, modified or deleted (git's word; "unchanged" when the server's writes left none)
    by: Who
    chunks: tuple[int, ...]  # the chunks that wrote it
    findings: tuple[Finding, ...]  # the audit's findings about it
    diff: FileDiff
    note: str = ""  # what the reader must know about the diff


@dataclass(frozen=True)
class ChunkView:
    number: int
    name: str
    objective: str
    state: Literal["closed", "open", "blocked"]
    files: tuple[str, ...]  # written in this chunk, in order of first write (outside changes taken in too)
    outside: tuple[str, ...]  # those of `files` changed outside storyfence and taken in at a chunk boundary
    checks: tuple[TypecheckRan, ...]
    log: ChunkLogged | None
    refused: int


@dataclass(frozen=True)
class Refusal:
    chunk: int | None
    tool: str
    path: str
    rule: str


@dataclass(frozen=True)
class StoryReport:
    story: str
    doc: StoryDoc
    status: str  # idle, open, blocked, complete
    signal: str  # BACKEND COMPLETE, BLOCKED: <reason>, or what is still open
    audit: Report
    chunks: tuple[ChunkView, ...]
    marks: tuple[Mark, ...]
    drawing: Drawing
    files: tuple[ChangedFile, ...]
    refusals: dict[str, list[Refusal]]  # by rule, the rules with the most refusals first
    blocked: StoryBlocked | None
    records: int
    generated_at: str
    version: str = __version__

    @property
    def heading(self) -> str:
        """The story's title, with its id in front unless the title has it."""
        return self.doc.title if self.story in self.doc.title else f"{self.story}: {self.doc.title}"

    @property
    def checks(self) -> list[tuple[int, TypecheckRan]]:
        return [(c.number, check) for c in self.chunks for check in c.checks]


def _refusals(events: Sequence[Event]) -> dict[str, list[Refusal]]:
    by_rule: dict[str, list[Refusal]] = {}
    for event in events:
        if isinstance(event, WriteRefused):
            refusal = Refusal(chunk=event.chunk, tool=event.tool, path=event.path, rule=event.rule)
            by_rule.setdefault(refusal.rule, []).append(refusal)
    return dict(sorted(by_rule.items(), key=lambda item: (-len(item[1]), item[0])))


def _taken_in(event: Event) -> TypeGuard[FileChanged | FileObserved]:
    """A change the journal accounts for: a write, or an outside change a chunk boundary allowed in."""
    return isinstance(event, FileChanged) or (isinstance(event, FileObserved) and event.allowed)


def _chunks(events: Sequence[Event], refusals: dict[str, list[Refusal]]) -> tuple[ChunkView, ...]:
    state = derive(events)
    opened = {e.number: e for e in events if isinstance(e, ChunkOpened)}
    blocked = state.status == "blocked"
    views: list[ChunkView] = []
    for chunk in state.chunks:
        taken = [e for e in events if _taken_in(e) and e.chunk == chunk.number]
        files = tuple(dict.fromkeys(e.change.path for e in taken))
        outside = tuple(dict.fromkeys(e.change.path for e in taken if isinstance(e, FileObserved)))
        views.append(
            ChunkView(
                number=chunk.number,
                name=chunk.name,
                objective=opened[chunk.number].objective if chunk.number in opened else chunk.objective,
                state="closed" if chunk.closed else "blocked" if blocked else "open",
                files=files,
                outside=outside,
                checks=tuple(e for e in events if isinstance(e, TypecheckRan) and e.chunk == chunk.number),
                log=next((e for e in events if isinstance(e, ChunkLogged) and e.chunk == chunk.number), None),
                refused=sum(1 for rs in refusals.values() for r in rs if r.chunk == chunk.number),
            )
        )
    return tuple(views)


def _files(root: Path, audit: Report, events: Sequence[Event]) -> tuple[ChangedFile, ...]:
    written = last_writes(list(events))
    chunks_of: dict[str, list[int]] = {}
    for event in events:
        if _taken_in(event) and event.chunk is not None:
            chunks_of.setdefault(event.change.path, [])
            if event.chunk not in chunks_of[event.change.path]:
                chunks_of[event.change.path].append(event.chunk)
    before = {d.path for d in audit.preexisting}
    dirty = baseline(list(events))  # uncommitted when the story began: the base commit does not have that state
    differs = {f.path for f in audit.findings if f.kind == "content-differs"}
    changes = FileChanges(root, audit.base_commit)
    found: list[ChangedFile] = []
    for path in sorted(set(audit.files) | set(written)):
        if path in written:
            by: Who = "storyfence, then outside" if path in differs else "storyfence"
            if written[path][1].outside and path not in differs:
                by = "outside, taken in"
        else:
            by = "before the story" if path in before else "outside storyfence"
        kind = audit.files.get(path, "unchanged")
        found.append(
            ChangedFile(
                path=path,
                kind=kind,
                by=by,
                chunks=tuple(chunks_of.get(path, ())),
                findings=tuple(f for f in audit.findings if f.path == path),
                diff=changes.diff(path) if kind != "unchanged" else FileDiff(note="no change in git"),
                note=(
                    f"already {dirty[path].kind} (uncommitted) when the story began: the diff against the base "
                    "commit includes that earlier change"
                    if path in dirty and by != "before the story"
                    else ""
                ),
            )
        )
    return tuple(found)


def build_report(root: Path, story_id: str, *, policy_path: Path | None) -> StoryReport:
    """Everything the page shows, for one story; raises a StoryfenceError when the story cannot be read."""
    audit = run_audit(root, story_id, policy_path=policy_path)  # raises UsageError first: not git, unknown story
    policy, sources = load_policy(root.resolve(), policy_path)
    service = StoryfenceService(root, policy, policy_paths=sources)
    story = service.story(story_id)
    records, _ = read_journal(story.store.journal, story.paths.journal)  # a broken chain is the audit's finding
    events: list[Event] = [r.event for r in records]
    try:
        doc = read_story_doc(service.repo.read_text(story.paths.story), story.id)
    except StoryfenceError:
        doc = StoryDoc(title=story.id, criteria=())
    state = derive(events)
    refusals = _refusals(events)
    chunks = _chunks(events, refusals)
    found = marks(records)
    where = signal(state) or (
        state.current.next_step() if state.current else f"{state.closed_chunks} chunk(s) closed, not complete yet"
    )
    return StoryReport(
        story=story.id,
        doc=doc,
        status=state.status,
        signal=where if records else "not started: the journal records nothing yet",
        audit=audit,
        chunks=chunks,
        marks=found,
        drawing=draw(found, [(c.number, c.name, c.state == "closed") for c in chunks]),
        files=_files(service.root, audit, events),
        refusals=refusals,
        blocked=next((e for e in reversed(events) if isinstance(e, StoryBlocked)), None),
        records=len(records),
        generated_at=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    )


def render(report: StoryReport, fmt: Literal["html", "markdown"]) -> str:
    return report_render.html(report) if fmt == "html" else report_render.markdown(report)


def _write(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    print(f"storyfence report: wrote {output}", file=sys.stderr)


def report(
    root: Path,
    story: str | None,
    *,
    policy_path: Path | None,
    fmt: Literal["html", "markdown"] = "html",
    output: Path | None = None,
    changed_since: str | None = None,
) -> int:
    """Write the report of `story` (to `output`, else stdout), or with `changed_since` one file per changed
    story into the folder `output`; exit 0 when every audit is clean, 1 on findings, 2 when it cannot run."""
    try:
        if changed_since is None:
            if story is None:
                raise UsageError("name a STORY, or --changed-since REF")
            built = build_report(root, story, policy_path=policy_path)
            _write(render(built, fmt), output)
            return 0 if built.audit.ok else 1
        if output is None:
            raise UsageError("--changed-since writes one file per story: name the folder with --output")
        selection = changed_stories(root, changed_since, policy_path=policy_path)
        code = 0
        suffix = ".html" if fmt == "html" else ".md"
        for story_id in selection.stories:
            built = build_report(root, story_id, policy_path=policy_path)
            _write(render(built, fmt), output / f"{built.story}{suffix}")
            code = max(code, 0 if built.audit.ok else 1)
        if not selection.stories:
            print(f"storyfence report: no story changed since {changed_since}", file=sys.stderr)
        return code
    except StoryfenceError as exc:
        print(f"storyfence report: {exc}", file=sys.stderr)
        return 2
