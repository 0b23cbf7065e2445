"""What one process has verified of a story's journal, so that each read decodes only what was appended since:
the records and state it folded, where they end, and the saved head a new process starts from
(adapters/journal_head.py). The store's transactions and its lock-free reads both resume from here."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from storyfence.adapters import journal_file, journal_head
from storyfence.core.journal import Record, decode
from storyfence.core.workflow import StoryState, apply


@dataclass
class Verified:
    """What this process already read and verified of the journal: the next read starts at `offset`."""

    ino: int
    dev: int
    offset: int
    last_line: bytes  # re-read before trusting the cache: a rewrite of the file is noticed
    records: list[Record] | None  # None: only the state is known (read from a saved head): a transaction reads all
    state: StoryState
    last: Record | None  # the last record verified (the chain goes on from it)
    count: int  # how many records that is
    finished: bool = True  # a transaction read it (and finished what a crash left); False: only a read-only read


class JournalView:
    """The verified view of one journal this process keeps (see the module's docstring)."""

    def __init__(self, journal: Path) -> None:
        self.journal = journal
        self.cache: Verified | None = None
        self._head_count = 0  # the records of the head this process last saved or read

    def resume(self, fd: int, *, records: bool = True) -> Verified | None:
        """What this process verified of the journal `fd`, when the file is the same one and still holds that line
        where it was (with `records`: only when the records themselves are known); else None (read it all)."""
        st = os.fstat(fd)
        cache = self.cache
        if (
            cache is not None
            and (cache.records is not None or not records)
            and (cache.ino, cache.dev) == (st.st_ino, st.st_dev)
            and st.st_size >= cache.offset
            and os.pread(fd, len(cache.last_line), cache.offset - len(cache.last_line)) == cache.last_line
        ):
            return cache
        return None

    def read(self, *, records: bool) -> tuple[list[Record] | None, StoryState]:
        """The state, read without the lock, and with `records` the verified records (the cache's own list: not
        to be changed). Without `records`, a new process starts from the saved head."""
        try:
            fd = os.open(self.journal, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            return [], StoryState()
        try:
            st = os.fstat(fd)
            cache = self.resume(fd, records=records)
            if cache is None and not records:
                cache = self._from_head(fd, st)
            start = cache.offset if cache is not None else 0
            raw = journal_file.read_from(fd, start)
        finally:
            os.close(fd)
        known, state = (cache.records, cache.state) if cache is not None else ([], StoryState())
        previous = cache.last if cache is not None else None
        fresh, good = decode(journal_file.complete_lines(raw, self.journal), str(self.journal), previous=previous)
        if not fresh:
            return known, state
        for rec in fresh:
            state = apply(state, rec.event)
        count = (cache.count if cache is not None else 0) + len(fresh)
        verified = [*known, *fresh] if known is not None else None
        last_line = journal_file.last_line(raw[:good])
        self.cache = Verified(
            ino=st.st_ino,
            dev=st.st_dev,
            offset=start + good,
            last_line=last_line,
            records=verified,
            state=state,
            last=fresh[-1],
            count=count,
            finished=False,  # nothing was rolled forward or reconciled: the next transaction does it
        )
        if start == 0 and len(fresh) >= journal_head.HEAD_EVERY:  # read from the start: save where it ends
            journal_head.save(self.journal, hashlib.sha256(raw[:good]).hexdigest(), good, count, last_line, state)
            self._head_count = count
        return verified, state

    def _from_head(self, fd: int, st: os.stat_result) -> Verified | None:
        found = journal_head.load(self.journal, fd, st.st_size)
        if found is None:
            return None
        head, count = found
        self.cache = Verified(
            ino=st.st_ino,
            dev=st.st_dev,
            offset=head.length,
            last_line=head.last_line,
            records=None,
            state=head.state,
            last=head.last,
            count=count,
            finished=False,
        )
        self._head_count = count
        return self.cache

    def settle(self, fd: int, offset: int, last_line: bytes, records: list[Record], state: StoryState) -> None:
        """A transaction verified the locked journal `fd` up to `offset` and leaves it so: remember it, and save
        the head when HEAD_EVERY records were appended since the last one."""
        st = os.fstat(fd)
        self.cache = Verified(
            ino=st.st_ino,
            dev=st.st_dev,
            offset=offset,
            last_line=last_line,
            records=records,
            state=state,
            last=records[-1] if records else None,
            count=len(records),
        )
        if len(records) - self._head_count >= journal_head.HEAD_EVERY:
            sha = journal_head.prefix_digest(fd, offset)
            if sha is not None:
                journal_head.save(self.journal, sha, offset, len(records), last_line, state)
            self._head_count = len(records)

    def forget(self) -> None:
        """Read the journal back next time rather than trust this view (an exception mid-transaction)."""
        self.cache = None
