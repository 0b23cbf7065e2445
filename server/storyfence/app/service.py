"""The application service: one method per MCP tool; the only place that combines the core and adapters."""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import posixpath
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import pathspec
from pydantic import BaseModel, Field

from storyfence.adapters.git import dirty_files, head_commit
from storyfence.adapters.policy_file import package_facts
from storyfence.adapters.search import Searcher
from storyfence.adapters.store import StoryStore, Transaction, now_iso
from storyfence.adapters.workspace import Located, Workspace, confinement_refusal, decode_text
from storyfence.core import checks as checks_core
from storyfence.core import logbook
from storyfence.core.content import check_content
from storyfence.core.errors import InputError, Refused, WorkflowError
from storyfence.core.events import (
    ChunkClosed,
    ChunkLogged,
    ChunkOpened,
    FileChanged,
    StoryBlocked,
    StoryCompleted,
    TypecheckRan,
)
from storyfence.core.journal import Record
from storyfence.core.learned import LEARNED_SOURCE
from storyfence.core.models import CommandRun, FileChange, PortsAdapters, Reuse, UncheckedFile
from storyfence.core.policy import (
    Decision,
    PackageFacts,
    Policy,
    ScopeLists,
    decide_read,
    decide_write,
    protected_rules,
)
from storyfence.core.scope import describe, parse_scope, read_scope, unreadable_scope
from storyfence.core.workflow import Chunk, StoryState, ensure, should_block

if TYPE_CHECKING:
    from storyfence.adapters.checks import CheckCommand
from storyfence.app.results import (
    ChunkView,
    EditResult,
    FileContent,
    FileList,
    IgnoredScopeEntry,
    LogResult,
    PathDecision,
    ScopeView,
    SearchMatch,
    SearchResult,
    SignalResult,
    StatusView,
    StoryView,
    TypecheckResult,
    WriteResult,
)

log = logging.getLogger("storyfence")
Progress = Callable[[str], Awaitable[None]]
RunCommand = Callable[..., Awaitable[CommandRun]]


class Edit(BaseModel):
    """One exact replacement: `old_text` must occur exactly once in the file (after earlier edits)."""

    old_text: str = Field(min_length=1, description="exact text to replace; include enough lines to be unique")
    new_text: str = Field(description="the replacement text")


@dataclass(frozen=True)
class Story:
    id: str
    folder: str  # repo-relative
    impl: str  # repo-relative _implementation folder
    store: StoryStore

    def path(self, name: str) -> str:
        return f"{self.folder}/{self.id}.md" if name == "story" else f"{self.impl}/{name}"


@dataclass(frozen=True)
class _TypecheckPlan:
    """What run_typecheck decided under the lock before running anything: the chunk it checks and how."""

    story: Story
    snapshot: tuple[int, int]  # (chunk number, files recorded): the chunk must still be this one after the runs
    commands: list[CheckCommand]
    unchecked: tuple[UncheckedFile, ...]
    package_dirs: dict[str, str]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _view(chunk: Chunk) -> ChunkView:
    return ChunkView(
        number=chunk.number,
        name=chunk.name,
        objective=chunk.objective,
        files=list(chunk.changes),
        commands=list(chunk.runs),
        logged=chunk.logged,
        typecheck=chunk.check,
        failed_fix_attempts=chunk.failed_fix_attempts,
        closed=chunk.closed,
        unchecked=list(chunk.unchecked),
    )


def _signal(state: StoryState) -> str:
    if state.status == "complete":
        return "BACKEND COMPLETE"
    if state.status == "blocked":
        return f"BLOCKED: {state.blocked_reason}"
    return ""


def _next_step(state: StoryState) -> str:
    if state.status == "complete":
        return "the story is complete: nothing more to do."
    if state.status == "blocked":
        return "the story is blocked: stop and report the blocker to the user."
    chunk = state.current
    if chunk is not None:
        return chunk.next_step()
    if state.closed_chunks:
        return "start the next chunk with begin_chunk, or call complete_story if all backend work is done."
    return "read the story, then call begin_chunk(story, name, objective) for the first chunk."


def _utf8(text: str, what: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(
            f"{what} is not valid Unicode text (a lone surrogate at position {exc.start}); send UTF-8 text"
        ) from None


def _one_line(value: str, what: str, limit: int = 120) -> str:
    text = " ".join(value.split())
    _utf8(text, what)
    if not text:
        raise InputError(f"{what} must not be empty")
    if len(text) > limit:
        raise InputError(f"{what} is {len(text)} characters; keep it under {limit}")
    return text


def _required(value: str, what: str) -> str:
    text = value.strip()
    if not text:
        raise InputError(f"{what} must not be empty: the seed's log structure requires it")
    _utf8(text, what)
    return text


STORY_DOCUMENTS: dict[str, str] = {
    "story": "story",
    "plan": "IMPLEMENTATION-PLAN.md",
    "scope": "SCOPE.md",
    "log": "BACKEND-LOG.md",
    "blockers": "BLOCKERS.md",
}
"""The story files a client can read as resources, by document name."""


class StoryfenceService:
    """Everything the tools do, without MCP. Construct with a root and a policy."""

    def __init__(
        self,
        root: Path,
        policy: Policy,
        *,
        policy_paths: Sequence[Path] = (),
        run_command: RunCommand | None = None,
        use_ripgrep: bool = True,
    ) -> None:
        self.ws = Workspace(root)
        self.root = self.ws.root
        self.policy = policy
        self.searcher = Searcher(self.root, use_ripgrep=use_ripgrep)
        self._run_command = run_command
        self._scopes: dict[str, tuple[tuple[int, int, int], ScopeLists]] = {}
        self._packages: tuple[tuple[int, ...], tuple[PackageFacts, ...]] | None = None
        self._stores: dict[str, StoryStore] = {}
        extra: list[str] = []
        for p in policy_paths:
            try:
                rel = Path(p).resolve().relative_to(self.root).as_posix()
            except ValueError:
                continue
            extra.append("/" + rel)
        self.protected = protected_rules(policy.stories, tuple(extra))
        self._story_re = re.compile(policy.stories.id_pattern)

    # --- paths and stories ------------------------------------------------------------------------------

    def _write_server_text(self, path: Path, text: str) -> None:
        rel = path.relative_to(self.root).as_posix()
        store = self._stores.get(rel.rsplit("/", 1)[0])  # the story whose lock this write runs under
        announce = functools.partial(store.note_staged, rel) if store is not None else None
        self.ws.write_atomic(rel, text.encode("utf-8"), announce)

    def story(self, story_id: str) -> Story:
        sid = story_id.strip()
        if not self._story_re.fullmatch(sid):
            raise InputError(
                f"story {story_id!r} does not look like a story id (pattern {self.policy.stories.id_pattern}), "
                "e.g. STORY-042"
            )
        tried: list[str] = []
        for folder in self.policy.stories.folders:
            rel = sid if folder in (".", "") else f"{folder.strip('/')}/{sid}"
            tried.append(f"{rel}/{sid}.md")
            try:
                loc = self.ws.locate(rel)
            except Refused:
                continue
            if loc.symlink is None and self.ws.is_dir(loc.rel):
                impl = f"{loc.rel}/_implementation"
                # one store per story for the server's life: it remembers what it verified of the journal
                store = self._stores.get(impl)
                if store is None:
                    store = self._stores[impl] = StoryStore(
                        self.ws.absolute(impl),
                        sid,
                        self._write_server_text,
                        on_read=self._roll_forward,
                        remove_stale=self.ws.remove_stale,
                    )
                return Story(id=sid, folder=loc.rel, impl=impl, store=store)
        raise InputError(f"unknown story {sid}: expected its folder at one of " + ", ".join(tried))

    def _decide(self, loc: Located, story: Story | None) -> Decision:
        if loc.symlink is not None:
            raise confinement_refusal(
                loc.rel,
                f"the path goes through the symlink `{loc.symlink}`: writes never follow a symlink.",
                f"write the real path `{loc.real}` if it is in scope.",
            )
        if loc.rel == ".":
            raise InputError("the repo root is a directory, not a file")
        scope = self._scope(story) if story is not None else None
        return decide_write(self.policy, loc.rel, scope=scope, protected=self.protected, packages=self._package_facts())

    def _package_facts(self) -> tuple[PackageFacts, ...]:
        """The workspace packages (for the frontend-by-manifest rule), rediscovered when a manifest changes.

        The key is the mtime of pnpm-workspace.yaml, the root package.json and every known manifest; a
        package.json written through the server drops the cache too (see _forget_packages).
        """
        key = self._manifest_key()
        if self._packages is None or self._packages[0] != key:
            facts = package_facts(self.root)
            self._packages = (self._manifest_key(facts), facts)
        return self._packages[1]

    def _manifest_key(self, facts: tuple[PackageFacts, ...] | None = None) -> tuple[int, ...]:
        known = facts if facts is not None else (self._packages[1] if self._packages else ())
        paths = ["pnpm-workspace.yaml", "package.json", *(f"{p.dir}/package.json" for p in known if p.dir != ".")]
        key: list[int] = []
        for rel in paths:
            try:
                key.append(os.stat(self.root / rel).st_mtime_ns)
            except OSError:
                key.append(-1)
        return tuple(key)

    def _forget_packages(self, rel: str) -> None:
        if posixpath.basename(rel) in ("package.json", "pnpm-workspace.yaml"):
            self._packages = None

    def _old_text(self, rel: str) -> str | None:
        """The current text of `rel` for the content rules; None for a new, binary or unreadable file."""
        try:
            return decode_text(rel, self.ws.read_bytes(rel, cap=self.policy.limits.max_file_bytes))
        except InputError:
            return None

    def _check_content(self, rel: str, old_text: str | None, new_text: str | None) -> None:
        refusal = check_content(self.policy, rel, old_text, new_text)
        if refusal is not None:
            raise Refused(refusal.message(), refusal)

    def _scope(self, story: Story) -> ScopeLists:
        """The story's SCOPE.md lists, parsed again only when the file changed (every write asks)."""
        rel = story.path("SCOPE.md")
        try:
            st = os.stat(self.ws.absolute(rel), follow_symlinks=False)
            key = (st.st_ino, st.st_size, st.st_mtime_ns)
        except OSError:
            key = None
        cached = self._scopes.get(rel)
        if cached is not None and key is not None and cached[0] == key:
            return cached[1]
        try:
            text = decode_text(rel, self.ws.read_bytes(rel, cap=self.policy.limits.max_file_bytes))
        except InputError as exc:
            return unreadable_scope(rel, str(exc))  # fail closed: an unread scope refuses, it never widens
        scope = parse_scope(text, source=rel)
        if key is not None:
            self._scopes[rel] = (key, scope)
        return scope

    def _allowed(self, path: str, story: Story | None) -> tuple[Located, Decision]:
        loc = self.ws.locate(path)
        decision = self._decide(loc, story)
        if not decision.allowed:
            raise Refused(decision.message(), decision)
        return loc, decision

    def _read_text(self, path: str) -> tuple[Located, str, bytes]:
        loc = self.ws.locate(path)
        for rel in {loc.rel, loc.real}:
            decision = decide_read(self.policy, rel)
            if not decision.allowed:
                raise Refused(decision.message(), decision)
        data = self.ws.read_bytes(loc.real, cap=self.policy.limits.max_file_bytes)
        return loc, decode_text(loc.rel, data), data

    # --- read-only tools --------------------------------------------------------------------------------

    def read_file(self, path: str, offset: int = 1, limit: int | None = None) -> FileContent:
        loc, text, data = self._read_text(path)
        if offset < 1:
            raise InputError("offset is a 1-based line number (>= 1)")
        cap = self.policy.limits.max_read_lines
        count = min(limit or cap, cap)
        if count < 1:
            raise InputError("limit must be >= 1")
        lines = text.splitlines(keepends=True)
        chosen = lines[offset - 1 : offset - 1 + count]
        end = offset - 1 + len(chosen)
        return FileContent(
            path=loc.rel,
            content="".join(chosen),
            start_line=offset,
            end_line=end,
            total_lines=len(lines),
            truncated=end < len(lines),
            sha256=_sha(data),
        )

    def list_files(self, path: str = ".", pattern: str | None = None, offset: int = 0) -> FileList:
        loc = self.ws.locate(path)
        if not self.ws.exists(loc.real):
            raise InputError(f"{loc.rel} does not exist")
        files = self.searcher.files(loc.real)
        if loc.real != loc.rel:
            prefix = len(loc.real) + 1 if loc.real != "." else 0
            files = [posixpath.normpath(f"{loc.rel}/{f[prefix:]}") for f in files]
        if pattern:
            spec = pathspec.PathSpec.from_lines("gitignore", [pattern])
            files = [f for f in files if spec.match_file(f)]
        if offset < 0:
            raise InputError("offset must be >= 0")
        page = self.policy.limits.max_list_entries
        chosen = files[offset : offset + page]
        nxt = offset + page if offset + page < len(files) else None
        return FileList(path=loc.rel, files=chosen, total=len(files), next_offset=nxt)

    def search_code(
        self,
        pattern: str,
        path: str = ".",
        glob: str | None = None,
        regex: bool = False,
        case_sensitive: bool = True,
    ) -> SearchResult:
        if not pattern:
            raise InputError("pattern must not be empty")
        loc = self.ws.locate(path)
        if not self.ws.exists(loc.real):
            raise InputError(f"{loc.rel} does not exist")
        limit = self.policy.limits.max_search_matches
        try:
            found, truncated = self.searcher.search(
                pattern,
                start=loc.real,
                glob=glob,
                regex=regex,
                case_sensitive=case_sensitive,
                limit=limit * 2,
            )
        except ValueError as exc:
            raise InputError(str(exc)) from None
        matches: list[SearchMatch] = []
        for m in found:
            if not decide_read(self.policy, m.path).allowed:
                continue  # never leak secrets through search
            matches.append(SearchMatch(path=m.path, line=m.line, text=m.text))
            if len(matches) >= limit:
                truncated = True
                break
        matches.sort(key=lambda m: (m.path, m.line))  # ripgrep searches in parallel: give a stable order
        return SearchResult(
            pattern=pattern,
            matches=matches,
            truncated=truncated,
            engine="ripgrep" if self.searcher.rg else "python",
        )

    def check_path(self, path: str, story: str | None = None, content: str | None = None) -> PathDecision:
        """The decision a write of `path` (with `content`, if given, for the content rules) would get."""
        st = self.story(story) if story else None
        try:
            loc = self.ws.locate(path)
            decision = self._decide(loc, st)
            if decision.allowed and content is not None:
                _utf8(content, "content")
                self._check_content(loc.rel, self._old_text(loc.rel), content)
        except Refused as exc:
            decision = exc.decision
        return PathDecision(**decision.model_dump(exclude={"kind"}), message=decision.message())

    # --- story state ------------------------------------------------------------------------------------

    def _status(self, st: Story, state: StoryState) -> StatusView:
        return StatusView(
            story=st.id,
            status=state.status,
            signal=_signal(state),
            chunks=[_view(c) for c in state.chunks],
            next_step=_next_step(state),
        )

    def story_document(self, story: str, document: str) -> str:
        """The text of one of a story's files (the three inputs, the log, the blockers)."""
        name = STORY_DOCUMENTS.get(document)
        if name is None:
            raise InputError(f"unknown story document {document!r}: one of {', '.join(STORY_DOCUMENTS)}")
        st = self.story(story)
        rel = st.path(name)
        if not self.ws.exists(rel):
            raise InputError(f"{rel} does not exist yet")
        return decode_text(rel, self.ws.read_bytes(rel, cap=self.policy.limits.max_file_bytes))

    def policy_document(self) -> str:
        """The active policy, as JSON: every rule with its patterns, reason and instead."""
        return self.policy.model_dump_json(indent=2)

    def story_status(self, story: str) -> StatusView:
        st = self.story(story)
        _, state = st.store.read_state()
        return self._status(st, state)

    def read_story(self, story: str) -> StoryView:
        st = self.story(story)
        texts: dict[str, str] = {}
        for key, rel in (
            ("story", st.path("story")),
            ("plan", st.path("IMPLEMENTATION-PLAN.md")),
            ("scope", st.path("SCOPE.md")),
        ):
            if not self.ws.exists(rel):
                raise InputError(f"story {st.id} is missing an authoritative input: expected {rel}")
            texts[key] = decode_text(rel, self.ws.read_bytes(rel, cap=self.policy.limits.max_file_bytes))
        reading = read_scope(texts["scope"], source=st.path("SCOPE.md"))
        scope = reading.lists
        _, state = st.store.read_state()
        return StoryView(
            story=st.id,
            folder=st.folder,
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
            status=self._status(st, state),
            log_path=st.path("BACKEND-LOG.md"),
            policy=self.policy_note(),
        )

    def policy_note(self) -> str:
        """Which policy decides, in a sentence: a committed file, or the layout learned from the repo."""
        learned = sum(r.id.startswith("learned-") for r in self.policy.rules)
        if LEARNED_SOURCE in self.policy.sources:
            return (
                f"no .storyfence.toml: the built-in backend policy plus {learned} rule(s) learned from this repo's "
                "layout (`storyfence layout` shows the map; `storyfence init` writes it for the team to review)"
            )
        return f"{self.policy.source_label}" + (f", with {learned} learned rule(s)" if learned else "")

    def begin_chunk(self, story: str, name: str, objective: str) -> StatusView:
        st = self.story(story)
        name = _one_line(name, "name", 80)
        objective = _required(objective, "objective")
        with st.store.transaction() as tx:
            ensure(tx.state, "begin_chunk")
            first = not tx.state.chunks
            # the first chunk records what was already uncommitted, so audit does not blame the story for it
            baseline = dirty_files(self.root, skip=(f"{st.impl}/.storyfence/",)) if first else None
            tx.record(
                ChunkOpened(
                    number=len(tx.state.chunks) + 1,
                    name=name,
                    objective=objective,
                    base_commit=head_commit(self.root),
                    baseline=baseline,
                )
            )
            return self._status(st, tx.state)

    # --- writes -----------------------------------------------------------------------------------------

    def _check_size(self, data: bytes) -> None:
        cap = self.policy.limits.max_file_bytes
        if len(data) > cap:
            raise InputError(f"content is {len(data):,} bytes, over the {cap:,}-byte cap for one file")

    def _write_recorded(
        self, tx: Transaction, rel: str, data: bytes, kind: str | None = None
    ) -> tuple[int, FileChange]:
        """Write-ahead: stage the content (synced), record it, then rename it into place.

        A crash before the record leaves only a temp file; a crash after it leaves a record whose temp file
        the next transaction renames into place (`_roll_forward`). Either way the journal and the disk agree.
        """
        staged = self.ws.stage(rel, data, functools.partial(tx.store.note_staged, rel))
        change = FileChange(
            path=rel,
            kind="modified" if kind == "modified" or staged.existed else "created",
            sha256=_sha(data),
        )
        chunk = tx.state.current
        assert chunk is not None
        try:
            tx.record(FileChanged(chunk=chunk.number, change=change, staged=staged.tmp))
        except BaseException:
            self.ws.discard(staged)
            raise
        self.ws.commit(staged)
        self._forget_packages(rel)
        return chunk.number, change

    def _roll_forward(self, records: Sequence[Record]) -> None:
        """Finish the staged writes and the deletes that records read from disk name and a crash left undone."""
        for rec in records:
            event = rec.event
            if not isinstance(event, FileChanged):
                continue
            if event.staged and self.ws.roll_forward(event.change.path, event.staged):
                log.warning("finished a write a crash interrupted: %s", event.change.path)
            if event.unlinks and self.ws.delete(event.change.path, event.unlinks):
                self._forget_packages(event.change.path)
                log.warning("finished a delete a crash interrupted: %s", event.change.path)

    def write_file(self, story: str, path: str, content: str) -> WriteResult:
        data = _utf8(content, "content")
        self._check_size(data)
        st = self.story(story)
        loc, decision = self._allowed(path, st)
        with st.store.transaction() as tx:
            ensure(tx.state, "write")
            self._check_content(loc.rel, self._old_text(loc.rel), content)
            number, change = self._write_recorded(tx, loc.rel, data)
            return WriteResult(
                story=st.id,
                chunk=number,
                change=change,
                bytes=len(data),
                rule=decision.rule,
                next_step=_next_step(tx.state),
            )

    def edit_file(self, story: str, path: str, edits: Sequence[Edit], dry_run: bool = False) -> EditResult:
        if not edits:
            raise InputError("edits must contain at least one {old_text, new_text} pair")
        st = self.story(story)
        loc, _ = self._allowed(path, st)
        with st.store.transaction() as tx:
            if not dry_run:
                ensure(tx.state, "write")
            data = self.ws.read_bytes(loc.rel, cap=self.policy.limits.max_file_bytes)
            before = decode_text(loc.rel, data)
            after = before
            for index, edit in enumerate(edits, start=1):
                count = after.count(edit.old_text)
                if count == 0:
                    raise InputError(
                        f"edit {index}: old_text was not found in {loc.rel} (after the edits before it); "
                        "read_file the current text and copy it exactly. Nothing was written."
                    )
                if count > 1:
                    raise InputError(
                        f"edit {index}: old_text occurs {count} times in {loc.rel}; include more surrounding "
                        "lines so it matches exactly once. Nothing was written."
                    )
                after = after.replace(edit.old_text, edit.new_text, 1)
            new_data = _utf8(after, "the edited text")
            self._check_size(new_data)
            self._check_content(loc.rel, before, after)
            import difflib  # only edits need it

            diff = "".join(
                difflib.unified_diff(
                    before.splitlines(keepends=True),
                    after.splitlines(keepends=True),
                    fromfile=f"a/{loc.rel}",
                    tofile=f"b/{loc.rel}",
                )
            )
            number: int | None = None
            if not dry_run and after != before:
                number, _ = self._write_recorded(tx, loc.rel, new_data, kind="modified")
            return EditResult(
                story=st.id,
                path=loc.rel,
                diff=diff,
                applied=not dry_run and after != before,
                chunk=number,
                sha256=_sha(new_data),
                next_step=_next_step(tx.state),
            )

    def delete_file(self, story: str, path: str) -> WriteResult:
        st = self.story(story)
        loc, decision = self._allowed(path, st)
        with st.store.transaction() as tx:
            ensure(tx.state, "write")
            if self.ws.exists(loc.rel):
                self._check_content(loc.rel, self._old_text(loc.rel), None)
            # write-ahead, like writes: record the delete (with the file's identity), then unlink; a kill in
            # between leaves a record the next transaction finishes (`_roll_forward`), never an unrecorded delete
            identity = self.ws.identity(loc.rel)
            change = FileChange(path=loc.rel, kind="deleted")
            chunk = tx.state.current
            assert chunk is not None
            tx.record(FileChanged(chunk=chunk.number, change=change, unlinks=identity))
            number = chunk.number
            self.ws.delete(loc.rel, identity)
            self._forget_packages(loc.rel)
            return WriteResult(
                story=st.id,
                chunk=number,
                change=change,
                bytes=0,
                rule=decision.rule,
                next_step=_next_step(tx.state),
            )

    # --- the chunk gate ---------------------------------------------------------------------------------

    def _maybe_close(self, tx: Transaction) -> bool:
        chunk = tx.state.current
        if chunk is None or not chunk.ready_to_close:
            return False
        late_files = chunk.changes[chunk.changes_at_log :]
        late_runs = chunk.runs[chunk.runs_at_log :]
        late_unchecked = [u for u in chunk.unchecked if u not in chunk.unchecked_at_log]
        addendum = ""
        if late_files or late_runs or late_unchecked:
            addendum = logbook.render_chunk_addendum(
                number=chunk.number, name=chunk.name, files=late_files, commands=late_runs, unchecked=late_unchecked
            )
        tx.record(ChunkClosed(chunk=chunk.number, log_append=addendum))
        return True

    async def run_typecheck(self, story: str, progress: Progress | None = None) -> TypecheckResult:
        # the journal's lock may be held by another server for a while: wait for it (and read the disk) in a
        # worker thread, never on the event loop that serves every other session
        plan = await anyio.to_thread.run_sync(self._typecheck_plan, story)
        settings = self.policy.typecheck
        runs: list[CommandRun] = []
        if self._run_command is None:
            # imported on first use: the subprocess machinery is not needed to start serving
            from storyfence.adapters.typecheck import run_command

            self._run_command = run_command
        for command in plan.commands:
            runs.append(
                await self._run_command(
                    command.argv,
                    package=command.package,
                    package_dir=command.diagnostics_dir,
                    package_dirs=plan.package_dirs,
                    cwd=self.root,
                    timeout=settings.timeout_seconds,
                    output_cap=settings.output_cap_bytes,
                    progress=progress,
                )
            )
        return await anyio.to_thread.run_sync(self._typecheck_record, plan, runs)

    def _typecheck_plan(self, story: str) -> _TypecheckPlan:
        """Under the lock: the open chunk, and the check commands its files need."""
        st = self.story(story)
        settings = self.policy.typecheck
        with st.store.transaction() as tx:
            ensure(tx.state, "run_typecheck")
            chunk = tx.state.current
            assert chunk is not None
            snapshot = (chunk.number, len(chunk.changes))
        # imported on first use: the subprocess machinery is not needed to start serving
        from storyfence.adapters.checks import Checks

        checks = Checks(self.root, settings)
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
        return _TypecheckPlan(st, snapshot, commands, covered.unchecked, package_dirs)

    def _typecheck_record(self, plan: _TypecheckPlan, runs: list[CommandRun]) -> TypecheckResult:
        """Under the lock again: record the runs on the chunk they were planned for, close or block it."""
        st, snapshot, unchecked = plan.story, plan.snapshot, plan.unchecked
        settings = self.policy.typecheck
        with st.store.transaction() as tx:
            ensure(tx.state, "run_typecheck")
            current = tx.state.current
            if current is None or (current.number, len(current.changes)) != snapshot:
                raise WorkflowError(
                    "files of this chunk changed while the typecheck ran (another client or server): "
                    "call run_typecheck again."
                )
            outcome = checks_core.outcome(runs, unchecked)
            failure_block = ""
            if outcome == "failed":
                failing = next(r for r in runs if r.outcome == "failed")
                failure_block = logbook.render_typecheck_failure(
                    number=current.number,
                    name=current.name,
                    attempt=current.failures,  # 0: the first failure since the last pass; then fix attempts
                    max_attempts=settings.max_fix_attempts,
                    run=failing,
                    run_number=len(current.runs) + runs.index(failing) + 1,  # the chunk's Nth command
                )
            tx.record(
                TypecheckRan(
                    chunk=current.number,
                    runs=tuple(runs),
                    unchecked=tuple(u.path for u in unchecked),
                    unchecked_files=unchecked,
                    outcome=outcome,  # type: ignore[arg-type]
                    log_append=failure_block,
                )
            )
            chunk = tx.state.current
            assert chunk is not None
            signal = ""
            closed = False
            if outcome == "failed" and should_block(chunk, settings.max_fix_attempts):
                reason = (
                    f"typecheck still failing after {chunk.failed_fix_attempts} fix attempts in chunk "
                    f"{chunk.number} ({chunk.name})"
                )
                blockers = logbook.render_blockers(
                    story_id=st.id,
                    reason=reason,
                    details="The fast-fail gate stopped the story: the same chunk failed its typecheck after "
                    f"{settings.max_fix_attempts} fix attempts.",
                    chunk=chunk.number,
                    chunk_name=chunk.name,
                    commands=chunk.runs,
                    at=now_iso(),
                )
                tx.record(
                    StoryBlocked(
                        chunk=chunk.number,
                        reason=reason,
                        details="fast-fail: max_fix_attempts reached",
                        by="fast-fail",
                        blockers=blockers,
                        log_append=logbook.render_blocked_note(reason),
                    )
                )
                signal = f"BLOCKED: {reason}"
            elif outcome in ("passed", "not_needed"):
                closed = self._maybe_close(tx)
            message = self._typecheck_message(outcome, runs, unchecked, chunk, settings.max_fix_attempts)
            return TypecheckResult(
                story=st.id,
                chunk=chunk.number,
                outcome=outcome,  # type: ignore[arg-type]
                runs=runs,
                unchecked=[u.path for u in unchecked],
                unchecked_files=list(unchecked),
                failed_fix_attempts=chunk.failed_fix_attempts,
                max_fix_attempts=settings.max_fix_attempts,
                chunk_closed=closed,
                signal=signal,
                message=signal or message,
                next_step=_next_step(tx.state),
            )

    @staticmethod
    def _typecheck_message(
        outcome: str, runs: list[CommandRun], unchecked: Sequence[UncheckedFile], chunk: Chunk, max_fix: int
    ) -> str:
        cmds = ", ".join(f"`{r.display}`" for r in runs) or "no command"
        note = "".join(f" Not type-checked: {u.path} ({u.reason})." for u in unchecked)
        if outcome == "passed":
            return f"typecheck passed: {cmds}.{note}"
        if outcome == "not_needed":
            return f"no changed file needs a typecheck; nothing to run.{note}"
        if outcome == "unchecked":
            return f"the chunk cannot close: {checks_core.unchecked_advice(unchecked)}. Commands run: {cmds}.{note}"
        if outcome == "tooling_error":
            notes = "; ".join(r.note for r in runs if r.outcome in ("tooling_error", "timeout"))
            return f"the typecheck could not run (tooling, not type errors; not a fix attempt): {notes}"
        left = max_fix - chunk.failed_fix_attempts
        count = sum(len([d for d in r.diagnostics if d.severity == "error"]) for r in runs)
        return (
            f"typecheck failed with {count} type error(s); logged under chunk {chunk.number} in BACKEND-LOG.md. "
            f"Fix them ({left} fix attempt(s) left before the story is BLOCKED), then call run_typecheck."
        )

    def append_chunk_log(
        self, story: str, summary: str, reuse: Reuse, ports_adapters: PortsAdapters, notes_risks: str
    ) -> LogResult:
        st = self.story(story)
        summary = _required(summary, "summary")
        notes = _required(notes_risks, "notes_risks")
        for what, value in (*reuse.model_dump().items(), *ports_adapters.model_dump().items()):
            _required(value, what)
        with st.store.transaction() as tx:
            ensure(tx.state, "append_chunk_log")
            chunk = tx.state.current
            assert chunk is not None
            section = logbook.render_chunk_section(
                number=chunk.number,
                name=chunk.name,
                objective=chunk.objective,
                files=chunk.changes,
                summary=summary,
                reuse=reuse,
                ports=ports_adapters,
                commands=chunk.runs,
                notes_risks=notes,
                unchecked=chunk.unchecked,
            )
            tx.record(
                ChunkLogged(
                    chunk=chunk.number,
                    summary=summary,
                    reuse=reuse,
                    ports_adapters=ports_adapters,
                    notes_risks=notes,
                    log_append=section,
                )
            )
            closed = self._maybe_close(tx)
            return LogResult(
                story=st.id,
                chunk=chunk.number,
                section=section,
                chunk_closed=closed,
                next_step=_next_step(tx.state),
            )

    def report_blocker(self, story: str, reason: str, details: str) -> SignalResult:
        st = self.story(story)
        reason = _one_line(reason, "reason", 200)
        details = _required(details, "details")
        with st.store.transaction() as tx:
            ensure(tx.state, "report_blocker")
            chunk = tx.state.current or (tx.state.chunks[-1] if tx.state.chunks else None)
            blockers = logbook.render_blockers(
                story_id=st.id,
                reason=reason,
                details=details,
                chunk=chunk.number if chunk else None,
                chunk_name=chunk.name if chunk else None,
                commands=chunk.runs if chunk else (),
                at=now_iso(),
            )
            tx.record(
                StoryBlocked(
                    chunk=chunk.number if chunk else None,
                    reason=reason,
                    details=details,
                    by="model",
                    blockers=blockers,
                    log_append=logbook.render_blocked_note(reason),
                )
            )
            return SignalResult(story=st.id, signal=f"BLOCKED: {reason}", path=st.path("BLOCKERS.md"))

    def complete_story(self, story: str) -> SignalResult:
        st = self.story(story)
        with st.store.transaction() as tx:
            ensure(tx.state, "complete_story")
            text = logbook.render_completion(story_id=st.id, chunks=tx.state.closed_chunks, at=now_iso())
            tx.record(StoryCompleted(chunks=tx.state.closed_chunks, log_append=text))
            return SignalResult(story=st.id, signal="BACKEND COMPLETE", path=st.path("BACKEND-LOG.md"))
