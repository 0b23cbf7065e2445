"""Keyed JSON cache entries in the user's private cache folder (adapters/private_cache.py: read only when only
the user could have written them, written atomically, never code), and the identities they are keyed by.

Each entry is a JSON object `{"key": ..., "value": ...}`; `read_value` returns the value only when the stored
key equals the one asked for. Whatever goes wrong (no file, a foreign owner, a folder others can write, damaged
JSON, an unwritable folder) means "no entry": the caller computes the value again.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import cast

from storyfence.adapters import private_cache
from storyfence.adapters.private_cache import CACHE_ENV, RACY_NS

__all__ = ["CACHE_ENV", "RACY_NS", "cache_dir", "identity", "racy", "read_value", "source_identities", "write_value"]

Identity = list[int]
"""A file's inode, size, mtime and ctime (ns) and device (private_cache.identity): it changes whenever the file
is rewritten or replaced, and an mtime set back by hand does not hide an edit."""


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    return Path(private_cache.cache_folder(environ))


def identity(path: str | os.PathLike[str]) -> Identity | None:
    """The file's identity, or None when there is no such file (or it cannot be read)."""
    return private_cache.identity(os.fspath(path))


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
    return private_cache.racy(list(identities), time.time_ns() if now_ns is None else now_ns)


def read_value(file: Path, key: object) -> object | None:
    """The value stored in `file` under exactly `key` (compared as JSON), or None when there is none to trust."""
    try:
        wanted = json_text(key)
    except (TypeError, ValueError):
        return None
    entry = private_cache.read_entry(os.fspath(file))
    if not isinstance(entry, dict):
        return None
    fields = cast("dict[str, object]", entry)
    if set(fields) != {"key", "value"} or json_text(fields["key"]) != wanted:
        return None
    return fields["value"]


def write_value(file: Path, key: object, value: object) -> None:
    """Store `value` under `key`, atomically; skipped when it cannot be (the value keeps its key order)."""
    private_cache.write_entry(os.fspath(file), {"key": key, "value": value})


def json_text(value: object) -> str:
    import json

    return json.dumps(value, sort_keys=True)
