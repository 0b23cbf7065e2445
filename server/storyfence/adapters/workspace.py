"""The confined workspace: a user's path is resolved inside the root before any rule sees it (absolute
paths, `..`, NUL bytes, backslashes, over-long names and symlinks that lead out are refused), and the file
a write targets is read as it is now, for the rules that judge a change."""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from pathlib import Path

from storyfence.adapters.files import RepoFiles
from storyfence.core.confinement import confinement_refusal
from storyfence.core.errors import InputError
from storyfence.core.inputs import decode_text
from storyfence.core.story_paths import NAME_MAX

PATH_MAX = 4096  # bytes in an absolute path (Linux)


@dataclass(frozen=True)
class Located:
    """A user path resolved against the root. `rel` is lexical; `real` is after following symlinks."""

    rel: str  # POSIX, relative to root, "." for the root itself
    real: str  # POSIX, relative to root, symlinks resolved (still inside root)
    symlink: str | None  # the first symlink on the way (relative), if any

    @property
    def parts(self) -> list[str]:
        return [] if self.rel == "." else self.rel.split("/")


@dataclass(frozen=True)
class Target:
    """The file a write, edit or delete names: confined, not through a symlink, and as it is now."""

    rel: str
    exists: bool  # something is at the path now (a file, or what `unreadable` says)
    data: bytes | None  # its bytes now; None when it cannot be read (see `unreadable`)
    unreadable: InputError | None  # why not: missing, a directory, over the cap, not a regular file

    @property
    def text(self) -> str | None:
        """The current text for the content rules; None for a new, binary or unreadable file."""
        if self.data is None:
            return None
        try:
            return decode_text(self.rel, self.data)
        except InputError:
            return None


class Workspace:
    """A repo root on disk: where every user path is confined, and its files (`files`)."""

    def __init__(self, root: Path) -> None:
        try:
            real = Path(os.path.realpath(root))
            if not real.is_dir():
                raise InputError(f"root {root} is not a directory")
            os.listdir(real)
        except PermissionError:
            raise InputError(f"root {root} is not readable") from None
        except FileNotFoundError:
            raise InputError(f"root {root} does not exist") from None
        self.root = real
        self.files = RepoFiles(real)
        self._root_str = str(real)

    # --- confinement ------------------------------------------------------------------------------------

    def _inside(self, absolute: str) -> bool:
        # commonpath, not startswith: /repo-evil is not inside /repo
        return absolute == self._root_str or os.path.commonpath([self._root_str, absolute]) == self._root_str

    def locate(self, user_path: str) -> Located:
        """Resolve `user_path` (relative to the root, or absolute inside it) or refuse it."""
        if "\x00" in user_path:
            raise confinement_refusal(repr(user_path), "the path contains a NUL byte.", "pass a plain path.")
        try:
            user_path.encode("utf-8")
        except UnicodeEncodeError as exc:
            # a lone surrogate would become a non-UTF-8 file name on disk that the journal cannot record
            raise InputError(
                f"the path {user_path[:80]!r} is not valid Unicode text (a lone surrogate at position {exc.start}); "
                "send the path as UTF-8 text"
            ) from None
        raw = user_path.strip()
        if "\\" in raw:
            raise confinement_refusal(
                raw, "the path contains a backslash.", "use forward slashes, relative to the repo root."
            )
        if raw in ("", "."):
            return Located(rel=".", real=".", symlink=None)
        if os.path.isabs(raw):
            absolute = posixpath.normpath(raw)
            if not self._inside(absolute):
                raise confinement_refusal(
                    raw,
                    f"the absolute path is outside the repo root {self._root_str}.",
                    "use a path relative to the repo root.",
                )
            rel = posixpath.relpath(absolute, self._root_str)
        else:
            rel = posixpath.normpath(raw)
        if rel == ".." or rel.startswith("../"):
            raise confinement_refusal(
                raw, "the path escapes the repo root with `..`.", "use a path inside the repo root."
            )
        _check_lengths(self._root_str, rel)
        # walk component by component so the first symlink on the way can be named
        current = self._root_str
        symlink: str | None = None
        for part in [] if rel == "." else rel.split("/"):
            candidate = os.path.join(current, part)
            if os.path.islink(candidate):
                target = os.path.realpath(candidate)
                link_rel = posixpath.relpath(candidate, self._root_str)
                if not self._inside(target):
                    raise confinement_refusal(
                        raw,
                        f"`{link_rel}` is a symlink that leads outside the repo root.",
                        "use paths whose every directory is inside the repo.",
                    )
                symlink = symlink or link_rel
                current = target
            else:
                current = candidate
        real = posixpath.relpath(current, self._root_str) if current != self._root_str else "."
        return Located(rel=rel, real=real, symlink=symlink)

    def absolute(self, rel: str) -> Path:
        return self.root if rel == "." else self.root / rel

    def target(self, user_path: str, *, cap: int) -> Target:
        """Confine the path a write names, refuse one through a symlink or the root itself, and read the file
        as it is now (at most `cap` bytes; a file that cannot be read is a Target without data)."""
        loc = self.locate(user_path)
        if loc.symlink is not None:
            raise confinement_refusal(
                loc.rel,
                f"the path goes through the symlink `{loc.symlink}`: writes never follow a symlink.",
                f"write the real path `{loc.real}` if it is in scope.",
            )
        if loc.rel == ".":
            raise InputError("the repo root is a directory, not a file")
        try:
            return Target(rel=loc.rel, exists=True, data=self.files.read_bytes(loc.rel, cap=cap), unreadable=None)
        except InputError as exc:
            return Target(rel=loc.rel, exists=self.exists(loc.rel), data=None, unreadable=exc)

    def exists(self, rel: str) -> bool:
        return os.path.lexists(self.absolute(rel))

    def is_dir(self, rel: str) -> bool:
        return os.path.isdir(self.absolute(rel)) and not os.path.islink(self.absolute(rel))


def _check_lengths(root: str, rel: str) -> None:
    """Refuse names the filesystem cannot hold, with a clear error instead of an OSError mid-write."""
    for part in rel.split("/"):
        size = len(part.encode("utf-8"))
        if size > NAME_MAX:
            raise InputError(
                f"the name `{part[:40]}…` in the path is {size} bytes long; a file or folder name holds at most "
                f"{NAME_MAX} bytes: use a shorter name"
            )
    size = len(root.encode("utf-8")) + 1 + len(rel.encode("utf-8"))
    if size >= PATH_MAX:
        raise InputError(f"the path is {size} bytes long with the repo root; at most {PATH_MAX - 1}: use a shorter one")
