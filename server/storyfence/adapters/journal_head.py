"""A story's verified journal head: the state folded from the journal's first `length` bytes, kept in the
user's cache folder (see private_cache) so that a new process (a server's first status, the Claude Code hook)
reads only what was appended since, and a story of 2,000 writes starts as fast as one of 20.

The head is a cache, never a record: it is used only while the journal still begins with the very bytes it was
folded from (their sha256), and only by the code that folded it (a digest of storyfence's core modules, where
the fold lives). Anything else (a head missing, torn, written by someone else, from another version, for other
bytes) reads as no head, and the journal is read from its start as before. Transactions never use one: they
verify every record, since a write is decided on the whole journal.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storyfence.core.journal import JOURNAL_VERSION, Record
from storyfence.core.workflow import StoryState

HEAD_EVERY = 256
"""A lock-free read that decoded this many records or more saves a head where it ended (a new server, or the
hook after a session's writes): fewer are decoded faster than a head is saved."""
HEADS_KEPT = 32
"""The most heads the cache folder keeps: saving one more removes the least recently used (a head is about 300
bytes a recorded write; a removed one only costs its story one full read). A head's mtime says when it was last
saved or used."""


@dataclass(frozen=True)
class Head:
    length: int  # journal bytes the state was folded from
    last: Record  # the record that ends there: the chain goes on from it
    last_line: bytes
    state: StoryState
    records: int  # how many records those bytes hold


@functools.cache
def _state_adapter() -> Any:
    from pydantic import TypeAdapter

    return TypeAdapter(StoryState)


@functools.cache
def code_id() -> str | None:
    """What folded a head: the journal version and the bytes of every core module (the fold, the events, the
    models). None when they cannot be read (then no head is used or saved)."""
    import storyfence.core as core

    digest = hashlib.sha256(f"journal v{JOURNAL_VERSION}\n".encode())
    try:
        folder = Path(core.__file__).parent
        for path in sorted(folder.glob("*.py")):
            digest.update(path.name.encode("utf-8") + b"\0" + path.read_bytes() + b"\0")
    except OSError:
        return None
    return digest.hexdigest()


def head_file(journal: Path) -> str:
    from storyfence.adapters.private_cache import entry_path

    return entry_path("head", str(journal), None)


def load(journal: Path, journal_fd: int, journal_size: int) -> Head | None:
    """The saved head of `journal` (open as `journal_fd`), when it holds for the journal as it is; else None."""
    from storyfence.adapters.private_cache import read_entry

    saved = read_entry(head_file(journal))
    code = code_id() if isinstance(saved, dict) else None  # the core's bytes are read only when there is a head
    if code is None or not isinstance(saved, dict):
        return None
    fields: dict[str, Any] = saved  # pyright: ignore[reportUnknownVariableType]
    try:
        length, sha, line, records = fields["length"], fields["sha256"], fields["last_line"], fields["records"]
        if fields.get("code") != code or not (
            isinstance(length, int) and isinstance(sha, str) and isinstance(line, str) and isinstance(records, int)
        ):
            return None
        last_line = line.encode("utf-8")
        if not 0 < length <= journal_size or prefix_digest(journal_fd, length) != sha:
            return None
        if os.pread(journal_fd, len(last_line), length - len(last_line)) != last_line:
            return None
        last = Record.model_validate_json(last_line)
        state = _state_adapter().validate_python(fields["state"])
    except (ValueError, KeyError, TypeError, OSError):
        return None  # a torn or foreign entry: read the journal from its start
    with contextlib.suppress(OSError):
        os.utime(head_file(journal))  # used: the last to go when the cache folder keeps HEADS_KEPT
    return Head(length=length, last=last, last_line=last_line, state=state, records=records)


def prefix_digest(fd: int, length: int) -> str | None:
    """sha256 of the first `length` bytes of the file `fd`; None when it is shorter."""
    digest = hashlib.sha256()
    offset = 0
    while offset < length:
        block = os.pread(fd, min(1 << 20, length - offset), offset)
        if not block:
            return None
        digest.update(block)
        offset += len(block)
    return digest.hexdigest()


def save(journal: Path, sha: str, length: int, records: int, last_line: bytes, state: StoryState) -> None:
    """Save the head of `journal`: its first `length` bytes hash to `sha`, hold `records` records ending with
    `last_line`, and fold to `state`. Atomic; a head that cannot be saved is skipped (a slower start)."""
    from storyfence.adapters.private_cache import write_entry

    code = code_id()
    if code is None or length <= 0:
        return
    write_entry(
        head_file(journal),
        {
            "code": code,
            "length": length,
            "sha256": sha,
            "records": records,
            "last_line": last_line.decode("utf-8"),
            "state": _state_adapter().dump_python(state, mode="json"),
        },
    )
    _keep_recent(os.path.dirname(head_file(journal)), HEADS_KEPT)


def _keep_recent(folder: str, kept: int) -> None:
    """Remove the least recently used heads in `folder` past the `kept` newest (a story whose repo is gone, a
    clone made for one run, a story long done). Nothing but heads is ever touched; an error skips the pruning."""
    with contextlib.suppress(OSError):
        heads: list[tuple[int, str]] = []
        with os.scandir(folder) as entries:
            for entry in entries:
                if (
                    entry.name.startswith("head-")
                    and entry.name.endswith(".json")
                    and entry.is_file(follow_symlinks=False)
                ):
                    heads.append((entry.stat(follow_symlinks=False).st_mtime_ns, entry.path))
        heads.sort(reverse=True)
        for _, path in heads[kept:]:
            with contextlib.suppress(OSError):
                os.unlink(path)
