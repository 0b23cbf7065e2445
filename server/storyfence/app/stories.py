"""The story tools: read_story, story_status, begin_chunk, append_chunk_log, report_blocker, complete_story.

Each opens the story's transaction, asks the core what the action causes (`core.steps`), and records it;
the core renders every line of BACKEND-LOG.md and BLOCKERS.md, the store writes them.
"""

from __future__ import annotations

from collections import Counter

from storyfence.adapters.git import dirty_files, head_commit
from storyfence.adapters.store import now_iso
from storyfence.app.observe import Observer
from storyfence.app.repo import Repo, Story
from storyfence.app.results import (
    ChunkView,
    IgnoredScopeEntry,
    LogResult,
    ScopeView,
    SignalResult,
    StatusView,
    StoryView,
    Stray,
)
from storyfence.core import steps
from storyfence.core.errors import InputError, WorkflowError
from storyfence.core.events import ChunkLogged, FileObserved
from storyfence.core.inputs import one_line, required
from storyfence.core.learned import LEARNED_SOURCE
from storyfence.core.models import PortsAdapters, Reuse
from storyfence.core.scope import describe, read_scope
from storyfence.core.status import next_step, signal
from storyfence.core.workflow import Chunk, StoryState, ensure


def chunk_view(chunk: Chunk) -> ChunkView:
    return ChunkView(
        number=chunk.number,
        name=chunk.name,
        objective=chunk.objective,
        files=list(chunk.changes),
        commands=list(chunk.runs),
        file_count=len(chunk.changes),
        command_count=len(chunk.runs),
        logged=chunk.logged,
        typecheck=chunk.check,
        failed_fix_attempts=chunk.failed_fix_attempts,
        closed=chunk.closed,
        unchecked=list(chunk.unchecked),
        refused=dict(Counter(chunk.refused)),
    )


RECENT_CHUNKS = 4
"""The chunks before the last that a status names, one line each. A status lists the last chunk in full (its
files and commands), names the few before it and counts the rest (closed, in BACKEND-LOG.md): it has the same
shape, and costs the same to build, send and validate, at chunk 100 as at chunk 2."""


_LINES: dict[int, tuple[Chunk, str]] = {}
"""The recent lines made so far, by chunk object: a chunk before the last is closed and never changes, so each
status names it with the line made the first time (the chunk is kept, so its id is not another's)."""


def recent_line(chunk: Chunk) -> str:
    """One chunk in a line: `chunk 3 "orders port": 4 file changes, 1 typecheck run, closed`."""
    made = _LINES.get(id(chunk))
    if made is not None and made[0] is chunk:
        return made[1]

    def count(n: int, what: str) -> str:
        return f"{n} {what}{'' if n == 1 else 's'}"

    state = "closed" if chunk.closed else "open"
    line = f'chunk {chunk.number} "{chunk.name}": {count(len(chunk.changes), "file change")}, ' + (
        f"{count(len(chunk.runs), 'typecheck run')}, {state}"
    )
    if len(_LINES) >= 4 * RECENT_CHUNKS:
        _LINES.clear()
    _LINES[id(chunk)] = (chunk, line)
    return line


def status_view(story: Story, state: StoryState) -> StatusView:
    last = state.chunks[-1:]
    recent = state.chunks[-1 - RECENT_CHUNKS : -1]  # no copy of every chunk: flat cost
    return StatusView(
        story=story.id,
        status=state.status,
        signal=signal(state),
        chunks=[chunk_view(c) for c in last],
        recent=[recent_line(c) for c in recent],
        earlier_chunks=max(len(state.chunks) - 1, 0),
        earlier_files=state.files_before_last,
        strays=[
            Stray(path=s.change.path, kind=s.change.kind, rule=s.rule, reason=s.reason, instead=s.instead)
            for s in state.strays
        ],
        refused=dict(Counter(state.refused)),
        next_step=next_step(state),
    )


class Stories:
    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self.observer = Observer(repo)

    def story_status(self, story: str) -> StatusView:
        st = self.repo.story(story)
        state = st.store.state()
        return status_view(st, state)

    def read_story(self, story: str) -> StoryView:
        st = self.repo.story(story)
        texts: dict[str, str] = {}
        for key in ("story", "plan", "scope"):
            rel = st.paths.document(key)
            if not self.repo.ws.exists(rel):
                raise InputError(f"story {st.id} is missing an authoritative input: expected {rel}")
            texts[key] = self.repo.read_text(rel)
        reading = read_scope(texts["scope"], source=st.paths.scope)
        scope = reading.lists
        state = st.store.state()
        return StoryView(
            story=st.id,
            folder=st.paths.folder,
            story_md=texts["story"],
            implementation_plan_md=texts["plan"],
            scope_md=texts["scope"],
            scope=ScopeView(
                in_scope=list(scope.in_scope),
                out_of_scope=list(scope.out_of_scope),
                narrows=bool(scope.in_scope or scope.out_of_scope or scope.unreadable),
                refuses_every_write=bool(scope.unreadable),
                ignored=[
                    IgnoredScopeEntry(section=i.section, line=i.line, text=i.text, reason=i.reason)
                    for i in reading.ignored
                ],
                note=describe(scope),
            ),
            status=status_view(st, state),
            log_path=st.paths.log,
            policy=self.policy_note(),
        )

    def policy_note(self) -> str:
        """Which policy decides, in a sentence: a committed file, or the layout learned from the repo."""
        policy = self.repo.policy
        learned = sum(r.id.startswith("learned-") for r in policy.rules)
        if LEARNED_SOURCE in policy.sources:
            return (
                f"no .storyfence.toml: the built-in backend policy plus {learned} rule(s) learned from this repo's "
                "layout (`storyfence layout` shows the map; `storyfence init` writes it for the team to review)"
            )
        return f"{policy.source_label}" + (f", with {learned} learned rule(s)" if learned else "")

    def begin_chunk(self, story: str, name: str, objective: str) -> StatusView:
        st = self.repo.story(story)
        name = one_line(name, "name", 80)
        objective = required(objective, "objective")
        with st.store.transaction() as tx:
            ensure(tx.state, "begin_chunk")  # before asking git anything
            # the first chunk records what was already uncommitted, so audit does not blame the story for it
            first = not tx.state.chunks
            baseline = dirty_files(self.repo.root, skip=(f"{st.paths.server_dir}/",)) if first else None
            step = steps.begin_chunk(
                tx.state, name=name, objective=objective, base_commit=head_commit(self.repo.root), baseline=baseline
            )
            tx.record(step)
            self.observer.record(st, tx, self.repo.bounds(st))  # what changed outside since the last chunk
            return status_view(st, tx.state)

    def append_chunk_log(
        self, story: str, summary: str, reuse: Reuse, ports_adapters: PortsAdapters, notes_risks: str
    ) -> LogResult:
        st = self.repo.story(story)
        summary = required(summary, "summary")
        notes = required(notes_risks, "notes_risks")
        for what, value in (*reuse.model_dump().items(), *ports_adapters.model_dump().items()):
            required(value, what)
        with st.store.transaction() as tx:
            ensure(tx.state, "append_chunk_log")
            self.observer.record(st, tx, self.repo.bounds(st))  # the section lists every file, whoever wrote it
            step = steps.log_chunk(
                tx.state, summary=summary, reuse=reuse, ports_adapters=ports_adapters, notes_risks=notes
            )
            tx.record(step)
            logged = step.events[0]
            assert isinstance(logged, ChunkLogged)
            chunk = next(c for c in tx.state.chunks if c.number == logged.chunk)
            return LogResult(
                story=st.id,
                chunk=logged.chunk,
                section=logged.log_append or steps.chunk_section(chunk),
                chunk_closed=step.chunk_closed,
                next_step=next_step(tx.state),
            )

    def report_blocker(self, story: str, reason: str, details: str) -> SignalResult:
        st = self.repo.story(story)
        reason = one_line(reason, "reason", 200)
        details = required(details, "details")
        with st.store.transaction() as tx:
            tx.record(steps.report_blocker(tx.state, story_id=st.id, reason=reason, details=details, at=now_iso()))
            return SignalResult(story=st.id, signal=f"BLOCKED: {reason}", path=st.paths.blockers)

    def complete_story(self, story: str) -> SignalResult:
        st = self.repo.story(story)
        with st.store.transaction() as tx:
            ensure(tx.state, "complete_story")
            found = self.observer.scan(st, tx, self.repo.bounds(st))
            pending = [f.change.path for f in found if isinstance(f, FileObserved) and f.allowed]
            kept = [f for f in found if not (isinstance(f, FileObserved) and f.allowed)]
            if kept:
                tx.record(steps.observed(tx.state, kept))
            if pending:
                raise WorkflowError(
                    f"complete_story refused: files changed outside storyfence since the last chunk closed: "
                    f"{', '.join(pending)}. Begin a chunk to take them in (they are type-checked and logged), "
                    "or undo them."
                )
            tx.record(steps.complete(tx.state, story_id=st.id, at=now_iso()))
            return SignalResult(story=st.id, signal="BACKEND COMPLETE", path=st.paths.log)
