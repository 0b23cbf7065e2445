"""A story's write-ahead segment: the one durable append a small write costs.

A write used to cost four syncs (its announced temp name, its temp file, its journal record, its
directory). Now the segment carries, in one JSON line synced once, the exact journal lines the write
appends (with the offset they go at) and the write's content. The journal line is then appended and the
file written and renamed without a sync of their own. If the machine dies before they reach the disk, the
next transaction finds them in the segment and finishes them (`StoryStore._replay`); each checkpoint (a
chunk boundary, a record that is not a write, a new process's first transaction, a segment over
`CHECKPOINT_BYTES`) syncs the journal and the files the segment names, then empties it.

    {"at": 1234, "boot": "<boot id>", "lines": "<journal lines>", "ops": [{"path": "...", "tmp": "...",
     "data": "<base64>", "before": "<sha256>", "existed": true}]}
    {"done": 1234}

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
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import cast

from storyfence.adapters.durable import sync_data, write_all
from storyfence.core.errors import StateError

INLINE_MAX = 1 << 20
"""The largest write the segment carries; a larger one is staged in its own synced temp file."""
CHECKPOINT_BYTES = 8 << 20
"""A segment grown past this is checkpointed after the write that grew it (bounds a crash repair)."""

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
    """The entries of a segment and the length of its complete lines. What follows the last newline is an
    append a crash cut short: never synced, never acknowledged, so dropped. A complete line that does not
    decode is damage, and refuses (fail closed): the segment may hold a write the journal lacks."""
    end = raw.rfind(b"\n") + 1
    entries: list[Entry] = []
    for number, line in enumerate(raw[:end].splitlines(), start=1):
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


class Segment:
    """The segment file, and what this process last left in it (so its own next transaction skips the repair)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.left: tuple[int, int, int] | None = None  # (device, inode, size) after this process's last change
        self._fd: int | None = None  # the segment, open from an entry's append to its done line

    def _identity(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path, follow_symlinks=False)
        except FileNotFoundError:
            return None
        return (st.st_dev, st.st_ino, st.st_size)

    def needs_repair(self) -> bool:
        """Whether the segment holds entries this process cannot vouch it finished: another process (or a
        crash, or an exception mid-write) left them."""
        now = self._identity()
        return now is not None and now[2] > 0 and now != self.left

    def pending(self) -> bool:
        """Whether the segment holds entries a checkpoint has not made durable yet."""
        now = self._identity()
        return now is not None and now[2] > 0

    def size(self) -> int:
        now = self._identity()
        return now[2] if now is not None else 0

    def append(self, entry: Entry) -> None:
        """Append one entry and sync it: the write's commit point. The file stays open for the entry's done line."""
        data = encode_entry(entry)
        self._drop()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _O_NOFOLLOW, 0o644)
        try:
            write_all(fd, data)
            sync_data(fd)
            st = os.fstat(fd)
            self.left = (st.st_dev, st.st_ino, st.st_size)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def mark_done(self, at: int) -> int:
        """Say the entry at `at` is done, unsynced (see the module's docstring: only a reboot can lose it).
        Returns the segment's size after it."""
        fd, self._fd = self._fd, None
        if fd is None:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | _O_NOFOLLOW)
        try:
            write_all(fd, b'{"done": %d}\n' % at)
            st = os.fstat(fd)
            if self.left is not None:
                self.left = (st.st_dev, st.st_ino, st.st_size)
            return st.st_size
        finally:
            os.close(fd)

    def _drop(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def read(self) -> list[Entry]:
        try:
            fd = os.open(self.path, os.O_RDONLY | _O_NOFOLLOW)
        except FileNotFoundError:
            return []
        try:
            chunks: list[bytes] = []
            while block := os.read(fd, 1 << 20):
                chunks.append(block)
        finally:
            os.close(fd)
        entries, _ = decode_segment(b"".join(chunks), str(self.path))
        return entries

    def clear(self) -> None:
        """Empty the segment (synced): everything it held is durable in the journal and the files."""
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _O_NOFOLLOW, 0o644)
        try:
            sync_data(fd)
            st = os.fstat(fd)
            self.left = (st.st_dev, st.st_ino, st.st_size)
        finally:
            os.close(fd)

    def forget(self) -> None:
        """This process can no longer vouch for the segment (an exception mid-write): repair it next time."""
        self.left = None
        self._drop()
