"""core.quick matches a gitignore pattern list exactly as pathspec does (the last matching pattern decides, a
negated one un-matches), and skips a pattern's regex only when the path cannot match it."""

from __future__ import annotations

import pathspec
from hypothesis import given, settings
from hypothesis import strategies as st

from storyfence.core.quick import Matcher, literals
from storyfence.core.quick_form import globs

PIECES = ["a", "b", "B", "api", "src", ".ts", ".git", "-", "_", "/", "*", "**", "?", "[ab]", "\\*", "!", " "]
PATH_PIECES = ["a", "b", "B", "api", "src", ".ts", ".git", "-", "_", "/", "x", "A", ".", " "]

patterns = st.lists(st.sampled_from(PIECES), min_size=1, max_size=6).map("".join)
paths = st.lists(st.sampled_from(PATH_PIECES), min_size=1, max_size=8).map("".join)


def compiles(lines: list[str]) -> bool:
    try:
        pathspec.PathSpec.from_lines("gitignore", lines)
    except Exception:
        return False
    return True


@settings(max_examples=400, deadline=None)
@given(st.lists(patterns, min_size=1, max_size=4), st.lists(paths, min_size=1, max_size=6))
def test_a_matcher_finds_the_pattern_pathspec_finds(lines: list[str], names: list[str]) -> None:
    if not compiles(lines):
        return
    spec = pathspec.PathSpec.from_lines("gitignore", lines)
    matcher = Matcher(tuple(lines), globs(lines))
    for name in names:
        hit = spec.check_file(name)
        expected = hit.index if hit.include and hit.index is not None else None
        assert matcher.index(name) == expected, (lines, name)


@settings(max_examples=400, deadline=None)
@given(patterns, paths)
def test_every_path_a_pattern_matches_holds_its_literals(pattern: str, path: str) -> None:
    if not compiles([pattern]):
        return
    if pathspec.PathSpec.from_lines("gitignore", [pattern]).match_file(path):
        assert all(part in path for part in literals(pattern.removeprefix("!")))


def test_a_pattern_with_a_class_or_an_escape_has_no_literals() -> None:
    assert literals("apps/[ab]pi/**") == ()
    assert literals("\\*.ts") == ()
    assert literals("apps/*/api/**") == ("apps", "api")
    assert literals("**/*.tsx") == (".tsx",)


def test_the_confinement_limit_matches_the_story_paths_name_limit() -> None:
    from storyfence.adapters.confine import NAME_MAX as confine_max
    from storyfence.core.story_paths import NAME_MAX

    assert confine_max == NAME_MAX
