"""Private JSON cache files in the user's cache folder: read only when only the user could have written them,
written atomically, and never trusted beyond what the caller validates (a cache entry is data, never code).

The folder is `$STORYFENCE_CACHE_DIR`, else `$XDG_CACHE_HOME/storyfence`, else `~/.cache/storyfence`, created
0700. Each entry is a JSON object `{"key": ..., "value": ...}`; `read_value` returns the value only when the
stored key equals the one asked for. Whatever goes wrong (no file, a foreign owner, a folder others can write,
damaged JSON, an unwritable folder) means "no entry": the caller computes the value again.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import cast

CACHE_ENV = "STORYFENCE_CACHE_DIR"
RACY_NS = 2_000_000_000
"""An input changed more recently than this is not cached against: a second change within the clock's
granularity could keep its identity (the way git treats a racily clean index)."""

Identity = tuple[int, int, int]
"""A file's inode, size and modification time (ns): it changes whenever the file is rewritten or replaced."""


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    chosen = env.get(CACHE_ENV)
    if chosen:
        return Path(chosen)
    xdg = env.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "storyfence"


def identity(path: str | os.PathLike[str]) -> Identity | None:
    """The file's identity, or None when there is no such file (or it cannot be read)."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _sources(folder: str) -> list[tuple[str, Identity | None]]:
    found: list[tuple[str, Identity | None]] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return [(folder, None)]
    for entry in entries:
        if entry.name == "__pycache__" or entry.name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=False):
            found.extend(_sources(entry.path))
        elif entry.name.endswith(".py"):
            found.append((entry.path, identity(entry.path)))
    return found


def source_identities(folders: Sequence[Path]) -> list[tuple[str, Identity | None]]:
    """Every `.py` file under `folders` with its identity, sorted: the code a cached value was computed by."""
    return sorted(f for folder in folders for f in _sources(str(folder)))


def racy(identities: Iterable[Identity | None], now_ns: int | None = None) -> bool:
    """True when one of the files changed within the last RACY_NS: an entry keyed by them is not written."""
    now = time.time_ns() if now_ns is None else now_ns
    return any(i is not None and now - i[2] < RACY_NS for i in identities)


def _private(st: os.stat_result) -> bool:
    if not hasattr(os, "getuid"):
        return True  # no owners to compare (not a platform storyfence runs on)
    return st.st_uid == os.getuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def read_value(file: Path, key: object) -> object | None:
    """The value stored in `file` under exactly `key` (compared as JSON), or None when there is none to trust."""
    try:
        wanted = json.dumps(key, sort_keys=True)
        fd = os.open(file, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except (OSError, TypeError, ValueError):
        return None
    try:
        if not (_private(os.fstat(fd)) and _private(os.stat(file.parent))):
            return None  # someone else could have written it: never trust it
        with os.fdopen(fd, "rb", closefd=False) as fh:
            entry: object = json.loads(fh.read())
    except Exception:  # a damaged or foreign cache is recomputed, whatever the error
        return None
    finally:
        os.close(fd)
    if not isinstance(entry, dict):
        return None
    fields = cast("dict[str, object]", entry)
    if set(fields) != {"key", "value"} or json.dumps(fields["key"], sort_keys=True) != wanted:
        return None
    return fields["value"]


def write_value(file: Path, key: object, value: object) -> None:
    """Store `value` under `key`, atomically (a temp file renamed over the entry); skipped when it cannot be."""
    with contextlib.suppress(OSError, TypeError, ValueError):
        file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _private(os.stat(file.parent)):
            return  # a folder others can write to: they could swap the entry, so none is written
        fd, tmp = tempfile.mkstemp(prefix=f".{file.stem}-", suffix=".tmp", dir=file.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"key": key, "value": value}, fh)  # the value keeps its key order
            os.replace(tmp, file)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
