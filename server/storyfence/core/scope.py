"""SCOPE.md parsing: list items that are backticked globs under "In scope" / "Out of scope" narrow the policy.

Only a list item whose first token is a backticked glob counts (`` - `packages/core/**` ``, optionally followed
by a dash or colon and a few words of explanation). Any other path in a scope section (in a sentence, inside
a prose list item, in an explanation) is ignored and reported, never read as a glob. A section that names
paths but lists no glob cannot be read unambiguously: it refuses every write rather than narrow nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import pathspec

from storyfence.core.decisions import ScopeLists

Section = Literal["in_scope", "out_of_scope"]

# The title keeps any closing `#`s: _section_kind drops every non-letter anyway. Stripping them in the
# regex (`(.*?)\s*#*\s*$`) backtracked cubically: one 12 KB line of spaces and `#`s took over a minute.
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*)$")
_BOLD_HEADING = re.compile(r"^\s*(?:\*\*|__)(.+?)(?:\*\*|__)(?:\s*:)?\s*$")
_CODE = re.compile(r"`([^`\n]+)`")
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
# a list item: `-`, `*`, `+` or `1.` / `1)`, then a space; what follows is the item's text
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,9}[.)])\s+")
# what may follow the glob of a glob item: nothing, a full stop, or an explanation after a dash or colon
_EXPLANATION = re.compile(r"\s*(?:[.,;]?\s*$|(?:-|\u2013|\u2014|:)(?:\s|$))")

PROSE = "a path in a sentence is prose, not a glob: only a list item that starts with its glob counts (`` - `glob` ``)"
PROSE_ITEM = "a list item that does not start with its glob is prose: write `` - `glob` `` (or `` - `glob` - why ``)"
RUN_ON = (
    "the glob goes on into a sentence without a dash or colon, so the item reads as prose: "
    "write `` - `glob` `` or `` - `glob` - why ``"
)
EXPLAINED = "a path in the explanation of a list item is prose: list each glob as an item of its own"
INVALID = "not a valid gitignore-style glob"


@dataclass(frozen=True)
class Ignored:
    """A path named in a scope section that is not a glob list item, where it is, and why it does not count."""

    section: Section
    line: int
    text: str
    reason: str


@dataclass(frozen=True)
class ScopeReading:
    """What a SCOPE.md narrows (`lists`, the input of every write decision) and what it names but ignores."""

    lists: ScopeLists
    ignored: tuple[Ignored, ...] = ()


def _section_kind(title: str) -> Section | None:
    words = re.sub(r"[^a-z ]+", " ", title.lower()).split()
    text = " ".join(words)
    if re.search(r"\b(out of scope|not in scope|non goals?)\b", text):
        return "out_of_scope"
    if re.search(r"\b(in scope|scope in)\b", text) or text == "scope":
        return "in_scope"
    return None


def _looks_like_path(token: str) -> bool:
    """A path or glob: no space, and a slash, a wildcard or a file extension (`cancelOrder`, `404` are not)."""
    token = token.strip()
    if not token or " " in token or len(token) > 300:
        return False
    return "/" in token or "*" in token or re.search(r"\.[A-Za-z0-9]{1,8}$", token) is not None


def _valid_glob(token: str) -> bool:
    glob = _normalise(token)
    if not glob:  # `./` alone: an empty pattern matches nothing
        return False
    # a glob pathspec cannot compile (`src/x\`) would make every later write decision raise
    try:
        pathspec.PathSpec.from_lines("gitignore", [glob])
    except Exception:  # pathspec raises several types for a bad pattern
        return False
    return True


def _normalise(glob: str) -> str:
    glob = glob.strip()
    if glob.startswith("./"):
        glob = glob[2:]
    return glob


def _read_line(line: str) -> tuple[str | None, list[tuple[str, str]]]:
    """The glob a scope-section line lists (or None) and the paths it names that do not count, with why."""
    paths = [m for m in _CODE.finditer(line) if _looks_like_path(m.group(1))]
    item = _LIST_ITEM.match(line)
    if item is None:
        return None, [(m.group(1), PROSE) for m in paths]
    first = _CODE.match(line, item.end())
    if first is None or not _looks_like_path(first.group(1)):
        return None, [(m.group(1), PROSE_ITEM) for m in paths]
    rest = paths[1:]
    if not _valid_glob(first.group(1)):
        return None, [(first.group(1), INVALID), *((m.group(1), PROSE_ITEM) for m in rest)]
    if _EXPLANATION.match(line, first.end()) is None:
        return None, [(m.group(1), RUN_ON) for m in paths]
    return _normalise(first.group(1)), [(m.group(1), EXPLAINED) for m in rest]


def read_scope(text: str, source: str = "SCOPE.md") -> ScopeReading:
    """Read the glob lists under In scope / Out of scope headings, and every path there that is not one.

    Headings of any level or a bold line ("**In scope:**"), any case. Code fences are skipped so an
    example block cannot add globs. A section kind that names paths but lists no glob makes the reading
    `unreadable`: every write is then refused, since an empty In scope list would narrow nothing.
    """
    lists: dict[Section, list[str]] = {"in_scope": [], "out_of_scope": []}
    ignored: list[Ignored] = []
    current: Section | None = None
    current_level = 0
    fence: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        fence_match = _FENCE.match(line)
        if fence_match:
            marker = fence_match.group(1)[0] * 3
            if fence is None:
                fence = marker
            elif marker == fence:
                fence = None
            continue
        if fence is not None:
            continue
        heading = _HEADING.match(line)
        if heading:
            level = len(heading.group(1))
            kind = _section_kind(heading.group(2))
            if kind is not None:
                current, current_level = kind, level
            elif current is not None and level <= current_level:
                current = None
            continue
        bold = _BOLD_HEADING.match(line)
        if bold:
            kind = _section_kind(bold.group(1))
            if kind is not None:
                current, current_level = kind, 7
                continue
        if current is None:
            continue
        glob, not_globs = _read_line(line)
        if glob is not None and glob not in lists[current]:
            lists[current].append(glob)
        ignored.extend(Ignored(current, number, path, reason) for path, reason in not_globs)
    unreadable = [
        section
        for section in ("in_scope", "out_of_scope")
        if not lists[section] and any(i.section == section for i in ignored)
    ]
    reason = ""
    if unreadable:
        names = " and ".join("In scope" if s == "in_scope" else "Out of scope" for s in unreadable)
        reason = (
            f"{source} names paths under {names} but lists none of them as a glob item (`` - `glob` ``), "
            "so it cannot be read unambiguously"
        )
    scope = ScopeLists(
        in_scope=tuple(lists["in_scope"]),
        out_of_scope=tuple(lists["out_of_scope"]),
        source=source,
        unreadable=reason,
    )
    return ScopeReading(lists=scope, ignored=tuple(ignored))


def parse_scope(text: str, source: str = "SCOPE.md") -> ScopeLists:
    """The lists of `read_scope`: what a write decision needs."""
    return read_scope(text, source).lists


def unreadable_scope(source: str, why: str) -> ScopeLists:
    """The scope of a SCOPE.md that cannot be read at all (missing, not UTF-8, too large): it refuses every write."""
    return ScopeLists(source=source, unreadable=f"{source} cannot be read ({why})")


def describe(scope: ScopeLists) -> str:
    """One sentence for read_story: what the scope narrows, that it narrows nothing, or that it refuses all."""
    if scope.unreadable:
        return f"{scope.unreadable}: every write is refused until a human fixes it."
    if not scope.in_scope and not scope.out_of_scope:
        return (
            f"{scope.source} lists no globs under In scope / Out of scope headings: it narrows nothing, "
            "the policy alone decides."
        )
    parts: list[str] = []
    if scope.in_scope:
        parts.append(f"writes must match one of {len(scope.in_scope)} In scope globs")
    if scope.out_of_scope:
        parts.append(f"{len(scope.out_of_scope)} Out of scope globs are refused")
    return f"{scope.source}: " + "; ".join(parts) + " (on top of the policy, never wider)."
