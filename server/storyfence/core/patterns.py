"""The patterns a policy is written in: gitignore path globs and regexes (checked when a policy loads, so a
bad one names its key), and module or package name globs (`@fastify/*`) matched by name."""

from __future__ import annotations

import re
from functools import lru_cache

TYPE_CHECKING = False  # typing is not imported: the hook's quick path loads this module
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    import pathspec


def glob_problem(glob: str) -> str | None:
    """Why `glob` is not a gitignore pattern a person meant, or None. pathspec accepts some patterns that
    match nothing useful: an unclosed `[` (it matches a literal `[`, silently) and a run of three stars."""
    if not glob.strip():
        return "it is empty"
    if "***" in glob:
        return "`***` is not a glob: use `**` for any folders or `*` within a name"
    depth = 0
    index = 0
    while index < len(glob):
        char = glob[index]
        if char == "\\":
            index += 2
            continue
        if char == "[" and depth == 0:
            depth = 1
        elif char == "]" and depth == 1:
            depth = 0
        index += 1
    if depth:
        return "it has a `[` that is never closed with `]`"
    return None


def check_globs(value: tuple[str, ...]) -> tuple[str, ...]:
    """`value` unchanged when every entry is a gitignore pattern a person meant and pathspec compiles, else a
    ValueError naming the entry."""
    for index, glob in enumerate(value):
        problem = glob_problem(glob)
        if problem is not None:
            raise ValueError(f"entry {index} ({glob!r}) is not a valid glob: {problem}")
    try:
        compiled(tuple(value))
    except Exception as exc:  # pathspec raises several types for a bad pattern
        raise ValueError(f"invalid gitignore pattern: {exc}") from exc
    return value


@lru_cache(maxsize=1024)
def compiled(globs: tuple[str, ...]) -> pathspec.PathSpec[Any]:
    """A gitignore pattern list compiled once per process: a policy's patterns are compiled when they are
    checked (the policy loads) and used as they are (its rules match), not compiled again."""
    import pathspec  # imported here: the hook's quick path matches names with this module, never globs

    return pathspec.PathSpec.from_lines("gitignore", globs)


@lru_cache(maxsize=1024)
def any_include(globs: tuple[str, ...]) -> Callable[[str], bool] | None:
    """A quick test that is False only when no include pattern of `globs` matches a path (so pathspec would not
    match it either: a negated pattern only ever un-matches); one regex search instead of one per pattern. None
    when the patterns cannot be joined into one regex (the caller asks pathspec every time)."""
    from pathspec.util import normalize_file

    spec = compiled(globs)
    parts: list[str] = []
    for pattern in spec.patterns:
        regex: object = getattr(pattern, "regex", None)
        if not getattr(pattern, "include", False):
            continue
        if not isinstance(regex, re.Pattern) or regex.flags & ~re.UNICODE:
            return None
        text: object = regex.pattern  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        if not isinstance(text, str):
            return None
        parts.append(f"(?:{text})")
    if not parts:
        return lambda path: False
    try:
        joined = re.compile("|".join(parts))
    except re.error:  # a pathspec whose regexes name their groups: no quick test
        return None
    search = joined.search
    return lambda path: search(normalize_file(path)) is not None


def check_regexes(value: tuple[str, ...]) -> tuple[str, ...]:
    """`value` unchanged when every entry compiles as a Python regex, else a ValueError naming the entry."""
    for index, text in enumerate(value):
        try:
            re.compile(text)
        except re.error as exc:
            raise ValueError(f"entry {index} ({text!r}) is not a valid regular expression: {exc}") from exc
    return value


def name_pattern(glob: str) -> re.Pattern[str]:
    """A module or package name glob as a regex: `*` matches any run of characters, `/` included."""
    return re.compile("".join(".*" if part == "*" else re.escape(part) for part in re.split(r"(\*)", glob)))


def match_name(name: str, globs: tuple[str, ...], *, subpaths: bool = False) -> str | None:
    """The first glob in `globs` that `name` matches (exactly, or as a glob), or None.

    With `subpaths`, a plain entry also matches a path below it: `express` matches `express/lib/router`.
    """
    for glob in globs:
        if "*" in glob:
            if name_pattern(glob).fullmatch(name):
                return glob
        elif name == glob or (subpaths and name.startswith(glob + "/")):
            return glob
    return None
