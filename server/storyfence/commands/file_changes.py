"""A changed file as it was at the story's base commit and as it is now, for the report's diffs and for the
line an audit finding points at in CI. Reads are confined (no link followed) and capped."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from storyfence.adapters import git
from storyfence.adapters.files import RepoFiles
from storyfence.core.errors import StoryfenceError
from storyfence.core.file_diff import FileDiff, diff, first_changed_line

DIFF_CAP = 1024 * 1024
"""A file larger than this (then or now) is not diffed: the reader is told so."""


@dataclass(frozen=True)
class Versions:
    """`before` at the base commit and `after` now; None when the file did not / does not exist (or could not
    be read: `note` says why)."""

    before: bytes | None
    after: bytes | None
    note: str = ""


class FileChanges:
    """The files of one repo root compared with one base commit (None: HEAD, or nothing before the first)."""

    def __init__(self, root: Path, base: str | None) -> None:
        self.root = root
        self.files = RepoFiles(root)
        self.base = base if base is not None else git.head_commit(root)

    def versions(self, path: str) -> Versions:
        notes: list[str] = []
        before: bytes | None = None
        if self.base is not None:
            before = git.show_file(self.root, self.base, path, cap=DIFF_CAP)
            if before is None and git.exists_at(self.root, self.base, path):
                notes.append(f"{path} at {self.base[:12]} is over {DIFF_CAP:,} bytes or unreadable")
        try:
            after: bytes | None = self.files.read_bytes(path, cap=DIFF_CAP)
        except StoryfenceError as exc:
            after = None
            if (self.root / path).exists() or (self.root / path).is_symlink():
                notes.append(str(exc))
        except OSError:
            after = None
        return Versions(before, after, "; ".join(notes))

    def diff(self, path: str) -> FileDiff:
        found = self.versions(path)
        if found.note:
            return FileDiff(note=f"not shown: {found.note}")
        return diff(found.before, found.after)

    def first_line(self, path: str) -> int | None:
        """The first line of the file that differs from the base (what a CI annotation points at)."""
        found = self.versions(path)
        return first_changed_line(found.before, found.after)
