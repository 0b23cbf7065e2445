"""A file's change as a reader sees it: a unified diff of its text before and after, line by line, capped; or
why there is none (binary, too large). Also the first changed line, where a finding about the file points."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

LineKind = Literal["hunk", "add", "del", "ctx"]

MAX_DIFF_LINES = 400
"""A diff longer than this is cut (the reader is told how many lines were left out)."""


@dataclass(frozen=True)
class DiffLine:
    kind: LineKind
    text: str  # without its leading "+", "-" or " " (a hunk header as difflib writes it)
    old: int | None = None  # its line number before (del, ctx)
    new: int | None = None  # its line number after (add, ctx)


@dataclass(frozen=True)
class FileDiff:
    """`lines` is empty when `note` says why (binary, unreadable, no change)."""

    lines: tuple[DiffLine, ...] = ()
    added: int = 0
    removed: int = 0
    omitted: int = 0  # lines of the diff not shown (over MAX_DIFF_LINES)
    note: str = ""


def as_text(data: bytes | None) -> str | None:
    """The bytes as text, or None when they are not UTF-8 text (a NUL byte counts as binary)."""
    if data is None or b"\x00" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _split(text: str | None) -> list[str]:
    return [] if text is None else text.splitlines()


def diff(before: bytes | None, after: bytes | None, *, context: int = 3, cap: int = MAX_DIFF_LINES) -> FileDiff:
    """The diff from `before` to `after` (None: the file did not exist then / does not exist now)."""
    old, new = as_text(before), as_text(after)
    if (before is not None and old is None) or (after is not None and new is None):
        return FileDiff(note="binary file: not shown")
    if before == after:
        return FileDiff(note="no change in content")
    lines: list[DiffLine] = []
    added = removed = 0
    old_lines, new_lines = _split(old), _split(new)
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    for group in matcher.get_grouped_opcodes(context):
        first, last = group[0], group[-1]
        header = f"@@ -{first[1] + 1},{last[2] - first[1]} +{first[3] + 1},{last[4] - first[3]} @@"
        lines.append(DiffLine("hunk", header))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines += [DiffLine("ctx", old_lines[i], old=i + 1, new=j1 + i - i1 + 1) for i in range(i1, i2)]
                continue
            if tag in ("replace", "delete"):
                lines += [DiffLine("del", old_lines[i], old=i + 1) for i in range(i1, i2)]
                removed += i2 - i1
            if tag in ("replace", "insert"):
                lines += [DiffLine("add", new_lines[j], new=j + 1) for j in range(j1, j2)]
                added += j2 - j1
    if not lines:  # the same lines, other line endings or a final newline
        return FileDiff(note="only line endings or the final newline changed")
    shown = tuple(lines[:cap])
    return FileDiff(lines=shown, added=added, removed=removed, omitted=len(lines) - len(shown))


def first_changed_line(before: bytes | None, after: bytes | None) -> int | None:
    """The first line of `after` that differs from `before` (1 for a new or binary file; where lines were
    removed, the line that now stands in their place), None when there is no such line (deleted, empty)."""
    new = as_text(after)
    if new is None:
        return None
    if before is None:
        return 1
    old = as_text(before)
    if old is None:
        return 1
    old_lines, new_lines = old.splitlines(), new.splitlines()
    if not new_lines:
        return None
    for tag, _, _, j1, _ in difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False).get_opcodes():
        if tag != "equal":
            return min(j1 + 1, len(new_lines))
    return None
