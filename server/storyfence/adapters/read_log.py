"""The files and folders a reader looked at, recorded while it works, so that what it computed can be cached
against exactly those inputs (a folder stands for its list of entries: adding, removing or renaming one
changes the folder's identity). Recording is off unless a caller asks for it; noting then costs nothing."""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from storyfence.adapters import reads

_seen: ContextVar[set[str] | None] = ContextVar("storyfence_read_log", default=None)


def note(path: str | os.PathLike[str]) -> None:
    """Record that the reader read `path` (a file, or a folder's entries), or asked whether it exists."""
    seen = _seen.get()
    if seen is not None:
        seen.add(os.fspath(path))
    reads.read(path)  # and for the hook's cache, with the identity it has now


def walk(top: str | os.PathLike[str]) -> Iterator[tuple[str, list[str], list[str]]]:
    """os.walk (top down, pruned through the dirnames list as usual), noting each folder it lists."""
    for dirpath, dirnames, filenames in os.walk(top):
        note(dirpath)
        yield dirpath, dirnames, filenames


@contextmanager
def recording() -> Generator[set[str]]:
    """Record every path noted in this context (and only in it) into the set it yields."""
    seen: set[str] = set()
    token = _seen.set(seen)
    try:
        yield seen
    finally:
        _seen.reset(token)
