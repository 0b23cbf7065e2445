"""What a computation read from the repo, file by file and folder by folder, with each one's identity when it
was read: the workspace packages and the learned layout are cached against exactly these (a new package folder
changes its parent folder's identity; an edited module, its own)."""

from __future__ import annotations

import os

from storyfence.adapters.private_cache import identity

_watching: list[Reads] = []


class Reads:
    """The paths read while this is entered (`with Reads() as reads:`), each with its identity at the time."""

    def __init__(self) -> None:
        self.seen: dict[str, list[int] | None] = {}

    def __enter__(self) -> Reads:
        _watching.append(self)
        return self

    def __exit__(self, *_: object) -> None:
        _watching.remove(self)


def read(path: str | os.PathLike[str]) -> None:
    """Note that `path` (a file about to be read, or a folder about to be listed) is read."""
    if not _watching:
        return
    name = os.fspath(path)
    for reads in _watching:
        if name not in reads.seen:
            reads.seen[name] = identity(name)
