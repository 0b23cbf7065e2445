"""The write tools: write_file, edit_file, delete_file. Each goes down once: the workspace confines the
path and reads the file as it is, the core fences the path, the workflow and the change, and the story's
store stages, records and renames (or records and unlinks), all under the story's lock."""

from __future__ import annotations

import difflib
import hashlib
import uuid
from collections.abc import Generator, Sequence
from contextlib import contextmanager

from pydantic import BaseModel, Field

from storyfence.adapters.store import Transaction
from storyfence.adapters.workspace import Workspace
from storyfence.app.observe import story_start
from storyfence.app.repo import Repo
from storyfence.app.results import EditResult, RestoreResult, WriteResult
from storyfence.core import outside, steps
from storyfence.core.errors import InputError, Refused
from storyfence.core.events import FileChanged
from storyfence.core.fence import admit, allowed_change, allowed_path
from storyfence.core.inputs import decode_text, utf8
from storyfence.core.models import FileChange
from storyfence.core.status import next_step
from storyfence.core.story_paths import temp_name
from storyfence.core.workflow import ensure


class Edit(BaseModel):
    """One exact replacement: `old_text` must occur exactly once in the file (after earlier edits)."""

    old_text: str = Field(min_length=1, description="exact text to replace; include enough lines to be unique")
    new_text: str = Field(description="the replacement text")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def apply_edits(rel: str, before: str, edits: Sequence[Edit]) -> str:
    """The text after every edit in order; an InputError when an edit's old text is missing or ambiguous."""
    after = before
    for index, edit in enumerate(edits, start=1):
        count = after.count(edit.old_text)
        if count == 0:
            raise InputError(
                f"edit {index}: old_text was not found in {rel} (after the edits before it); "
                "read_file the current text and copy it exactly. Nothing was written."
            )
        if count > 1:
            raise InputError(
                f"edit {index}: old_text occurs {count} times in {rel}; include more surrounding "
                "lines so it matches exactly once. Nothing was written."
            )
        after = after.replace(edit.old_text, edit.new_text, 1)
    return after


class Writes:
    """write_file, edit_file and delete_file of one repo."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self.ws: Workspace = repo.ws

    @staticmethod
    @contextmanager
    def _evidence(tx: Transaction, tool: str) -> Generator[None, None, None]:
        """Record a refusal in the journal before it reaches the model: what the agent tried is evidence."""
        try:
            yield
        except Refused as exc:
            tx.record(steps.refused(tx.state, tool=tool, path=exc.decision.path, rule=exc.decision.rule))
            raise

    def restore_file(self, story: str, path: str) -> RestoreResult:
        """Put a refused outside change back as the story's base commit had it (delete a file it did not have)."""
        st = self.repo.story(story)
        with st.store.transaction() as tx:
            target = self.ws.target(path, cap=self.repo.cap)
            stray = next((s for s in tx.state.strays if s.change.path == target.rel), None)
            if stray is None:
                listed = ", ".join(s.change.path for s in tx.state.strays) or "none"
                raise InputError(
                    f"{target.rel} is not a refused change made outside storyfence (those are: {listed}): "
                    "nothing to restore"
                )
            base, baseline = story_start([r.event for r in tx.records])
            if target.rel in outside.recorded(tx.state) or target.rel in baseline or base is None:
                raise InputError(
                    f"{target.rel} cannot be restored by the server: its content before the outside change is not "
                    "in git (the story wrote it, or it was uncommitted when the story began). Rewrite it with "
                    "write_file or edit_file within the rules, or undo the change by hand."
                )
            content = self.repo.base_content(base, target.rel)
            if content is not None:
                tmp = temp_name(target.rel, uuid.uuid4().hex[:12])
                step = steps.restore(tx.state, stray, staged=tmp, unlinks=None)
                tx.write(step, target.rel, content, tmp, before=target.data)
                restored = "as at the base commit"
            elif target.exists:
                identity = self.repo.files.identity(target.rel)
                tx.delete(steps.restore(tx.state, stray, staged=None, unlinks=identity), target.rel, identity)
                restored = "deleted (the base commit did not have it)"
            else:
                tx.record(steps.restore(tx.state, stray, staged=None, unlinks=None))
                restored = "already gone"
            self.repo.forget_packages(target.rel)
            return RestoreResult(story=st.id, path=target.rel, restored=restored, next_step=next_step(tx.state))

    def _check_size(self, data: bytes) -> None:
        if len(data) > self.repo.cap:
            raise InputError(f"content is {len(data):,} bytes, over the {self.repo.cap:,}-byte cap for one file")

    def write_file(self, story: str, path: str, content: str, *, wait: bool = True) -> WriteResult:
        """`wait=False`: WouldWait, with nothing done, when the story's lock is held (see StoryStore.transaction)."""
        data = utf8(content, "content")
        self._check_size(data)
        st = self.repo.story(story)
        bounds = self.repo.bounds(st)
        with st.store.transaction(wait=wait) as tx, self._evidence(tx, "write_file"):
            target = self.ws.target(path, cap=self.repo.cap)
            tmp = temp_name(target.rel, uuid.uuid4().hex[:12])
            change = FileChange(path=target.rel, kind="modified" if target.exists else "created", sha256=sha256(data))
            admitted = admit(bounds, tx.state, change, old_text=target.text, new_text=content, staged=tmp)
            tx.write(admitted.step, target.rel, data, tmp, before=target.data)
            self.repo.forget_packages(target.rel)
            return WriteResult(
                story=st.id,
                chunk=change_chunk(admitted.step),
                change=change,
                bytes=len(data),
                rule=admitted.decision.rule,
                next_step=next_step(tx.state),
            )

    def edit_file(
        self, story: str, path: str, edits: Sequence[Edit], dry_run: bool = False, *, wait: bool = True
    ) -> EditResult:
        if not edits:
            raise InputError("edits must contain at least one {old_text, new_text} pair")
        st = self.repo.story(story)
        bounds = self.repo.bounds(st)
        with st.store.transaction(wait=wait) as tx, self._evidence(tx, "edit_file"):
            target = self.ws.target(path, cap=self.repo.cap)
            allowed_path(bounds, target.rel)
            if not dry_run:
                ensure(tx.state, "write")  # the workflow allows a write before the file is looked at
            if target.data is None:
                assert target.unreadable is not None
                raise target.unreadable
            before = decode_text(target.rel, target.data)
            after = apply_edits(target.rel, before, edits)
            new_data = utf8(after, "the edited text")
            self._check_size(new_data)
            allowed_change(bounds, target.rel, before, after)
            diff = "".join(
                difflib.unified_diff(
                    before.splitlines(keepends=True),
                    after.splitlines(keepends=True),
                    fromfile=f"a/{target.rel}",
                    tofile=f"b/{target.rel}",
                )
            )
            applied = not dry_run and after != before
            number: int | None = None
            if applied:
                tmp = temp_name(target.rel, uuid.uuid4().hex[:12])
                change = FileChange(path=target.rel, kind="modified", sha256=sha256(new_data))
                step = steps.write(tx.state, change, staged=tmp)
                tx.write(step, target.rel, new_data, tmp, before=target.data)
                self.repo.forget_packages(target.rel)
                number = change_chunk(step)
            return EditResult(
                story=st.id,
                path=target.rel,
                diff=diff,
                applied=applied,
                chunk=number,
                sha256=sha256(new_data),
                next_step=next_step(tx.state),
            )

    def delete_file(self, story: str, path: str) -> WriteResult:
        st = self.repo.story(story)
        bounds = self.repo.bounds(st)
        with st.store.transaction() as tx, self._evidence(tx, "delete_file"):
            target = self.ws.target(path, cap=self.repo.cap)
            decision = allowed_path(bounds, target.rel)
            change = FileChange(path=target.rel, kind="deleted")
            ensure(tx.state, "write")  # the workflow allows a write before the file is looked at
            if target.exists:
                allowed_change(bounds, target.rel, target.text, None)
            identity = self.repo.files.identity(target.rel)
            step = steps.write(tx.state, change, unlinks=identity)
            tx.delete(step, target.rel, identity)
            self.repo.forget_packages(target.rel)
            return WriteResult(
                story=st.id,
                chunk=change_chunk(step),
                change=change,
                bytes=0,
                rule=decision.rule,
                next_step=next_step(tx.state),
            )


def change_chunk(step: steps.Step) -> int:
    """The chunk a write step recorded its file change in."""
    event = step.events[0]
    assert isinstance(event, FileChanged)
    return event.chunk
