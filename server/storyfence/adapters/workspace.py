"""The confined workspace: a user's path is resolved inside the root before any rule sees it (absolute
paths, `..`, NUL bytes, backslashes, over-long names and symlinks that lead out are refused), and the file
a write targets is read as it is now, for the rules that judge a change."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from storyfence.adapters.confine import Outside, Unusable, inside, lexical, locate
from storyfence.adapters.files import RepoFiles
from storyfence.core.confinement import confinement_refusal
from storyfence.core.errors import InputError, Refused
from storyfence.core.inputs import decode_text


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
        return inside(self._root_str, absolute)

    def locate(self, user_path: str) -> Located:
        """Resolve `user_path` (relative to the root, or absolute inside it) or refuse it."""
        try:
            rel, real, symlink = locate(self._root_str, user_path)
        except Outside as exc:
            raise confinement_refusal(exc.path, exc.reason, exc.instead) from None
        except Unusable as exc:
            raise InputError(str(exc)) from None
        return Located(rel=rel, real=real, symlink=symlink)

    def lexical(self, user_path: str) -> str | None:
        """`user_path` relative to the root by its text alone (see confine.lexical); None when its text is refused."""
        try:
            return lexical(self._root_str, user_path)
        except (Outside, Unusable):
            return None

    def absolute(self, rel: str) -> Path:
        return self.root if rel == "." else self.root / rel

    def target(self, user_path: str, *, cap: int) -> Target:
        """Confine the path a write names, refuse one through a symlink or the root itself, and read the file
        as it is now (at most `cap` bytes; a file that cannot be read is a Target without data)."""
        rel = self.lexical(user_path)  # None: refused below, by locate, as every other path is
        if rel is not None and rel != ".":
            # a file read by a walk that follows no link (O_NOFOLLOW at every step) has no symlink on its path:
            # what locate's walk would have looked for. Anything else (a link, a new file) takes locate's way.
            with contextlib.suppress(InputError, Refused):
                return Target(rel=rel, exists=True, data=self.files.read_bytes(rel, cap=cap), unreadable=None)
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
