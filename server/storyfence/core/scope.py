"""SCOPE.md parsing: backticked globs under an "In scope" and an "Out of scope" heading narrow the policy."""

from __future__ import annotations

import re

import pathspec

from storyfence.core.policy import ScopeLists

# The title keeps any closing `#`s: _section_kind drops every non-letter anyway. Stripping them in the
# regex (`(.*?)\s*#*\s*$`) backtracked cubically: one 12 KB line of spaces and `#`s took over a minute.
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*)$")
_BOLD_HEADING = re.compile(r"^\s*(?:\*\*|__)(.+?)(?:\*\*|__)(?:\s*:)?\s*$")
_CODE = re.compile(r"`([^`\n]+)`")
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")


def _section_kind(title: str) -> str | None:
    words = re.sub(r"[^a-z ]+", " ", title.lower()).split()
    text = " ".join(words)
    if re.search(r"\b(out of scope|not in scope|non goals?)\b", text):
        return "out"
    if re.search(r"\b(in scope|scope in)\b", text) or text == "scope":
        return "in"
    return None


def _looks_like_glob(token: str) -> bool:
    token = token.strip()
    if not token or " " in token or len(token) > 300:
        return False
    # a path or glob: has a slash, a wildcard or a file extension
    if not ("/" in token or "*" in token or re.search(r"\.[A-Za-z0-9]{1,8}$", token) is not None):
        return False
    glob = _normalise(token)
    if not glob:  # `./` alone: an empty pattern matches nothing and would refuse every write
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


def parse_scope(text: str, source: str = "SCOPE.md") -> ScopeLists:
    """Collect the globs listed (in backticks) under In scope / Out of scope headings.

    Liberal in what it accepts: headings of any level or a bold line ("**In scope:**"), any case,
    bullets or prose. Code fences are skipped so an example block cannot add globs.
    """
    in_scope: list[str] = []
    out_scope: list[str] = []
    current: str | None = None
    current_level = 0
    fence: str | None = None
    for line in text.splitlines():
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
        for token in _CODE.findall(line):
            if not _looks_like_glob(token):
                continue
            target = in_scope if current == "in" else out_scope
            glob = _normalise(token)
            if glob not in target:
                target.append(glob)
    return ScopeLists(in_scope=tuple(in_scope), out_of_scope=tuple(out_scope), source=source)


def describe(scope: ScopeLists) -> str:
    """One sentence for read_story: what the scope narrows, or that it narrows nothing."""
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
