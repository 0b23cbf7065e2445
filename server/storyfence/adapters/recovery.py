"""Crash repair from a story's write-ahead segment (adapters/segment.py), and the checkpoint that empties it.

A small write is acknowledged once its segment entry is synced; its journal line and its file follow
unsynced. After a crash (or when another process left the segment), `replay` puts back the journal lines
the crash lost, byte for byte, and brings each file the segment names to what its last operation says,
unless the file moved on since. `checkpoint` then makes everything durable and empties the segment.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import cast

from storyfence.adapters.durable import pwrite_all, sync_data
from storyfence.adapters.ports import StoryFiles
from storyfence.adapters.segment import Entry, Op, Segment, boot_id
from storyfence.core import logbook
from storyfence.core.errors import InputError, Refused, StateError
from storyfence.core.story_paths import temp_name

log = logging.getLogger("storyfence")

Announce = Callable[[str, str], None]
"""Announces a temp file before it is created (the store's staged list), so a kill never leaves it behind."""


def replay(segment: Segment, files: StoryFiles, fd: int, journal: Path, announce: Announce) -> None:
    """Finish what the segment holds and a crash (or another process) may have left undone: the journal `fd`'s
    lines first (a torn or lost tail is put back, byte for byte), then each file brought to what its last
    operation says: in this boot only the operations not marked done (a kill keeps the page cache), after a
    reboot every one (a power cut may have lost any of them)."""
    entries = segment.read()
    for entry in entries:
        _restore_lines(fd, entry, journal)
    boot = boot_id()
    rebooted = boot is None or any(entry.boot != boot for entry in entries)
    by_path: dict[str, list[Op]] = {}
    for entry in entries:
        if entry.done and not rebooted:
            continue  # finished in this boot: its file is what the user (or a later write) made it since
        for op in entry.ops:
            by_path.setdefault(op.path, []).append(op)
    for path, ops in by_path.items():
        _redo(files, path, ops, announce)


def checkpoint(segment: Segment, files: StoryFiles, fd: int) -> None:
    """Make what the segment holds durable (the journal `fd`, each file it wrote or deleted, their folders),
    then empty it. When it is empty, only make sure it has its room (the next write's one sync needs it)."""
    if not segment.pending():
        segment.prepare()
        return
    entries = segment.read()
    sync_data(fd)
    for path in dict.fromkeys(op.path for entry in entries for op in entry.ops):
        files.sync_path(path)
    segment.clear()


def _restore_lines(fd: int, entry: Entry, journal: Path) -> None:
    size = os.fstat(fd).st_size
    if size < entry.at:
        raise StateError(
            f"{journal} is {size} bytes, shorter than its write-ahead segment says it was ({entry.at}): "
            "the journal was cut or replaced; restore it, or check it by hand (storyfence audit)"
        )
    have = os.pread(fd, max(len(entry.lines), size - entry.at), entry.at)
    if have[: len(entry.lines)] == entry.lines:
        return
    if b"\n" in have and not entry.lines.startswith(have):
        raise StateError(
            f"{journal} holds other records at byte {entry.at} than its write-ahead segment: the journal "
            "was replaced (a checkout?) while the segment held writes; restore it, or check it by hand "
            "(storyfence audit)"
        )
    os.ftruncate(fd, entry.at)  # a tail the crash cut short, or lost: put the recorded lines back
    pwrite_all(fd, entry.lines, entry.at)
    log.warning("put back journal lines a crash lost at byte %d of %s", entry.at, journal)


def _redo(files: StoryFiles, path: str, ops: list[Op], announce: Announce) -> None:
    """Bring one file to what the last of its operations in the segment says, when what it holds is a state a
    crash can leave from that sequence (the content before any of them, the content of one but the last,
    nothing where one created or deleted it, an empty file, a temp file never renamed). Anything else was
    changed since, by hand: it is left for the next chunk boundary to judge as a change made outside."""
    last = ops[-1]
    interrupted = False
    for op in ops:
        if op.tmp is not None and files.remove_stale(path, op.tmp):
            interrupted = interrupted or op is last
    try:
        current = files.read_current(path, cap=1 << 26)
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
        or (last.unlinks is not None and _same_file(files, path, last.unlinks))
    )
    if not left_by_a_crash:
        log.warning("left what the write-ahead segment holds for %s: the file changed since", path)
        return
    if last.data is None:
        if files.delete(path, files.identity(path)):
            log.warning("finished a delete a crash interrupted: %s", path)
        return
    tmp = temp_name(path, uuid.uuid4().hex[:12])
    announce(path, tmp)
    files.write_atomic(path, last.data, tmp)
    log.warning("finished a write a crash interrupted: %s", path)


def _same_file(files: StoryFiles, path: str, identity: str) -> bool:
    try:
        return files.identity(path) == identity
    except (InputError, Refused, OSError):
        return False


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def announce(staged: Path, rel: str, tmp: str) -> None:
    """Announce a temp file in the staged list before it is created (under the lock, synced): a kill before its
    rename leaves a name the next transaction can clean up, instead of a stray file beside the target."""
    line = (json.dumps({"path": rel, "tmp": tmp}, ensure_ascii=False) + "\n").encode("utf-8")
    fd = os.open(staged, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    try:
        os.write(fd, line)
        sync_data(fd)
    finally:
        os.close(fd)


def clean_staged(staged: Path, files: StoryFiles, referenced: Callable[[], set[tuple[str, str]]]) -> None:
    """Remove the announced temp files that a kill left behind and no journal record refers to (`referenced`:
    a recorded one is the roll-forward's to finish), then empty the list."""
    try:
        st = os.lstat(staged)
    except FileNotFoundError:
        return
    if st.st_size == 0 or stat.S_ISLNK(st.st_mode):  # the usual case, one call: nothing was announced
        return
    try:
        raw = staged.read_bytes()
    except FileNotFoundError:
        return
    if not raw:
        return
    keep = referenced()
    for line in raw.decode("utf-8", errors="replace").splitlines():
        try:
            entry: object = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line a kill cut short: its temp file was never created
        if not isinstance(entry, dict):
            continue
        fields = cast("dict[str, object]", entry)
        path, tmp = fields.get("path"), fields.get("tmp")
        if not isinstance(path, str) or not isinstance(tmp, str) or (path, tmp) in keep:
            continue
        if files.remove_stale(path, tmp):
            log.warning("removed a staged file a crash left behind: %s beside %s", tmp, path)
    # not synced: a list a power cut brings back names temp files that are gone, which the next clean skips
    os.close(os.open(staged, os.O_WRONLY | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)))


def texts_missing(
    story_id: str, log_path: Path, blockers_path: Path, appends: tuple[str, ...], blockers: str | None
) -> list[tuple[str, str]]:
    """What BACKEND-LOG.md ("log") and BLOCKERS.md ("blockers") must be rewritten to, so they hold everything
    the journal says was written (a crash, or another server, can leave them behind)."""
    out: list[tuple[str, str]] = []
    if appends:
        try:
            current = log_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            current = ""
        text = current or logbook.render_log_header(story_id)
        missing = _missing_blocks(text, appends)
        if missing or not current:
            for block in missing:
                text = _blank_line_after(text) + block.lstrip("\n")
            out.append(("log", text))
    if blockers is not None:
        try:
            have = blockers_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            have = ""
        if have != blockers:
            out.append(("blockers", blockers))
    return out


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


def _blank_line_after(text: str) -> str:
    """`text` ending in exactly one blank line, so appended blocks stay separate markdown blocks."""
    return text.rstrip("\n") + "\n\n" if text else text
