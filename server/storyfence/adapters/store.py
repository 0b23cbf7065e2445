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

import fcntl
import hashlib
import json
import logging
import os
import time
import uuid
from collections import Counter
from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import cast

from storyfence.adapters.durable import sync_data
from storyfence.adapters.ports import StoryFiles
from storyfence.adapters.segment import CHECKPOINT_BYTES, INLINE_MAX, Entry, Op, Segment
from storyfence.core import logbook
from storyfence.core.errors import InputError, Refused, StateError, WorkflowError
from storyfence.core.events import Event, FileChanged, StoryBlocked, StrayCleared
from storyfence.core.journal import Record, chain, decode, encode
from storyfence.core.steps import Step
from storyfence.core.story_paths import StoryPaths, temp_name
from storyfence.core.workflow import StoryState, apply, derive

LOCK_TIMEOUT_SECONDS = 30.0
log = logging.getLogger("storyfence")


def new_temp_name(rel: str) -> str:
    """A fresh temp name for a file staged beside `rel`."""
    return temp_name(rel, uuid.uuid4().hex[:12])


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class _Verified:
    """What this process already read and verified of the journal: the next read starts at `offset`."""

    ino: int
    dev: int
    offset: int
    last_line: bytes  # re-read before trusting the cache: a rewrite of the file is noticed
    records: list[Record]
    state: StoryState


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
        fresh = chain(self.records[-1] if self.records else None, step.events, now_iso())
        lines = [encode(r).encode("utf-8") for r in fresh]
        data = b"".join(lines)
        if ops:
            self.store.segment.append(Entry(at=self.offset, lines=data, ops=ops))  # the commit point
        _write_all(self._fd, data)
        if not ops:
            sync_data(self._fd)
        self.records.extend(fresh)
        self.offset += len(data)
        self.last_line = lines[-1] if lines else self.last_line
        self.state = step.state
        if any(_writes_text(e) for e in step.events):
            self.store.reconcile(self.records, self.state)
        if not ops or self.store.segment.size() > CHECKPOINT_BYTES:
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
            existed = self.store.files.check_writable(rel)
            digest = hashlib.sha256(before).hexdigest() if before is not None else None
            self._append(step, (Op(path=rel, tmp=tmp, data=data, before=digest, existed=existed),))
            self.store.files.replace(rel, data, tmp)
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
            self._append(step, (Op(path=rel, unlinks=identity),))
            self.store.files.delete(rel, identity, durable=False)
            return
        self.record(step)
        self.store.files.delete(rel, identity)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _write_ahead(event: Event) -> tuple[str, str | None, str | None] | None:
    """The path, temp file and unlinked identity of an event that writes or deletes a repo file right after
    it is recorded (a write, a delete, a restore); None for any other event."""
    if isinstance(event, FileChanged):
        return event.change.path, event.staged, event.unlinks
    if isinstance(event, StrayCleared):
        return event.path, event.staged, event.unlinks
    return None


def _writes_text(event: Event) -> bool:
    return bool(getattr(event, "log_append", "")) or isinstance(event, StoryBlocked)


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
        self._verified: _Verified | None = None

    def read_state(self) -> tuple[list[Record], StoryState]:
        """Read without the lock (read-only tools); a torn tail is ignored, never repaired here."""
        try:
            raw = self.journal.read_bytes()
        except FileNotFoundError:
            return [], StoryState()
        records, _ = decode(_complete_lines(raw, self.journal), str(self.journal))
        return records, derive(r.event for r in records)

    @contextmanager
    def transaction(self) -> Generator[Transaction, None, None]:
        self.dir.mkdir(mode=0o755, exist_ok=True)
        lock_fd = os.open(self.lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        try:
            self._acquire(lock_fd)
            fd = os.open(self.journal, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
            tx: Transaction | None = None
            try:
                tx = self._open(fd)
                yield tx
                st = os.fstat(fd)
                self._verified = _Verified(
                    ino=st.st_ino,
                    dev=st.st_dev,
                    offset=tx.offset,
                    last_line=tx.last_line,
                    records=tx.records,
                    state=tx.state,
                )
            except BaseException:
                # what was appended is durable, but read it back next time rather than trust this view
                self._verified = None
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
        st = os.fstat(fd)
        cache = self._verified
        if (
            cache is not None
            and (cache.ino, cache.dev) == (st.st_ino, st.st_dev)
            and st.st_size >= cache.offset
            and os.pread(fd, len(cache.last_line), cache.offset - len(cache.last_line)) == cache.last_line
        ):
            start, records, state, last_line = cache.offset, list(cache.records), cache.state, cache.last_line
        else:
            start, records, state, last_line = 0, [], StoryState(), b""
        os.lseek(fd, start, os.SEEK_SET)
        raw = b""
        while block := os.read(fd, 1 << 20):
            raw += block
        previous = records[-1] if records else None
        fresh, good = decode(_complete_lines(raw, self.journal), str(self.journal), previous=previous)
        if good != len(raw):
            os.ftruncate(fd, start + good)  # drop a torn, never-acknowledged tail
            sync_data(fd)
        self._roll_forward(fresh)
        for rec in fresh:
            state = apply(state, rec.event)
        records.extend(fresh)
        self._clean_staged(records)
        if fresh:
            last_line = raw[:good][raw[:good].rstrip(b"\n").rfind(b"\n") + 1 :]
        os.lseek(fd, 0, os.SEEK_END)
        if start == 0 or any(_writes_text(r.event) for r in fresh):
            self.reconcile(records, state)  # repair text a crash (or another server) left unwritten
        return Transaction(store=self, records=records, state=state, _fd=fd, offset=start + good, last_line=last_line)

    def _replay(self, fd: int) -> None:
        """Finish what the write-ahead segment holds and a crash (or another process) may have left undone: the
        journal lines first (a torn or lost tail is put back, byte for byte), then each file the segment
        names, brought to what its last operation says. Then a checkpoint makes it all durable."""
        entries = self.segment.read()
        for entry in entries:
            self._restore_lines(fd, entry)
        by_path: dict[str, list[Op]] = {}
        for entry in entries:
            for op in entry.ops:
                by_path.setdefault(op.path, []).append(op)
        for path, ops in by_path.items():
            self._redo(path, ops)
        self.checkpoint(fd)

    def _restore_lines(self, fd: int, entry: Entry) -> None:
        size = os.fstat(fd).st_size
        if size < entry.at:
            raise StateError(
                f"{self.journal} is {size} bytes, shorter than its write-ahead segment says it was ({entry.at}): "
                "the journal was cut or replaced; restore it, or check it by hand (storyfence audit)"
            )
        have = os.pread(fd, max(len(entry.lines), size - entry.at), entry.at)
        if have[: len(entry.lines)] == entry.lines:
            return
        if b"\n" in have and not entry.lines.startswith(have):
            raise StateError(
                f"{self.journal} holds other records at byte {entry.at} than its write-ahead segment: the journal "
                "was replaced (a checkout?) while the segment held writes; restore it, or check it by hand "
                "(storyfence audit)"
            )
        os.ftruncate(fd, entry.at)  # a tail the crash cut short, or lost: put the recorded lines back
        os.pwrite(fd, entry.lines, entry.at)
        log.warning("put back journal lines a crash lost at byte %d of %s", entry.at, self.journal)

    def _redo(self, path: str, ops: list[Op]) -> None:
        """Bring one file to what the last of its operations in the segment says, when what it holds is a state a
        crash can leave from that sequence (the content before any of them, the content of one but the last,
        nothing where one created or deleted it, an empty file, a temp file never renamed). Anything else was
        changed since, by hand: it is left for the next chunk boundary to judge as a change made outside."""
        last = ops[-1]
        interrupted = False
        for op in ops:
            if op.tmp is not None and self.files.remove_stale(path, op.tmp):
                interrupted = interrupted or op is last
        try:
            current = self.files.read_current(path, cap=1 << 26)
        except (InputError, Refused, OSError) as exc:
            log.warning("left what the write-ahead segment holds for %s: no longer a file it can write (%s)", path, exc)
            return
        earlier = {op.before for op in ops if op.before is not None}
        earlier |= {_digest(op.data) for op in ops[:-1] if op.data is not None}
        could_be_missing = any(not op.existed or op.unlinks is not None for op in ops[:-1]) or not ops[0].existed
        now = _digest(current) if current is not None else None
        if last.data is not None and now == _digest(last.data):
            return
        if last.unlinks is not None and current is None:
            return
        left_by_a_crash = (
            interrupted
            or current == b""
            or (current is None and could_be_missing)
            or (now is not None and now in earlier)
            or (last.unlinks is not None and self._same_file(path, last.unlinks))
        )
        if not left_by_a_crash:
            log.warning("left what the write-ahead segment holds for %s: the file changed since", path)
            return
        if last.data is None:
            if self.files.delete(path, self.files.identity(path)):
                log.warning("finished a delete a crash interrupted: %s", path)
            return
        tmp = new_temp_name(path)
        self.note_staged(path, tmp)
        self.files.write_atomic(path, last.data, tmp)
        log.warning("finished a write a crash interrupted: %s", path)

    def _same_file(self, path: str, identity: str) -> bool:
        try:
            return self.files.identity(path) == identity
        except (InputError, Refused, OSError):
            return False

    def checkpoint(self, fd: int) -> None:
        """Make what the segment holds durable (the journal, each file it wrote or deleted, their folders), then
        empty it. Nothing to do when it is empty."""
        if not self.segment.pending():
            return
        entries = self.segment.read()
        sync_data(fd)
        for path in dict.fromkeys(op.path for entry in entries for op in entry.ops):
            self.files.sync_path(path)
        self.segment.clear()

    def note_staged(self, rel: str, tmp: str) -> None:
        """Announce a temp file before it is created (under the lock): a kill before its rename leaves a name
        the next transaction can clean up, instead of a stray file beside the target."""
        line = (json.dumps({"path": rel, "tmp": tmp}, ensure_ascii=False) + "\n").encode("utf-8")
        fd = os.open(self.staged, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        try:
            os.write(fd, line)
            sync_data(fd)
        finally:
            os.close(fd)

    def _clean_staged(self, records: list[Record]) -> None:
        """Remove the announced temp files that a kill left behind and no journal record refers to (a
        recorded one is the roll-forward's to finish), then empty the list."""
        try:
            raw = self.staged.read_bytes() if not self.staged.is_symlink() else b""
        except FileNotFoundError:
            return
        if not raw:
            return
        referenced = {(t[0], t[1]) for r in records if (t := _write_ahead(r.event)) is not None and t[1]}
        for line in raw.decode("utf-8", errors="replace").splitlines():
            try:
                entry: object = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line a kill cut short: its temp file was never created
            if not isinstance(entry, dict):
                continue
            fields = cast("dict[str, object]", entry)
            path, tmp = fields.get("path"), fields.get("tmp")
            if not isinstance(path, str) or not isinstance(tmp, str) or (path, tmp) in referenced:
                continue
            if self.files.remove_stale(path, tmp):
                log.warning("removed a staged file a crash left behind: %s beside %s", tmp, path)
        # not synced: a list a power cut brings back names temp files that are gone, which the next clean skips
        os.close(os.open(self.staged, os.O_WRONLY | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)))

    def _roll_forward(self, records: list[Record]) -> None:
        """Finish the staged writes and the deletes that records read from disk name and a crash left undone."""
        for rec in records:
            target = _write_ahead(rec.event)
            if target is None:
                continue
            path, staged, unlinks = target
            if staged and self.files.roll_forward(path, staged):
                log.warning("finished a write a crash interrupted: %s", path)
            if unlinks and self.files.delete(path, unlinks):
                log.warning("finished a delete a crash interrupted: %s", path)

    def _write_text(self, rel: str, text: str) -> None:
        """Write a server-owned file atomically, its temp file announced like every staged write."""
        tmp = new_temp_name(rel)
        self.note_staged(rel, tmp)
        self.files.write_atomic(rel, text.encode("utf-8"), tmp)

    def _acquire(self, lock_fd: int) -> None:
        deadline = time.monotonic() + LOCK_TIMEOUT_SECONDS
        while True:
            try:
                fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise WorkflowError(
                        f"story {self.story_id} is busy: another storyfence server holds its lock; try again"
                    ) from None
                time.sleep(0.005)  # another server's short transaction; bounded by the deadline

    def reconcile(self, records: list[Record], state: StoryState) -> None:
        """Make BACKEND-LOG.md and BLOCKERS.md hold everything the journal says was written."""
        if state.log_appends:
            try:
                current = self.log_path.read_text(encoding="utf-8")
            except FileNotFoundError:
                current = ""
            text = current or logbook.render_log_header(self.story_id)
            missing = _missing_blocks(text, state.log_appends)
            if missing or not current:
                for block in missing:
                    text = _blank_line_after(text) + block.lstrip("\n")
                self._write_text(self.paths.log, text)
        blocked = [r.event for r in records if isinstance(r.event, StoryBlocked)]
        if blocked:
            want = blocked[-1].blockers
            try:
                have = self.blockers_path.read_text(encoding="utf-8")
            except FileNotFoundError:
                have = ""
            if have != want:
                self._write_text(self.paths.blockers, want)


def _missing_blocks(text: str, blocks: tuple[str, ...]) -> list[str]:
    """The appended blocks the log does not hold yet, in order. A block can repeat word for word (the same
    type error failing again after a pass), so its k-th copy is missing while the log holds fewer than k."""
    have: dict[str, int] = {}
    seen: Counter[str] = Counter()
    missing: list[str] = []
    for block in blocks:
        seen[block] += 1
        if block not in have:
            have[block] = text.count(block)
        if seen[block] > have[block]:
            missing.append(block)
    return missing


def _complete_lines(raw: bytes, journal: Path) -> str:
    """The journal's newline-terminated lines, decoded. What follows the last newline is a torn append (a
    crash cut the write short, maybe inside a multi-byte character): never acknowledged, so never decoded."""
    end = raw.rfind(b"\n") + 1
    try:
        return raw[:end].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StateError(f"{journal} is not UTF-8 (byte {exc.start}): the journal was damaged") from None


def _blank_line_after(text: str) -> str:
    """`text` ending in exactly one blank line, so appended blocks stay separate markdown blocks."""
    return text.rstrip("\n") + "\n\n" if text else text
