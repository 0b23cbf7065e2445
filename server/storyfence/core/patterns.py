"""The patterns a policy is written in: gitignore path globs and regexes (checked when a policy loads, so a
bad one names its key), and module or package name globs (`@fastify/*`) matched by name."""

from __future__ import annotations

import re

import pathspec


def check_globs(value: tuple[str, ...]) -> tuple[str, ...]:
    """`value` unchanged when every entry is a gitignore pattern pathspec compiles, else a ValueError."""
    try:
        pathspec.PathSpec.from_lines("gitignore", value)
    except Exception as exc:  # pathspec raises several types for a bad pattern
        raise ValueError(f"invalid gitignore pattern: {exc}") from exc
    return value


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
