"""What one process has verified of a story's journal, so that each read decodes only what was appended since:
the records and state it folded, where they end, and the saved head a new process starts from
(adapters/journal_head.py), which a lock-free read that decoded HEAD_EVERY records or more saves where it ended.
The store's transactions and its lock-free reads both resume from here."""

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
            known, state = (cache.records, cache.state) if cache is not None else ([], StoryState())
            previous = cache.last if cache is not None else None
            text = journal_file.complete_lines(raw, self.journal)
            fresh, good = decode(text, str(self.journal), previous=previous)
            if not fresh:
                return known, state
            for rec in fresh:
                state = apply(state, rec.event)
            count = (cache.count if cache is not None else 0) + len(fresh)
            last_line = journal_file.last_line(raw[:good])
            if len(fresh) >= journal_head.HEAD_EVERY:  # a long read: save where it ends for the next process
                end = start + good
                sha = hashlib.sha256(raw[:good]).hexdigest() if start == 0 else journal_head.prefix_digest(fd, end)
                if sha is not None:
                    journal_head.save(self.journal, sha, end, count, last_line, state)
        finally:
            os.close(fd)
        verified = [*known, *fresh] if known is not None else None
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
        return verified, state

    def _from_head(self, fd: int, st: os.stat_result) -> Verified | None:
        head = journal_head.load(self.journal, fd, st.st_size)
        if head is None:
            return None
        self.cache = Verified(
            ino=st.st_ino,
            dev=st.st_dev,
            offset=head.length,
            last_line=head.last_line,
            records=None,
            state=head.state,
            last=head.last,
            count=head.records,
            finished=False,
        )
        return self.cache

    def settle(self, fd: int, offset: int, last_line: bytes, records: list[Record], state: StoryState) -> None:
        """A transaction verified the locked journal `fd` up to `offset` and leaves it so: remember it. (It saves
        no head: that would cost a write a pass over the whole journal now and then; the next process's first
        long read saves one.)"""
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

    def forget(self) -> None:
        """Read the journal back next time rather than trust this view (an exception mid-transaction)."""
        self.cache = None
