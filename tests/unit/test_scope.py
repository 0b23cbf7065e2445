"""SCOPE.md parsing finds the backticked globs under In scope / Out of scope, and nothing else."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storyfence.core.decisions import ScopeLists, decide_write
from storyfence.core.scope import describe, parse_scope, read_scope
from tests.support.paths import EXAMPLES
from tests.support.policies import backend_policy

EXAMPLE = EXAMPLES / "STORY-042" / "_implementation" / "SCOPE.md"
POLICY = backend_policy()


def test_the_example_story_scope_gives_its_in_and_out_lists() -> None:
    scope = parse_scope(EXAMPLE.read_text(encoding="utf-8"), "STORY-042/_implementation/SCOPE.md")
    assert scope == ScopeLists(
        in_scope=(
            "packages/core/src/orders/**",
            "packages/core/src/index.ts",
            "packages/backend/src/**",
            "apps/api/api/orders/**",
            "__http__/orders-cancel.http",
        ),
        # the sentence below the lists is a note, not a fourth glob (issue 11)
        out_of_scope=("apps/web/**", "packages/ui/**", "packages/db/**"),
        source="STORY-042/_implementation/SCOPE.md",
    )


def test_the_example_story_scope_allows_its_endpoint_and_refuses_the_rest_of_core() -> None:
    scope = parse_scope(EXAMPLE.read_text(encoding="utf-8"), "SCOPE.md")
    assert decide_write(POLICY, "apps/api/api/orders/[id]/cancel.ts", scope=scope).allowed is True
    refused = decide_write(POLICY, "packages/core/src/customers/x.ts", scope=scope)
    assert (refused.allowed, refused.rule) == (False, "story-not-in-scope")
    db = decide_write(POLICY, "packages/db/migrations/0003_x.sql", scope=scope)
    assert (db.allowed, db.rule) == (False, "story-out-of-scope")


@pytest.mark.parametrize(
    "heading",
    [
        "## In scope",
        "### In scope",
        "## IN SCOPE",
        "## in scope",
        "## In-scope",
        "## In scope (this story)",
        "## In scope ##",
        "# Scope",
        "**In scope:**",
        "**In scope**:",
        "__In scope__",
    ],
)
def test_an_in_scope_heading_in_any_common_spelling_starts_the_in_list(heading: str) -> None:
    scope = parse_scope(f"{heading}\n- `packages/core/src/orders/**`\n")
    assert scope.in_scope == ("packages/core/src/orders/**",)
    assert scope.out_of_scope == ()


@pytest.mark.parametrize(
    "heading",
    [
        "## Out of scope",
        "### OUT-OF-SCOPE",
        "## out of scope",
        "**Out of scope:**",
        "**Out of scope**",
        "## Not in scope",
        "## Non-goals",
    ],
)
def test_an_out_of_scope_heading_in_any_common_spelling_starts_the_out_list(heading: str) -> None:
    scope = parse_scope(f"{heading}\n- `apps/web/**`\n")
    assert scope.out_of_scope == ("apps/web/**",)
    assert scope.in_scope == ()


def test_bullets_with_prose_around_the_backticks_give_no_glob_and_report_every_path() -> None:
    text = (
        "## In scope\n"
        "- The use case in `packages/core/src/orders/**` and its test `packages/core/test/orders.test.ts`.\n"
        "* plus the endpoint (`apps/api/api/orders/**`)\n"
        "Prose lines do not count: `__http__/orders-cancel.http` is the request file.\n"
    )
    reading = read_scope(text)
    assert reading.lists.in_scope == ()
    assert [i.text for i in reading.ignored] == [
        "packages/core/src/orders/**",
        "packages/core/test/orders.test.ts",
        "apps/api/api/orders/**",
        "__http__/orders-cancel.http",
    ]
    assert reading.lists.unreadable  # an In scope section of prose refuses every write, it does not widen


@pytest.mark.parametrize(
    "token",
    ["cancelOrder", "cancelled", "STORY-043", "POST /orders/:id/cancel", "a b/c", "OrderStatus", "404", "./"],
)
def test_a_backticked_token_that_is_not_a_path_or_glob_is_ignored(token: str) -> None:
    scope = parse_scope(f"## In scope\n- `{token}`\n- `packages/backend/src/**`\n")
    assert scope.in_scope == ("packages/backend/src/**",)
    assert scope.unreadable == ""


def test_a_backticked_glob_pathspec_cannot_compile_is_ignored_so_decisions_never_raise() -> None:
    scope = parse_scope("## In scope\n- `packages/core/src\\`\n- `packages/core/src/orders/**`\n")
    assert scope.in_scope == ("packages/core/src/orders/**",)
    decision = decide_write(POLICY, "packages/core/src/x.ts", scope=scope)
    assert (decision.allowed, decision.rule) == (False, "story-not-in-scope")


def test_a_leading_dot_slash_is_dropped_and_a_repeated_glob_is_kept_once() -> None:
    text = "## In scope\n- `./packages/core/**`\n- `packages/core/**` - again\n"
    assert parse_scope(text).in_scope == ("packages/core/**",)


@pytest.mark.parametrize("fence", ["```", "~~~", "````"])
def test_globs_inside_a_code_fence_are_skipped_and_collection_resumes_after_it(fence: str) -> None:
    text = (
        "## In scope\n"
        "- `packages/core/**`\n"
        f"{fence}md\n"
        "## Out of scope\n"
        "- `packages/backend/**`\n"
        f"{fence}\n"
        "- `apps/api/api/**`\n"
    )
    scope = parse_scope(text)
    assert scope.in_scope == ("packages/core/**", "apps/api/api/**")
    assert scope.out_of_scope == ()


def test_a_tilde_line_inside_a_backtick_fence_does_not_close_it() -> None:
    text = "## In scope\n```\n~~~\n- `packages/ui/**`\n```\n- `packages/core/**`\n"
    assert parse_scope(text).in_scope == ("packages/core/**",)


def test_a_following_unrelated_heading_of_the_same_level_ends_the_section() -> None:
    text = "## In scope\n- `packages/core/**`\n\n## Notes\n- `packages/ui/**` is the frontend's.\n"
    scope = parse_scope(text)
    assert scope.in_scope == ("packages/core/**",)
    assert scope.out_of_scope == ()


def test_a_higher_level_unrelated_heading_ends_a_level_three_section() -> None:
    text = "### In scope\n- `packages/core/**`\n## Risks\n- `packages/db/**`\n"
    assert parse_scope(text).in_scope == ("packages/core/**",)


def test_a_deeper_unrelated_heading_stays_inside_the_section() -> None:
    text = "## In scope\n### Core\n- `packages/core/**`\n### API\n- `apps/api/api/**`\n"
    assert parse_scope(text).in_scope == ("packages/core/**", "apps/api/api/**")


def test_any_heading_ends_a_section_started_by_a_bold_line() -> None:
    text = "**Out of scope:**\n- `apps/web/**`\n#### Later\n- `packages/ui/**`\n"
    assert parse_scope(text).out_of_scope == ("apps/web/**",)


def test_globs_before_any_scope_heading_are_ignored() -> None:
    text = "# STORY-042\nSee `packages/core/**` for context.\n## In scope\n- `apps/api/api/**`\n"
    assert parse_scope(text).in_scope == ("apps/api/api/**",)


def test_in_and_out_sections_in_one_file_fill_both_lists() -> None:
    text = "## In scope\n- `packages/core/**`\n## Out of scope\n- `packages/core/src/legacy/**`\n"
    scope = parse_scope(text, "STORY-1/_implementation/SCOPE.md")
    assert scope == ScopeLists(
        in_scope=("packages/core/**",),
        out_of_scope=("packages/core/src/legacy/**",),
        source="STORY-1/_implementation/SCOPE.md",
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "# STORY-042 scope\n\nBackend only: `packages/core/**` and an endpoint.\n",
        "## In scope\nThe cancel use case and its endpoint.\n## Out of scope\nThe web button.\n",
        "## In scope\n- `cancelOrder`\n",
    ],
)
def test_a_scope_without_glob_lists_narrows_nothing_and_says_so(text: str) -> None:
    scope = parse_scope(text, "STORY-042/_implementation/SCOPE.md")
    assert (scope.in_scope, scope.out_of_scope) == ((), ())
    assert describe(scope) == (
        "STORY-042/_implementation/SCOPE.md lists no globs under In scope / Out of scope headings: "
        "it narrows nothing, the policy alone decides."
    )


def test_describe_counts_the_globs_of_each_list() -> None:
    scope = ScopeLists(in_scope=("a/**", "b/**"), out_of_scope=("c/**",), source="SCOPE.md")
    assert describe(scope) == (
        "SCOPE.md: writes must match one of 2 In scope globs; 1 Out of scope globs are refused "
        "(on top of the policy, never wider)."
    )


@pytest.mark.parametrize(
    "line",
    [
        "# " + " " * 2000 + "#" * 2000 + " " * 2000 + "x",
        "**a**" + " " * 50_000 + "x",
        "**a" + "**" * 20_000 + " " * 20_000 + "x",
    ],
)
def test_a_pathological_heading_line_is_parsed_in_linear_time(line: str) -> None:
    # the old heading regex needed about ten seconds for the first line; linear parsing needs milliseconds
    started = time.perf_counter()
    scope = parse_scope(f"## In scope\n{line}\n- `packages/core/**`\n")
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0
    assert isinstance(scope, ScopeLists)


# --- properties -----------------------------------------------------------------------------------------

_word = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
_line = st.one_of(
    _word,
    st.builds(
        lambda lvl, t: "#" * lvl + " " + t,
        st.integers(1, 7),
        st.sampled_from(["In scope", "Out of scope", "x"]),
    ),
    st.sampled_from(["**In scope:**", "**Out of scope:**", "```", "~~~", "- ", "`"]),
    st.builds(lambda w: f"- `{w}`", _word),
    st.builds(lambda a, b: f"- `{a}/{b}` and `{b}*`", _word, _word),
)


@given(st.text())
def test_parse_scope_never_raises_on_arbitrary_text(text: str) -> None:
    scope = parse_scope(text)
    assert all(glob.strip() == glob and glob for glob in (*scope.in_scope, *scope.out_of_scope))


@given(st.lists(_line, max_size=20).map("\n".join))
def test_every_scope_parsed_from_markdown_can_be_used_to_decide_a_write(text: str) -> None:
    scope = parse_scope(text)
    decision = decide_write(POLICY, "packages/core/src/orders/cancel-order.ts", scope=scope)
    assert decision.rule in ("core-package", "story-not-in-scope", "story-out-of-scope", "story-scope-unreadable")
    assert (decision.rule == "story-scope-unreadable") == bool(scope.unreadable)


# --- only list items that are globs count (issue 11, hole 2) ----------------------------------------------


def test_a_sentence_under_in_scope_that_names_a_path_does_not_allow_it() -> None:
    text = "## In scope\n- `packages/core/src/orders/**`\nDo not touch `packages/db/migrations/**` in this story.\n"
    scope = parse_scope(text)
    assert scope.in_scope == ("packages/core/src/orders/**",)
    decision = decide_write(POLICY, "packages/db/migrations/002_x.sql", scope=scope)
    assert (decision.allowed, decision.rule) == (False, "story-not-in-scope")


def test_a_sentence_under_out_of_scope_adds_no_glob_and_is_reported_as_ignored() -> None:
    text = "## Out of scope\n- `apps/web/**`\nThere is no schema change: nothing under `packages/db/` changes.\n"
    reading = read_scope(text)
    assert reading.lists.out_of_scope == ("apps/web/**",)
    assert [(i.section, i.line, i.text) for i in reading.ignored] == [("out_of_scope", 3, "packages/db/")]
    assert "sentence" in reading.ignored[0].reason


@pytest.mark.parametrize(
    "item",
    [
        "- `packages/core/src/orders/**`",
        "* `packages/core/src/orders/**`",
        "+ `packages/core/src/orders/**`",
        "1. `packages/core/src/orders/**`",
        "  - `packages/core/src/orders/**`",
        "- `packages/core/src/orders/**`.",
        "- `packages/core/src/orders/**` - the cancel use case",
        "- `packages/core/src/orders/**` — the cancel use case",
        "- `packages/core/src/orders/**`: the cancel use case",
        "- `./packages/core/src/orders/**`",
    ],
)
def test_a_list_item_whose_first_token_is_a_backticked_glob_counts(item: str) -> None:
    reading = read_scope(f"## In scope\n{item}\n")
    assert reading.lists.in_scope == ("packages/core/src/orders/**",)
    assert reading.ignored == ()


@pytest.mark.parametrize(
    ("item", "ignored"),
    [
        ("- the use case in `packages/db/**`", ["packages/db/**"]),
        ("- `packages/db/**` must not change", ["packages/db/**"]),
        ("- `packages/db/**` and `packages/ui/**`", ["packages/db/**", "packages/ui/**"]),
        ("- (`packages/db/**`)", ["packages/db/**"]),
        ("Do not touch `packages/db/**` in this story.", ["packages/db/**"]),
        ("> - `packages/db/**`", ["packages/db/**"]),
    ],
)
def test_prose_in_a_scope_section_is_ignored_and_reported_with_its_reason(item: str, ignored: list[str]) -> None:
    reading = read_scope(f"## In scope\n- `packages/core/**`\n{item}\n")
    assert reading.lists.in_scope == ("packages/core/**",)
    assert [i.text for i in reading.ignored] == ignored
    assert all(i.section == "in_scope" and i.line == 3 and i.reason for i in reading.ignored)
    assert decide_write(POLICY, "packages/db/migrations/1.sql", scope=reading.lists).allowed is False


def test_a_path_in_the_explanation_of_a_glob_item_is_ignored_and_the_glob_counts() -> None:
    reading = read_scope("## In scope\n- `packages/core/**` — but not `packages/core/legacy/**`\n")
    assert reading.lists.in_scope == ("packages/core/**",)
    assert [i.text for i in reading.ignored] == ["packages/core/legacy/**"]


def test_an_invalid_glob_in_a_list_item_is_reported_as_ignored() -> None:
    reading = read_scope("## In scope\n- `packages/core/src\\`\n- `packages/core/src/orders/**`\n")
    assert reading.lists.in_scope == ("packages/core/src/orders/**",)
    assert [(i.text, i.line) for i in reading.ignored] == [("packages/core/src\\", 2)]


@pytest.mark.parametrize(
    "text",
    [
        "## In scope\nDo not touch `packages/db/migrations/**` in this story.\n",
        "## In scope\n- the endpoint under `apps/api/api/orders/**`\n",
        "## In scope\n- `packages/core/src\\`\n",
        "## In scope\n- `packages/core/**` and `packages/db/**`\n## Out of scope\n- `apps/web/**`\n",
        "## Out of scope\nThe web button (`apps/web/**`) is STORY-043.\n",
        "## In scope\n- `packages/core/**`\n## Out of scope\nNothing under `packages/core/src/legacy/` changes.\n",
    ],
)
def test_a_scope_section_that_names_paths_but_lists_no_glob_refuses_every_write(text: str) -> None:
    # "no In scope list" would mean no narrowing, i.e. wider: a section that cannot be read narrows to nothing
    scope = parse_scope(text, "STORY-1/_implementation/SCOPE.md")
    assert scope.unreadable
    for path in ("packages/core/src/orders/cancel.ts", "packages/db/migrations/1.sql", "apps/api/api/orders/x.ts"):
        decision = decide_write(POLICY, path, scope=scope)
        assert (decision.allowed, decision.rule) == (False, "story-scope-unreadable")
        assert decision.policy_file == "STORY-1/_implementation/SCOPE.md"
        assert "SCOPE.md" in decision.reason
        assert "report_blocker" in decision.instead
    assert "every write is refused" in describe(scope)


def test_a_policy_refusal_still_names_its_own_rule_under_an_unreadable_scope() -> None:
    scope = parse_scope("## In scope\nSee `packages/core/**`.\n")
    decision = decide_write(POLICY, ".env", scope=scope)
    assert (decision.allowed, decision.rule) == (False, "no-env-files")


def test_the_example_story_scope_ignores_nothing() -> None:
    reading = read_scope(EXAMPLE.read_text(encoding="utf-8"))
    assert reading.ignored == ()
    assert reading.lists.unreadable == ""
