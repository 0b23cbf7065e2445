"""The boundary scan: at every chunk boundary (begin_chunk, run_typecheck, append_chunk_log, complete_story)
the working tree is held against the journal, and what changed without the server is recorded and judged.

git lists what differs from the story's base commit (what git ignores and the server's own files are left
out); the content of those paths and of the paths the story recorded is hashed; the core decides which are
outside changes (core.outside) and judges each like a write.
"""

from __future__ import annotations

from storyfence.adapters import git
from storyfence.adapters.store import Transaction
from storyfence.app.repo import Repo, Story
from storyfence.core import outside, steps
from storyfence.core.errors import InputError, WorkflowError
from storyfence.core.events import ChunkOpened, DirtyFile, Event, FileObserved, StrayCleared
from storyfence.core.fence import Bounds
from storyfence.core.inputs import decode_text
from storyfence.core.story_paths import is_server_owned


def story_start(events: list[Event]) -> tuple[str | None, dict[str, DirtyFile]]:
    """The story's base commit and its baseline of uncommitted files, from its first chunk."""
    for event in events:
        if isinstance(event, ChunkOpened):
            return event.base_commit, {d.path: d for d in event.baseline or ()}
    return None, {}


class Observer:
    def __init__(self, repo: Repo) -> None:
        self.repo = repo

    def scan(self, story: Story, tx: Transaction, bounds: Bounds) -> list[FileObserved | StrayCleared]:
        """The outside changes since the last boundary, judged; [] outside git (nothing to hold the tree against)."""
        state = tx.state
        if not state.chunks:
            return []
        root = self.repo.root
        base, baseline = story_start([r.event for r in tx.records])
        changed = git.changed_since(root, base) if git.is_work_tree(root) else None
        if changed is None:
            if git.is_work_tree(root):
                raise WorkflowError(
                    "git could not list the working tree's changes, so changes made outside storyfence cannot be "
                    "checked: the chunk boundary is refused (fix git, then call again)"
                )
            return []
        changed = {p: k for p, k in changed.items() if not is_server_owned(p)}
        paths = outside.candidates(state, baseline, changed)
        disk = {p: git.file_sha256(root / p) for p in paths}
        seen, undone = outside.outside_changes(state, baseline, changed, disk)
        chunk = state.current
        judged: list[FileObserved | StrayCleared] = []
        for change in seen:
            old = git.show_file(root, base, change.path, cap=self.repo.cap) if base else None
            judged.append(
                outside.judge(
                    bounds,
                    change,
                    chunk.number if chunk else None,
                    old_text=self._text(change.path, old),
                    new_text=self._current_text(change.path) if change.sha256 else None,
                )
            )
        judged += outside.undone_events(undone)
        return judged

    def record(self, story: Story, tx: Transaction, bounds: Bounds) -> list[FileObserved | StrayCleared]:
        """Scan and record what was found (allowed changes join the open chunk, refused ones become strays);
        nothing without an open chunk to take the changes in."""
        if tx.state.current is None or tx.state.status != "open":
            return []
        found = self.scan(story, tx, bounds)
        if found:
            tx.record(steps.observed(tx.state, found))
        return found

    def _current_text(self, rel: str) -> str | None:
        try:
            return self.repo.read_text(rel)
        except InputError:
            return None

    @staticmethod
    def _text(rel: str, data: bytes | None) -> str | None:
        if data is None:
            return None
        try:
            return decode_text(rel, data)
        except InputError:
            return None
