"""The application service: everything the tools do, without MCP, for one repo root and one policy.

It only assembles the use cases, each in its own module: the story tools (`stories`), the read tools
(`reads`), the write tools (`writes`) and the typecheck gate (`gate`), over one shared `Repo`. They are
imported and built on the first call that needs one: a server answers the handshake and tools/list without
loading the journal, the workflow or the result models.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, cast

from storyfence.adapters.ports import Progress, RunCommand
from storyfence.adapters.search import Searcher
from storyfence.app.repo import Repo
from storyfence.core.policy import Policy

if TYPE_CHECKING:
    from storyfence.app.gate import Gate
    from storyfence.app.reads import Reads
    from storyfence.app.repo import Story
    from storyfence.app.results import (
        EditResult,
        FileContent,
        FileList,
        LogResult,
        PathDecision,
        RestoreResult,
        SearchResult,
        SignalResult,
        StatusView,
        StoryView,
        TypecheckResult,
        WriteResult,
    )
    from storyfence.app.stories import Stories
    from storyfence.app.writes import Edit, Writes
    from storyfence.core.models import PortsAdapters, Reuse

T = TypeVar("T")


class StoryfenceService:
    """Construct with a root and a policy; `run_command` replaces the real typecheck runner (tests)."""

    def __init__(
        self,
        root: Path,
        policy: Policy,
        *,
        policy_paths: Sequence[Path] = (),
        run_command: RunCommand | None = None,
        use_ripgrep: bool = True,
    ) -> None:
        self.repo = Repo(root, policy, policy_paths=policy_paths)
        self.root = self.repo.root
        self.policy = policy
        self.searcher = Searcher(self.repo.root, use_ripgrep=use_ripgrep)
        self._run_command = run_command
        self._building = threading.Lock()  # tool calls run on worker threads: each use case is built once
        self._cases: dict[str, object] = {}

    # --- the use cases, built on first use ------------------------------------------------------------------

    def _once(self, name: str, build: Callable[[], T]) -> T:
        with self._building:
            if name not in self._cases:
                self._cases[name] = build()
            return cast("T", self._cases[name])

    @property
    def stories(self) -> Stories:
        from storyfence.app.stories import Stories

        return self._once("stories", lambda: Stories(self.repo))

    @property
    def writes(self) -> Writes:
        from storyfence.app.writes import Writes

        return self._once("writes", lambda: Writes(self.repo))

    @property
    def reads(self) -> Reads:
        from storyfence.app.reads import Reads

        return self._once("reads", lambda: Reads(self.repo, searcher=self.searcher))

    @property
    def gate(self) -> Gate:
        from storyfence.app.gate import Gate

        return self._once("gate", lambda: Gate(self.repo, self._run_command))

    @gate.setter
    def gate(self, gate: Gate) -> None:
        """Swap the gate (another typecheck runner) for the calls from now on."""
        with self._building:
            self._cases["gate"] = gate

    def story(self, story_id: str) -> Story:
        return self.repo.story(story_id)

    # --- reads ----------------------------------------------------------------------------------------------

    def read_file(self, path: str, offset: int = 1, limit: int | None = None) -> FileContent:
        return self.reads.read_file(path, offset, limit)

    def list_files(self, path: str = ".", pattern: str | None = None, offset: int = 0) -> FileList:
        return self.reads.list_files(path, pattern, offset)

    def search_code(
        self, pattern: str, path: str = ".", glob: str | None = None, regex: bool = False, case_sensitive: bool = True
    ) -> SearchResult:
        return self.reads.search_code(pattern, path, glob, regex, case_sensitive)

    def check_path(self, path: str, story: str | None = None, content: str | None = None) -> PathDecision:
        return self.reads.check_path(path, story, content)

    def path_segments(self, typed: str) -> list[str]:
        return self.reads.path_segments(typed)

    def story_ids(self) -> list[str]:
        return self.reads.story_ids()

    def policy_document(self) -> str:
        return self.reads.policy_document()

    def story_document(self, story: str, document: str) -> str:
        return self.reads.story_document(story, document)

    # --- stories --------------------------------------------------------------------------------------------

    def read_story(self, story: str) -> StoryView:
        return self.stories.read_story(story)

    def story_status(self, story: str) -> StatusView:
        return self.stories.story_status(story)

    def policy_note(self) -> str:
        return self.stories.policy_note()

    def begin_chunk(self, story: str, name: str, objective: str) -> StatusView:
        return self.stories.begin_chunk(story, name, objective)

    def append_chunk_log(
        self, story: str, summary: str, reuse: Reuse, ports_adapters: PortsAdapters, notes_risks: str
    ) -> LogResult:
        return self.stories.append_chunk_log(story, summary, reuse, ports_adapters, notes_risks)

    def report_blocker(self, story: str, reason: str, details: str) -> SignalResult:
        return self.stories.report_blocker(story, reason, details)

    def complete_story(self, story: str) -> SignalResult:
        return self.stories.complete_story(story)

    # --- writes and the gate --------------------------------------------------------------------------------

    def write_file(self, story: str, path: str, content: str, *, wait: bool = True) -> WriteResult:
        """`wait=False`: raise WouldWait, with nothing done, instead of waiting for the story's lock."""
        return self.writes.write_file(story, path, content, wait=wait)

    def edit_file(
        self, story: str, path: str, edits: Sequence[Edit], dry_run: bool = False, *, wait: bool = True
    ) -> EditResult:
        return self.writes.edit_file(story, path, edits, dry_run, wait=wait)

    def delete_file(self, story: str, path: str) -> WriteResult:
        return self.writes.delete_file(story, path)

    def restore_file(self, story: str, path: str) -> RestoreResult:
        return self.writes.restore_file(story, path)

    async def run_typecheck(self, story: str, progress: Progress | None = None) -> TypecheckResult:
        return await self.gate.run_typecheck(story, progress)
