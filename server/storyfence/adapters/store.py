"""The story journal on disk: an append-only JSONL file, fsynced per record, under an exclusive file lock.

Two servers on one story serialise through the lock; every transaction re-reads the journal, so no
server acts on a stale state. The store owns the story's files and the write-ahead protocol: it records
the steps the core decided, writes server-owned text (BACKEND-LOG.md, BLOCKERS.md) from the journal, and
finishes on the next transaction what a crash interrupted (a staged write not yet renamed, a recorded
delete not yet done, text not yet written). It reaches the repo's files only through the `StoryFiles` port.

A small write costs one sync: its journal lines and its content go to the write-ahead segment
(`adapters/segment.py`), then the journal line is appended and the file renamed into place unsynced; a
checkpoint makes them durable, and a crash is repaired from the segment (`_replay`). A large write, and the
server's own text, use a temp file announced first in `.storyfence/staged` (one JSON line, synced) and
synced itself; a kill between staging and renaming leaves that temp file beside its target, and the next
transaction removes the announced temp files no journal record refers to, then empties the list.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import time
import uuid
from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from storyfence.adapters import journal_file
from storyfence.adapters.durable import sync_data, write_all
from storyfence.adapters.ports import StoryFiles
from storyfence.adapters.recovery import announce, checkpoint, clean_staged, replay, texts_missing
from storyfence.adapters.segment import CHECKPOINT_BYTES, INLINE_MAX, Entry, Op, Segment, boot_id
from storyfence.adapters.verified import JournalView
from storyfence.core.errors import WorkflowError, WouldWait
from storyfence.core.events import Event, FileChanged, StoryBlocked, StrayCleared
from storyfence.core.journal import Record, decode, sealed_chain
from storyfence.core.steps import Step
from storyfence.core.story_paths import WORKING_FILES, StoryPaths, temp_name
from storyfence.core.workflow import StoryState, apply

LOCK_TIMEOUT_SECONDS = 30.0
log = logging.getLogger("storyfence")


def new_temp_name(rel: str) -> str:
    """A fresh temp name for a file staged beside `rel`."""
    return temp_name(rel, uuid.uuid4().hex[:12])


def now_iso() -> str:
    """Now in UTC to the millisecond, as `2026-12-02T16:18:20.516Z`."""
    seconds, nanos = divmod(time.time_ns(), 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos // 1_000_000:03d}Z"


@dataclass
class Transaction:
    """An open, locked view of one story's journal. Each method records before it returns, synced."""

    store: StoryStore
    records: list[Record]
    state: StoryState
    _fd: int = field(repr=False)
    offset: int = 0
    last_line: bytes = b""

    def record(self, step: Step) -> None:
        """Append the step's events (one sync for all of them), then write the text they add. A record that is
        not a small write is a checkpoint: what the write-ahead segment holds is made durable first."""
        self._append(step, ())

    def _append(self, step: Step, ops: tuple[Op, ...]) -> None:
        if step.before is not self.state:
            raise RuntimeError("a step must be decided on this transaction's current state")
        sealed = sealed_chain(self.records[-1] if self.records else None, step.events, now_iso())
        fresh = [record for record, _ in sealed]
        lines = [line.encode("utf-8") for _, line in sealed]
        data = b"".join(lines)
        if ops:
            entry = Entry(at=self.offset, lines=data, ops=ops, boot=boot_id())
            self.store.segment.append(entry)  # the commit point
        write_all(self._fd, data)
        if not ops:
            sync_data(self._fd)
        self.records.extend(fresh)
        self.offset += len(data)
        self.last_line = lines[-1] if lines else self.last_line
        self.state = step.state
        if any(_writes_text(e) for e in step.events):
            self.store.reconcile(self.records, self.state)
        if not ops:
            self.store.checkpoint(self._fd)

    def _carried_done(self, at: int) -> None:
        """The carried write or delete at `at` is in place: mark it done, then checkpoint a full segment (never in
        `_append`: that would sync the file before it is written and clear the segment under its done line)."""
        if self.store.segment.mark_done(at) > CHECKPOINT_BYTES:
            self.store.checkpoint(self._fd)

    def _carried(self, step: Step, data: bytes) -> bool:
        """Whether the segment carries this write (small, and no server text to write with it)."""
        return len(data) <= INLINE_MAX and not any(_writes_text(e) for e in step.events)

    def write(self, step: Step, rel: str, data: bytes, tmp: str, *, before: bytes | None = None) -> None:
        """Write-ahead. A small write: check the target, record the write with its content in the segment
        (synced), append the journal line, write and rename (unsynced). A large one: stage `data` under `tmp`
        (announced first, synced), record the step, rename.

        `before` is the file's content when the write was decided (None: not there, or unknown): a crash
        repair rewrites the file only while it still holds that (or nothing), never over a later edit.
        """
        if self._carried(step, data):
            digest = hashlib.sha256(before).hexdigest() if before is not None else None
            at = self.offset
            with self.store.files.writable(rel) as folder:
                self._append(step, (Op(path=rel, tmp=tmp, data=data, before=digest, existed=folder.existed),))
                folder.replace(data, tmp)
            self._carried_done(at)
            return
        self.store.note_staged(rel, tmp)
        staged = self.store.files.stage(rel, data, tmp)
        try:
            self.record(step)
        except BaseException:
            self.store.files.discard(staged)
            raise
        self.store.files.commit(staged)

    def delete(self, step: Step, rel: str, identity: str) -> None:
        """Write-ahead, like writes: record the delete (with the file's identity) in the segment, then unlink; a
        kill in between leaves a record the next transaction finishes, never an unrecorded delete."""
        if self._carried(step, b""):
            at = self.offset
            self._append(step, (Op(path=rel, unlinks=identity),))
            self.store.files.delete(rel, identity, durable=False)
            self._carried_done(at)
            return
        self.record(step)
        self.store.files.delete(rel, identity)


def _write_ahead(event: Event) -> tuple[str, str | None, str | None] | None:
    """The path, temp file and unlinked identity of an event that writes or deletes a repo file right after
    it is recorded (a write, a delete, a restore); None for any other event."""
    if isinstance(event, FileChanged):
        return event.change.path, event.staged, event.unlinks
    if isinstance(event, StrayCleared):
        return event.path, event.staged, event.unlinks
    return None


def _writes_text(event: Event) -> bool:
    # read from the model's fields: getattr of a field an event lacks takes pydantic's slow __getattr__ path
    return isinstance(event, StoryBlocked) or bool(event.__dict__.get("log_append"))


class StoryStore:
    """The journal, lock and server-owned files of one story's _implementation folder."""

    def __init__(self, root: Path, paths: StoryPaths, files: StoryFiles) -> None:
        self.paths = paths
        self.story_id = paths.id
        self.files = files
        self.dir = root / paths.server_dir
        self.journal = root / paths.journal
        self.lock = root / paths.lock
        self.staged = root / paths.staged  # temp files announced before they were created
        self.segment = Segment(root / paths.wal)
        self.log_path = root / paths.log
        self.blockers_path = root / paths.blockers
        self.view = JournalView(self.journal)  # what this process verified of the journal
        self._ignore = root / paths.ignore
        self._ignore_there = False

    def read_state(self) -> tuple[list[Record], StoryState]:
        """The records and the state, read without the lock (see `state`)."""
        records, state = self.view.read(records=True)
        assert records is not None
        return list(records), state

    def state(self) -> StoryState:
        """The story's state, read without the lock (read-only tools); a torn tail is ignored, never repaired
        here. Only what was appended since this process last verified the journal is decoded (in a new process:
        since the saved head, see adapters/journal_head.py), and nothing is copied: a status costs the same at 20
        records as at 2,000."""
        return self.view.read(records=False)[1]

    @contextmanager
    def transaction(self, *, wait: bool = True) -> Generator[Transaction, None, None]:
        """The story locked, its journal verified. `wait=False`: raise WouldWait at once, before anything is
        done, when another transaction holds the lock (the caller runs it again where it may wait)."""
        lock_fd = self._open_lock()
        try:
            self._acquire(lock_fd, wait=wait)
            fd = os.open(self.journal, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
            tx: Transaction | None = None
            try:
                tx = self._open(fd)
                yield tx
                self.view.settle(fd, tx.offset, tx.last_line, tx.records, tx.state)
            except BaseException:
                # what was appended is durable, but read it back next time rather than trust this view
                self.view.forget()
                self.segment.forget()  # and check what the segment holds against the disk
                raise
            finally:
                os.close(fd)
        finally:
            fcntl.flock(lock_fd, fcntl.LOCK_UN)
            os.close(lock_fd)

    def _open(self, fd: int) -> Transaction:
        """Verify the journal under the lock: only the appended tail when this process has read the head."""
        if self.segment.needs_repair():
            self._replay(fd)
        cache = self.view.resume(fd)
        start, state = (cache.offset, cache.state) if cache is not None else (0, StoryState())
        last_line, finished = (cache.last_line, cache.finished) if cache is not None else (b"", False)
        records = list(cache.records) if cache is not None and cache.records is not None else []
        raw = journal_file.read_from(fd, start)
        previous = records[-1] if records else None
        fresh, good = decode(journal_file.complete_lines(raw, self.journal), str(self.journal), previous=previous)
        if good != len(raw):
            os.ftruncate(fd, start + good)  # drop a torn, never-acknowledged tail
            sync_data(fd)
        for rec in fresh:
            state = apply(state, rec.event)
        records.extend(fresh)
        # what the transactions before this one left (they all rolled forward first)
        self._roll_forward(fresh if finished else records)
        self._clean_staged(records)
        if fresh:
            last_line = journal_file.last_line(raw[:good])
        os.lseek(fd, 0, os.SEEK_END)
        if not finished or any(_writes_text(r.event) for r in fresh):
            self.reconcile(records, state)  # repair text a crash (or another server) left unwritten
        return Transaction(store=self, records=records, state=state, _fd=fd, offset=start + good, last_line=last_line)

    def _replay(self, fd: int) -> None:
        """Finish what the write-ahead segment holds (see adapters/recovery.py), then checkpoint."""
        replay(self.segment, self.files, fd, self.journal, self.note_staged)
        self.checkpoint(fd)

    def checkpoint(self, fd: int) -> None:
        """Make what the segment holds durable (the journal, each file it wrote or deleted, their folders), then
        empty it. Nothing to do when it is empty."""
        checkpoint(self.segment, self.files, fd)

    def _open_lock(self) -> int:
        """The lock file, opened (made with its folder and the folder's .gitignore by a first transaction, or when
        the folder was removed since)."""
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        if self._ignore_there:
            with contextlib.suppress(FileNotFoundError):  # else the folder was removed since: made again below
                return os.open(self.lock, flags, 0o644)
        self.dir.mkdir(mode=0o755, exist_ok=True)
        self._write_ignore()
        return os.open(self.lock, flags, 0o644)

    def _write_ignore(self) -> None:
        """A .gitignore beside the journal naming the server's working files (created once, never followed
        through a link, left as it is when there)."""
        text = "# storyfence's working files; journal.jsonl is the story's record and is committed\n"
        text += "".join(f"{name}\n" for name in WORKING_FILES)
        try:
            fd = os.open(self._ignore, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except FileExistsError:
            self._ignore_there = True
            return
        try:
            write_all(fd, text.encode("utf-8"))
        finally:
            os.close(fd)
        self._ignore_there = True

    def note_staged(self, rel: str, tmp: str) -> None:
        """Announce a temp file before it is created (see adapters/recovery.announce)."""
        announce(self.staged, rel, tmp)

    def _clean_staged(self, records: list[Record]) -> None:
        """Remove the announced temp files a kill left that no journal record refers to, then empty the list."""

        def referenced() -> set[tuple[str, str]]:
            return {(t[0], t[1]) for r in records if (t := _write_ahead(r.event)) is not None and t[1]}

        clean_staged(self.staged, self.files, referenced)

    def reconcile(self, records: list[Record], state: StoryState) -> None:
        """Make BACKEND-LOG.md and BLOCKERS.md hold everything the journal says was written."""
        blocked = [r.event for r in records if isinstance(r.event, StoryBlocked)]
        want = blocked[-1].blockers if blocked else None
        for rel, text in texts_missing(self.story_id, self.log_path, self.blockers_path, state.log_appends, want):
            self._write_text(self.paths.log if rel == "log" else self.paths.blockers, text)

    def _roll_forward(self, records: list[Record]) -> None:
        """Finish the staged write or the delete a crash left undone. Only the last one read can be: every
        transaction rolls forward before it appends, and makes one write or delete at most, so one before the
        last was finished by the transaction that came after it (this keeps a first open flat in the journal's
        length)."""
        for rec in reversed(records):
            target = _write_ahead(rec.event)
            if target is None:
                continue
            path, staged, unlinks = target
            if staged and self.files.roll_forward(path, staged):
                log.warning("finished a write a crash interrupted: %s", path)
            if unlinks and self.files.delete(path, unlinks):
                log.warning("finished a delete a crash interrupted: %s", path)
            return

    def _write_text(self, rel: str, text: str) -> None:
        """Write a server-owned file atomically, its temp file announced like every staged write."""
        tmp = new_temp_name(rel)
        self.note_staged(rel, tmp)
        self.files.write_atomic(rel, text.encode("utf-8"), tmp)

    def _acquire(self, lock_fd: int, *, wait: bool = True) -> None:
        deadline = time.monotonic() + LOCK_TIMEOUT_SECONDS
        while True:
            try:
                fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if not wait:
                    raise WouldWait from None
                if time.monotonic() > deadline:
                    raise WorkflowError(
                        f"story {self.story_id} is busy: another storyfence server holds its lock; try again"
                    ) from None
                time.sleep(0.005)  # another server's short transaction; bounded by the deadline
