"""A story's write-ahead segment: the one durable write a small write costs.

A write used to cost four syncs (its announced temp name, its temp file, its journal record, its
directory). Now the segment carries, in one JSON line synced once, the exact journal lines the write
appends (with the offset they go at) and the write's content. The journal line is then appended and the
file written and renamed without a sync of their own. If the machine dies before they reach the disk, the
next transaction finds them in the segment and finishes them (`StoryStore._replay`); each checkpoint (a
chunk boundary, a record that is not a write, a new process's first transaction, a segment over
`CHECKPOINT_BYTES`) syncs the journal and the files the segment names, then empties it.

    {"segment": "<generation: a new one at each clear>"}
    {"at": 1234, "boot": "<boot id>", "lines": "<journal lines>", "ops": [{"path": "...", "tmp": "...",
     "data": "<base64>", "before": "<sha256>", "existed": true}]}
    {"done": 1234}
    \0\0\0... (the room the next entries are written over, so that their sync changes no metadata)

Once an entry's file operation is done, a `done` line follows it, unsynced: a kill cannot lose it (the page
cache survives the process), only a power cut can, and a power cut changes the boot id. So in the same boot
an entry marked done is finished and its file is never touched again by a repair (a later hand edit, even one
back to an earlier content, stays); only entries not marked done, or any entry after a reboot, are repaired.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import uuid
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import cast

from storyfence.adapters.durable import pwrite_all, sync_data
from storyfence.core.errors import StateError

INLINE_MAX = 1 << 20
"""The largest write the segment carries; a larger one is staged in its own synced temp file."""
CHECKPOINT_BYTES = 8 << 20
"""A segment grown past this is checkpointed after the write that grew it (bounds a crash repair)."""
ROOM = 256 << 10
"""The zeroed room a cleared segment starts with, and what it grows by: about forty 4 KB writes."""

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


@dataclass(frozen=True)
class Op:
    """One file operation a segment entry carries: a write (`data`) or a delete (`unlinks`)."""

    path: str
    tmp: str | None = None  # the temp file the write renames from
    data: bytes | None = None
    before: str | None = None  # sha256 of the file when the write was decided; None: not there, or unknown
    existed: bool = False
    unlinks: str | None = None  # a delete: the file's identity (device:inode:size:mtime)


@dataclass(frozen=True)
class Entry:
    at: int  # the journal offset the lines go at
    lines: bytes  # the journal lines, exactly as appended
    ops: tuple[Op, ...]
    boot: str | None = None  # the boot the entry was written in (None: not known on this platform)
    done: bool = False  # a `done` line follows: its file operation finished in that boot


@cache
def boot_id() -> str | None:
    """This boot's id (Linux); None where it cannot be read: then every entry counts as from another boot."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            return fh.read().strip() or None
    except OSError:
        return None


def encode_entry(entry: Entry) -> bytes:
    """One segment line: {"at", "boot", "lines", "ops": [{"path", "tmp", "data" (base64), "before", "existed",
    "unlinks"}]} as JSON with no spaces, UTF-8 kept. Written by hand, with each write's base64 content put in as
    it is: base64 needs no escaping, and json.dumps scanning 5 KB of it for characters to escape was most of
    what the line cost."""
    dumps = _dumps
    ops = ",".join(
        f'{{"path":{dumps(op.path)},"tmp":{dumps(op.tmp)},"data":'
        + ('"' + base64.b64encode(op.data).decode("ascii") + '"' if op.data is not None else "null")
        + f',"before":{dumps(op.before)},"existed":{dumps(op.existed)},"unlinks":{dumps(op.unlinks)}}}'
        for op in entry.ops
    )
    lines = dumps(entry.lines.decode("utf-8"))
    return f'{{"at":{dumps(entry.at)},"boot":{dumps(entry.boot)},"lines":{lines},"ops":[{ops}]}}\n'.encode()


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def decode_segment(raw: bytes, where: str) -> tuple[list[Entry], int]:
    """The entries of a segment and the length of its complete lines. The lines end at the first zero byte (the
    room after them; see `Segment`), and a first line that names the segment's generation holds no entry. What
    follows the last newline is an append a crash cut short: never synced, never acknowledged, so dropped. A
    complete line that does not decode is damage, and refuses (fail closed): the segment may hold a write the
    journal lacks."""
    zero = raw.find(b"\0")
    if zero >= 0:
        raw = raw[:zero]
    start = len(_head(raw))
    end = max(raw.rfind(b"\n") + 1, start)
    entries: list[Entry] = []
    for number, line in enumerate(raw[start:end].splitlines(), start=2 if start else 1):
        try:
            value = cast(object, json.loads(line))
            fields = cast("dict[str, object]", value) if isinstance(value, dict) else None
            if fields is not None and set(fields) == {"done"}:
                at = fields["done"]
                if not isinstance(at, int) or isinstance(at, bool):
                    raise TypeError(f"done must be an offset, not {at!r}")
                index = next((i for i in range(len(entries) - 1, -1, -1) if entries[i].at == at), None)
                if index is not None:  # else its entry was checkpointed before the line came: it holds no write
                    entries[index] = replace(entries[index], done=True)
                continue
            entries.append(_entry(fields))
        except (ValueError, TypeError, KeyError, StopIteration, binascii.Error) as exc:
            raise StateError(
                f"{where} line {number} does not decode ({exc}): the write-ahead segment was damaged, and it may "
                "hold a write the journal lacks; restore it from a backup, or remove it once the journal and files "
                "are checked by hand (storyfence audit)"
            ) from None
    return entries, end


def _entry(fields: dict[str, object] | None) -> Entry:
    if fields is None:
        raise TypeError("not an object")
    at, lines, ops, boot = fields["at"], fields["lines"], fields["ops"], fields.get("boot")
    if not isinstance(at, int) or at < 0 or not isinstance(lines, str) or not isinstance(ops, list):
        raise TypeError("at, lines or ops has the wrong type")
    if boot is not None and not isinstance(boot, str):
        raise TypeError("boot has the wrong type")
    ops_read = tuple(_op(o) for o in cast("list[object]", ops))
    return Entry(at=at, lines=lines.encode("utf-8"), ops=ops_read, boot=boot)


def _op(value: object) -> Op:
    if not isinstance(value, dict):
        raise TypeError("an op is not an object")
    f = cast("dict[str, object]", value)
    path, tmp, data, before, existed, unlinks = (f[k] for k in ("path", "tmp", "data", "before", "existed", "unlinks"))
    if not isinstance(path, str) or not isinstance(existed, bool):
        raise TypeError("an op's path or existed has the wrong type")
    for name, text in (("tmp", tmp), ("data", data), ("before", before), ("unlinks", unlinks)):
        if text is not None and not isinstance(text, str):
            raise TypeError(f"an op's {name} has the wrong type")
    return Op(
        path=path,
        tmp=cast("str | None", tmp),
        data=base64.b64decode(cast(str, data), validate=True) if data is not None else None,
        before=cast("str | None", before),
        existed=existed,
        unlinks=cast("str | None", unlinks),
    )


@dataclass(frozen=True)
class _Known:
    """What this process last left in the segment file, so its own next transaction skips the repair."""

    dev: int
    ino: int
    head: bytes  # the generation line its last clear wrote (or it adopted)
    end: int  # where the next line goes: the end of the last line
    size: int  # the file's size: the zeroed room runs from `end` to here


class Segment:
    """The segment file, and what this process last left in it (so its own next transaction skips the repair).

    The file is kept preallocated: a clear writes a generation line and `ROOM` zero bytes and syncs them once,
    and each entry is then written over zeros already on the disk. Its sync then changes no metadata (not the
    size, not the blocks), so the filesystem flushes the entry's pages without a journal commit: on ext4 about a
    third less than an append's sync, which also commits every metadata change made since the last commit. An
    entry that does not fit grows the room (that sync commits once). The lines end at the first zero byte; what
    follows it is room (or, after a power cut, an unacknowledged entry's pages, which a repair clears).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None  # open on the file `_known` describes
        self._known: _Known | None = None

    def _vouched(self) -> bool:
        """Whether the file is still what this process left: the same file, size and generation line, and
        nothing written after its last line (another process's write, or its clear and writes, would show)."""
        known, fd = self._known, self._fd
        if known is None or fd is None:
            return False
        try:
            st = os.stat(self.path, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if (st.st_dev, st.st_ino, st.st_size) != (known.dev, known.ino, known.size):
            return False
        if os.pread(fd, len(known.head), 0) != known.head:
            return False
        return known.end >= known.size or os.pread(fd, 1, known.end) == b"\0"

    def _inspect(self) -> bool:
        """Whether the file holds anything past a generation line (entries, done lines, a torn entry's pages):
        read whole. A file that holds only its generation line and room is adopted as this process's own."""
        self._drop()
        try:
            fd = os.open(self.path, os.O_RDWR | _O_NOFOLLOW)
        except FileNotFoundError:
            return False
        try:
            raw = _read_all(fd)
            head = _head(raw)
            if raw[len(head) :].strip(b"\0"):
                os.close(fd)
                return True
            if head:
                st = os.fstat(fd)
                self._fd, self._known = fd, _Known(st.st_dev, st.st_ino, head, len(head), st.st_size)
            else:
                os.close(fd)  # empty, or zeros with no generation line: the first append clears it
            return False
        except BaseException:
            os.close(fd)
            raise

    def needs_repair(self) -> bool:
        """Whether the segment holds entries this process cannot vouch it finished: another process (or a
        crash, or an exception mid-write) left them."""
        return not self._vouched() and self._inspect()

    def pending(self) -> bool:
        """Whether the segment holds entries a checkpoint has not made durable yet."""
        if self._vouched():
            assert self._known is not None
            return self._known.end > len(self._known.head)
        return self._inspect()

    def prepare(self) -> None:
        """Give an empty segment its generation line and room, unless this process already knows it has them."""
        if self._known is None:
            self.clear()

    def append(self, entry: Entry) -> None:
        """Write one entry over the room and sync it: the write's commit point."""
        data = encode_entry(entry)
        self.prepare()  # the transaction found nothing pending (needs_repair), or made it durable (checkpoint)
        self._put(data, sync=True)

    def mark_done(self, at: int) -> int:
        """Say the entry at `at` is done, unsynced (see the module's docstring: only a reboot can lose it).
        Returns the length of the segment's lines after it."""
        self._put(b'{"done": %d}\n' % at, sync=False)
        assert self._known is not None
        return self._known.end

    def _put(self, data: bytes, *, sync: bool) -> None:
        """Write `data` after the last line (growing the room when it does not fit), synced or not."""
        known, fd = self._known, self._fd
        if known is None or fd is None:
            raise RuntimeError("the segment is written only after a clear or an adopt")
        try:
            end = known.end + len(data)
            size = known.size
            if end > size:  # no room: the entry and new room in one write (this sync commits the new size)
                size = end + ROOM
                data += bytes(size - end)
            pwrite_all(fd, data, known.end)
            if sync:
                sync_data(fd)
        except BaseException:
            self.forget()
            raise
        self._known = replace(known, end=end, size=size)

    def _drop(self) -> None:
        fd, self._fd = self._fd, None
        self._known = None
        if fd is not None:
            os.close(fd)

    def read(self) -> list[Entry]:
        try:
            fd = os.open(self.path, os.O_RDONLY | _O_NOFOLLOW)
        except FileNotFoundError:
            return []
        try:
            raw = _read_all(fd)
        finally:
            os.close(fd)
        entries, _ = decode_segment(raw, str(self.path))
        return entries

    def clear(self) -> None:
        """Empty the segment (synced): everything it held is durable in the journal and the files. A new
        generation line, then `ROOM` zero bytes for the entries to come."""
        self._drop()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | _O_NOFOLLOW, 0o644)
        try:
            head = b'{"segment": "%s"}\n' % uuid.uuid4().hex.encode("ascii")
            pwrite_all(fd, head + bytes(ROOM), 0)
            sync_data(fd)
            st = os.fstat(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd, self._known = fd, _Known(st.st_dev, st.st_ino, head, len(head), st.st_size)

    def forget(self) -> None:
        """This process can no longer vouch for the segment (an exception mid-write): repair it next time."""
        self._drop()


def _head(raw: bytes) -> bytes:
    """The generation line `raw` starts with, or b"" (an empty file, or one an earlier version wrote)."""
    if not raw.startswith(b'{"segment":'):
        return b""
    end = raw.find(b"\n")
    return raw[: end + 1] if end > 0 else b""


def _read_all(fd: int) -> bytes:
    chunks: list[bytes] = []
    offset = 0
    while block := os.pread(fd, 1 << 20, offset):
        chunks.append(block)
        offset += len(block)
    return b"".join(chunks)
