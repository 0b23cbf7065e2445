"""Where a user's path lands inside a repo root: the confinement every write decision starts from, in a module
light enough for the Claude Code hook (os and posixpath only). `adapters.workspace` turns its two exceptions
into the built-in refusal and the input error the tools report."""

from __future__ import annotations

import os
import posixpath

NAME_MAX = 255  # bytes in one file or folder name (ext4, APFS, NTFS, ...): core.story_paths names it too
PATH_MAX = 4096  # bytes in an absolute path (Linux)


class Outside(Exception):
    """The path is refused by confinement: `path` as the refusal names it, why, and what to do instead."""

    def __init__(self, path: str, reason: str, instead: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason
        self.instead = instead


class Unusable(Exception):
    """The path cannot be used at all (not Unicode text, a name or path too long): the message says why."""


def inside(root: str, absolute: str) -> bool:
    # commonpath, not startswith: /repo-evil is not inside /repo
    return absolute == root or os.path.commonpath([root, absolute]) == root


def locate(root: str, user_path: str) -> tuple[str, str, str | None]:
    """(rel, real, first symlink) of `user_path` (relative to `root`, the root's real path, or absolute inside
    it); `rel` is lexical, `real` after following symlinks (still inside the root). Raises Outside or Unusable.
    """
    rel = lexical(root, user_path)
    # walk component by component so the first symlink on the way can be named
    current = root
    symlink: str | None = None
    for part in [] if rel == "." else rel.split("/"):
        candidate = os.path.join(current, part)
        if os.path.islink(candidate):
            target = os.path.realpath(candidate)
            link_rel = posixpath.relpath(candidate, root)
            if not inside(root, target):
                raise Outside(
                    user_path.strip(),
                    f"`{link_rel}` is a symlink that leads outside the repo root.",
                    "use paths whose every directory is inside the repo.",
                )
            symlink = symlink or link_rel
            current = target
        else:
            current = candidate
    if symlink is None:  # no link on the way: the real path is the lexical one (no relpath to compute)
        return rel, rel, None
    real = posixpath.relpath(current, root) if current != root else "."
    return rel, real, symlink


def lexical(root: str, user_path: str) -> str:
    """`user_path` as a normalized path relative to `root` ("." for the root), by its text alone: everything
    `locate` refuses except what only the disk can tell (a symlink on the way). Raises Outside or Unusable."""
    if "\x00" in user_path:
        raise Outside(repr(user_path), "the path contains a NUL byte.", "pass a plain path.")
    try:
        user_path.encode("utf-8")
    except UnicodeEncodeError as exc:
        # a lone surrogate would become a non-UTF-8 file name on disk that the journal cannot record
        raise Unusable(
            f"the path {user_path[:80]!r} is not valid Unicode text (a lone surrogate at position {exc.start}); "
            "send the path as UTF-8 text"
        ) from None
    raw = user_path.strip()
    if "\\" in raw:
        raise Outside(raw, "the path contains a backslash.", "use forward slashes, relative to the repo root.")
    if raw in ("", "."):
        return "."
    if os.path.isabs(raw):
        absolute = posixpath.normpath(raw)
        if not inside(root, absolute):
            raise Outside(
                raw, f"the absolute path is outside the repo root {root}.", "use a path relative to the repo root."
            )
        rel = posixpath.relpath(absolute, root)
    else:
        rel = posixpath.normpath(raw)
    if rel == ".." or rel.startswith("../"):
        raise Outside(raw, "the path escapes the repo root with `..`.", "use a path inside the repo root.")
    _check_lengths(root, rel)
    return rel


def _check_lengths(root: str, rel: str) -> None:
    """Refuse names the filesystem cannot hold, with a clear error instead of an OSError mid-write."""
    for part in rel.split("/"):
        size = len(part.encode("utf-8"))
        if size > NAME_MAX:
            raise Unusable(
                f"the name `{part[:40]}…` in the path is {size} bytes long; a file or folder name holds at most "
                f"{NAME_MAX} bytes: use a shorter name"
            )
    size = len(root.encode("utf-8")) + 1 + len(rel.encode("utf-8"))
    if size >= PATH_MAX:
        raise Unusable(f"the path is {size} bytes long with the repo root; at most {PATH_MAX - 1}: use a shorter one")
