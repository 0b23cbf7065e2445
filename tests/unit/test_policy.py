"""The default policy decides every path the way DESIGN.md "Policy" says, and a bad policy fails loudly."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storyfence.core.content import check_content
from storyfence.core.decisions import (
    ScopeLists,
    decide_read,
    decide_write,
    frontend_package_refusal,
    owning_package,
    protected_rules,
)
from storyfence.core.errors import PolicyError
from storyfence.core.patterns import match_name
from storyfence.core.policy import PackageFacts, Policy
from storyfence.core.policy_load import extend_policy, parse_policy
from tests.support.policies import backend_data, backend_policy

SOURCE = "policies/backend.toml"
BUILT_IN = "storyfence (built in)"

POLICY: Policy = backend_policy()


# --- writes the default policy allows -----------------------------------------------------------------------

ALLOWED_WRITES = [
    ("packages/core/src/orders/cancel-order.ts", "core-package", "packages/core/**"),
    ("packages/backend/src/x.ts", "backend-package", "packages/backend/**"),
    ("apps/api/api/orders/[id]/cancel.ts", "api-endpoints", "apps/*/api/**"),
    ("api/health.ts", "api-endpoints", "/api/**"),
    ("packages/db/migrations/0002_x.sql", "database", "packages/db/**"),
    ("prisma/schema.prisma", "database", "**/prisma/schema.prisma"),
    ("apps/api/prisma/schema.prisma", "database", "**/prisma/schema.prisma"),
    ("__http__/orders-cancel.http", "http-requests", "/__http__/**/*.http"),
    ("__http__/sub/x.http", "http-requests", "/__http__/**/*.http"),
    ("apps/web/app/api/orders/route.ts", "api-endpoints", "apps/*/app/api/**/route.ts"),
    ("apps/web/app/api/orders/[id]/route.ts", "api-endpoints", "apps/*/app/api/**/route.ts"),
]


@pytest.mark.parametrize(("path", "rule", "pattern"), ALLOWED_WRITES)
def test_a_backend_path_is_allowed_by_the_allow_rule_that_matches_it(path: str, rule: str, pattern: str) -> None:
    decision = decide_write(POLICY, path)
    assert (decision.allowed, decision.rule, decision.pattern) == (True, rule, pattern)
    assert decision.kind == "allow"
    assert decision.policy_file == SOURCE


# --- writes the default policy refuses ----------------------------------------------------------------------

REFUSED_WRITES = [
    # deny rules (deny wins over every allow rule)
    ("apps/web/app/page.tsx", "no-react-components", "*.tsx"),
    ("packages/core/src/Button.tsx", "no-react-components", "*.tsx"),
    ("apps/api/api/orders/view.jsx", "no-react-components", "*.jsx"),
    ("packages/ui/src/Button.ts", "no-frontend-packages", "packages/ui/**"),
    ("apps/web/lib/orders.ts", "no-frontend-packages", "apps/web/**"),
    ("packages/core/components/x.ts", "no-ui-folders", "**/components/**"),
    # gitignore semantics: the last matching pattern of the rule is the one reported
    (".env", "no-env-files", ".env*"),
    ("apps/api/.env.local", "no-env-files", ".env*"),
    ("packages/backend/.env", "no-env-files", ".env*"),
    ("packages/backend/prod.env", "no-env-files", "*.env"),
    ("packages/backend/Dockerfile", "no-docker-files", "Dockerfile"),
    ("docker-compose.yml", "no-compose-files", "**/docker-compose*.yml"),
    ("compose.yaml", "no-compose-files", "**/compose.yaml"),
    ("apps/api/orders.http", "http-files-under-http-dir", "*.http"),
    ("api/__http__/orders.http", "http-files-under-http-dir", "*.http"),
    # built-in protections
    ("STORY-042/STORY-042.md", "protected-story-inputs", "**/STORY-*/STORY-*.md"),
    ("STORY-042/_implementation/SCOPE.md", "protected-story-inputs", "**/STORY-*/_implementation/SCOPE.md"),
    (
        "STORY-042/_implementation/IMPLEMENTATION-PLAN.md",
        "protected-story-inputs",
        "**/STORY-*/_implementation/IMPLEMENTATION-PLAN.md",
    ),
    ("docs/stories/STORY-7/STORY-7.md", "protected-story-inputs", "**/STORY-*/STORY-*.md"),
    (
        "STORY-042/_implementation/BACKEND-LOG.md",
        "protected-server-owned",
        "**/_implementation/BACKEND-LOG.md",
    ),
    ("STORY-042/_implementation/BLOCKERS.md", "protected-server-owned", "**/_implementation/BLOCKERS.md"),
    (
        "STORY-042/_implementation/.storyfence/journal.jsonl",
        "protected-server-owned",
        "**/_implementation/.storyfence/**",
    ),
    (
        "packages/core/STORY-9/_implementation/BACKEND-LOG.md",
        "protected-server-owned",
        "**/_implementation/BACKEND-LOG.md",
    ),
    (".git/config", "protected-git", "**/.git/**"),
    ("packages/core/.git", "protected-git", "**/.git"),
    ("packages/core/vendor/.git/hooks/pre-commit", "protected-git", "**/.git/**"),
    (".storyfence.toml", "protected-policy", ".storyfence.toml"),
    (".claude/settings.json", "protected-policy", ".claude/**"),
    (".mcp.json", "protected-policy", ".mcp.json"),
]


@pytest.mark.parametrize(("path", "rule", "pattern"), REFUSED_WRITES)
def test_a_path_outside_backend_scope_is_refused_by_the_rule_that_matches_it(
    path: str, rule: str, pattern: str
) -> None:
    decision = decide_write(POLICY, path)
    assert (decision.allowed, decision.rule, decision.pattern) == (False, rule, pattern)
    assert decision.kind == "deny"
    expected_file = BUILT_IN if rule.startswith("protected-") else SOURCE
    assert decision.policy_file == expected_file


@pytest.mark.parametrize(
    "path", ["README.md", "IMPLEMENTATION-PLAN.md", "BACKEND-LOG.md", "BLOCKERS.md", "scripts/seed.ts"]
)
def test_a_path_no_allow_rule_matches_is_refused_by_default_deny(path: str) -> None:
    decision = decide_write(POLICY, path)
    assert (decision.allowed, decision.rule, decision.pattern) == (False, "default-deny", None)
    assert decision.policy_file == SOURCE
    assert "check_path" in decision.instead


def test_a_misplaced_http_file_is_told_to_move_under_the_http_dir_with_its_own_name() -> None:
    decision = decide_write(POLICY, "apps/api/orders.http")
    assert decision.instead == "write `__http__/orders.http`."
    message = decision.message()
    assert message.startswith("apps/api/orders.http: refused by rule `http-files-under-http-dir` (pattern `*.http`)")
    assert f"in {SOURCE}:" in message
    assert message.endswith("Instead: write `__http__/orders.http`.")


def test_an_allowed_decision_message_carries_no_instead_text() -> None:
    message = decide_write(POLICY, "packages/backend/src/x.ts").message()
    assert message == (
        "packages/backend/src/x.ts: allowed by rule `backend-package` (pattern `packages/backend/**`) "
        f"in {SOURCE}: packages/backend/** is backend scope."
    )


def test_protected_paths_are_refused_even_when_an_allow_rule_covers_them() -> None:
    # packages/core/** allows everything under it; the protection still wins
    decision = decide_write(POLICY, "packages/core/.git/config")
    assert (decision.allowed, decision.rule) == (False, "protected-git")


def test_decide_write_uses_the_builtin_protections_derived_from_the_policy_stories_by_default() -> None:
    explicit = decide_write(POLICY, "STORY-042/STORY-042.md", protected=protected_rules(POLICY.stories))
    assert decide_write(POLICY, "STORY-042/STORY-042.md") == explicit


def test_an_explicit_empty_protection_list_leaves_only_the_policy_rules() -> None:
    decision = decide_write(POLICY, "packages/core/.git/config", protected=())
    assert (decision.allowed, decision.rule) == (True, "core-package")


def test_extra_policy_files_passed_to_protected_rules_are_refused() -> None:
    guards = protected_rules(POLICY.stories, ("/packages/backend/storyfence.toml",))
    decision = decide_write(POLICY, "packages/backend/storyfence.toml", protected=guards)
    assert (decision.allowed, decision.rule, decision.pattern) == (
        False,
        "protected-policy",
        "/packages/backend/storyfence.toml",
    )


def test_story_inputs_follow_the_policy_story_id_glob() -> None:
    guards = protected_rules(POLICY.stories.model_copy(update={"id_glob": "JIRA-*"}))
    assert decide_write(POLICY, "JIRA-12/JIRA-12.md", protected=guards).rule == "protected-story-inputs"
    assert decide_write(POLICY, "STORY-042/STORY-042.md", protected=guards).rule == "default-deny"


def test_a_repo_policy_rule_named_like_a_builtin_is_attributed_to_the_repo_policy_file() -> None:
    data = backend_data()
    data["rules"].append(
        {"id": "protected-scripts", "kind": "deny", "patterns": ["packages/core/scripts/**"], "reason": "no."}
    )
    policy = parse_policy(data, ".storyfence.toml")
    decision = decide_write(policy, "packages/core/scripts/x.ts")
    assert (decision.rule, decision.policy_file) == ("protected-scripts", ".storyfence.toml")


@pytest.mark.parametrize(
    "path",
    [
        "packages/core/a\nb/.git/config",
        "packages/core/x\n/_implementation/BACKEND-LOG.md",
        "packages/core/a\nb/Button.tsx",
        "api/tab\there.ts",
        "packages/backend/src/x\r.ts",
    ],
)
def test_a_path_with_a_control_character_is_refused_before_any_pattern_is_matched(path: str) -> None:
    # pathspec's `**/` does not cross a newline, so such a path would slip past the protections
    decision = decide_write(POLICY, path)
    assert (decision.allowed, decision.rule, decision.policy_file) == (
        False,
        "no-control-characters",
        BUILT_IN,
    )


# --- reads ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "pattern"),
    [
        (".env", ".env*"),
        ("apps/api/.env", ".env*"),
        (".env.local", ".env*"),
        ("id_rsa", "**/id_rsa*"),
        ("keys/id_rsa", "**/id_rsa*"),
        ("server.pem", "*.pem"),
        ("certs/prod/server.pem", "*.pem"),
        (".npmrc", "**/.npmrc"),
        ("home/.ssh/config", "**/.ssh/**"),
        ("apps/api/x\n/.env", None),
    ],
)
def test_a_secret_is_refused_for_reading(path: str, pattern: str | None) -> None:
    decision = decide_read(POLICY, path)
    if pattern is None:
        assert (decision.allowed, decision.rule) == (False, "no-control-characters")
    else:
        assert (decision.allowed, decision.rule, decision.pattern) == (False, "no-secret-reads", pattern)
        assert decision.instead == "use the variable names from .env.example or the code that reads process.env."


@pytest.mark.parametrize(
    "path",
    [
        ".env.example",
        "apps/api/.env.example",
        "apps/api/.env.sample",
        "packages/core/src/orders/cancel-order.ts",
        "apps/web/app/page.tsx",
        "STORY-042/_implementation/SCOPE.md",
        "README.md",
    ],
)
def test_a_non_secret_is_readable_even_when_writing_it_is_refused(path: str) -> None:
    decision = decide_read(POLICY, path)
    assert (decision.allowed, decision.rule, decision.pattern) == (True, "read-allowed", None)


# --- the story's SCOPE.md narrows, never widens ------------------------------------------------------------

SCOPE = ScopeLists(
    in_scope=(
        "packages/core/src/orders/**",
        "__http__/orders-cancel.http",
        "apps/web/**",
        "README.md",
        ".git/**",
    ),
    out_of_scope=("packages/core/src/orders/legacy/**",),
    source="STORY-042/_implementation/SCOPE.md",
)


def test_a_path_on_the_in_scope_list_keeps_the_policy_allow_rule() -> None:
    decision = decide_write(POLICY, "packages/core/src/orders/cancel-order.ts", scope=SCOPE)
    assert (decision.allowed, decision.rule, decision.pattern) == (True, "core-package", "packages/core/**")


def test_a_policy_allowed_path_missing_from_the_in_scope_list_is_refused_as_not_in_scope() -> None:
    decision = decide_write(POLICY, "packages/core/src/index.ts", scope=SCOPE)
    assert (decision.allowed, decision.rule, decision.pattern) == (False, "story-not-in-scope", None)
    assert decision.policy_file == "STORY-042/_implementation/SCOPE.md"
    assert "`packages/core/src/orders/**`" in decision.instead


def test_an_out_of_scope_match_is_refused_even_inside_the_in_scope_list() -> None:
    decision = decide_write(POLICY, "packages/core/src/orders/legacy/old.ts", scope=SCOPE)
    assert (decision.allowed, decision.rule, decision.pattern) == (
        False,
        "story-out-of-scope",
        "packages/core/src/orders/legacy/**",
    )
    assert decision.policy_file == "STORY-042/_implementation/SCOPE.md"


@pytest.mark.parametrize(
    ("path", "rule"),
    [
        ("apps/web/app/page.tsx", "no-react-components"),
        ("apps/web/lib/orders.ts", "no-frontend-packages"),
        ("README.md", "default-deny"),
        (".git/config", "protected-git"),
    ],
)
def test_an_in_scope_listing_never_widens_what_the_policy_refuses(path: str, rule: str) -> None:
    decision = decide_write(POLICY, path, scope=SCOPE)
    assert (decision.allowed, decision.rule) == (False, rule)


def test_a_scope_with_only_an_out_of_scope_list_leaves_other_allowed_paths_alone() -> None:
    scope = ScopeLists(out_of_scope=("packages/db/**",))
    assert decide_write(POLICY, "packages/backend/src/x.ts", scope=scope).allowed is True
    refused = decide_write(POLICY, "packages/db/migrations/0003.sql", scope=scope)
    assert (refused.allowed, refused.rule, refused.pattern) == (False, "story-out-of-scope", "packages/db/**")


def test_an_empty_scope_narrows_nothing() -> None:
    for path, rule, _ in ALLOWED_WRITES:
        decision = decide_write(POLICY, path, scope=ScopeLists())
        assert (decision.allowed, decision.rule) == (True, rule)


# --- invalid policies fail with the file, the key and the reason --------------------------------------------


def _rule_index(data: dict[str, Any], rule_id: str) -> int:
    return next(i for i, r in enumerate(data["rules"]) if r["id"] == rule_id)


def _set_rule(rule_id: str, key: str, value: object) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        data["rules"][_rule_index(data, rule_id)][key] = value

    return edit


INVALID = [
    pytest.param(
        _set_rule("no-react-components", "kind", "maybe"),
        f"rules.{_rule_index(backend_data(), 'no-react-components')}.kind",
        "'allow', 'deny'",
        id="kind",
    ),
    pytest.param(
        _set_rule("no-react-components", "patterns", []),
        f"rules.{_rule_index(backend_data(), 'no-react-components')}.patterns",
        "at least 1",
        id="empty",
    ),
    pytest.param(
        lambda d: d["rules"].append(dict(d["rules"][0])),
        "rules",
        "duplicate rule id 'no-env-files'",
        id="dup",
    ),
    pytest.param(
        lambda d: d["typecheck"].__setitem__("command", ["pnpm", "tsc"]),
        "typecheck.command",
        "{package}",
        id="no-package",
    ),
    pytest.param(lambda d: d.__setitem__("colour", "blue"), "colour", "Extra inputs are not permitted", id="extra"),
    pytest.param(
        _set_rule("no-env-files", "severity", "high"),
        "rules.0.severity",
        "Extra inputs are not permitted",
        id="rx",
    ),
    pytest.param(_set_rule("no-env-files", "patterns", ["src\\"]), "rules.0.patterns", "gitignore", id="glob"),
    pytest.param(_set_rule("no-env-files", "id", "No Env"), "rules.0.id", "should match pattern", id="id"),
    pytest.param(
        lambda d: d["stories"].__setitem__("id_pattern", "STORY-["),
        "stories.id_pattern",
        "invalid regular expression",
        id="regex",
    ),
]


@pytest.mark.parametrize(("edit", "key", "reason"), INVALID)
def test_an_invalid_policy_is_refused_naming_the_file_the_key_and_the_reason(
    edit: Callable[[dict[str, Any]], None], key: str, reason: str
) -> None:
    data = copy.deepcopy(backend_data())
    edit(data)
    with pytest.raises(PolicyError) as caught:
        parse_policy(data, "repo/.storyfence.toml")
    message = str(caught.value)
    assert message.startswith("Invalid policy repo/.storyfence.toml: ")
    assert f"key `{key}`:" in message
    assert reason in message


def test_the_default_policy_names_its_source_file() -> None:
    assert POLICY.sources == (SOURCE,)
    assert POLICY.source_label == SOURCE
    assert POLICY.typecheck.max_fix_attempts == 2


def test_a_parsed_policy_is_frozen() -> None:
    with pytest.raises(Exception, match="frozen"):
        POLICY.name = "relaxed"  # type: ignore[misc]


# --- a repo policy layered over the default --------------------------------------------------------------


OVERLAY: dict[str, Any] = {
    "extends": "backend",
    "rules": [
        {"id": "no-env-files", "kind": "deny", "patterns": ["secrets.env"], "reason": "only this one."},
        {"id": "scripts", "kind": "allow", "patterns": ["scripts/**"], "reason": "repo scripts are backend."},
    ],
    "typecheck": {"timeout_seconds": 60},
}


def test_extending_replaces_a_rule_with_the_same_id_in_place_and_appends_new_rules() -> None:
    merged = extend_policy(POLICY, OVERLAY, ".storyfence.toml")
    ids = [r.id for r in merged.rules]
    assert ids == [*(r.id for r in POLICY.rules), "scripts"]
    replaced = merged.rules[ids.index("no-env-files")]
    assert replaced.patterns == ("secrets.env",)
    assert decide_write(merged, ".env").rule == "default-deny"
    assert decide_write(merged, "apps/api/secrets.env").rule == "no-env-files"
    decision = decide_write(merged, "scripts/seed.ts")
    assert (decision.allowed, decision.rule, decision.policy_file) == (
        True,
        "scripts",
        f"{SOURCE} + .storyfence.toml",
    )


def test_extending_merges_the_typecheck_table_key_by_key() -> None:
    merged = extend_policy(POLICY, OVERLAY, ".storyfence.toml")
    assert merged.typecheck.timeout_seconds == 60
    assert merged.typecheck.command == POLICY.typecheck.command
    assert merged.typecheck.max_fix_attempts == POLICY.typecheck.max_fix_attempts


def test_an_extended_policy_lists_both_source_files() -> None:
    merged = extend_policy(POLICY, OVERLAY, ".storyfence.toml")
    assert merged.sources == (SOURCE, ".storyfence.toml")
    assert POLICY.sources == (SOURCE,)  # the base is untouched


@pytest.mark.parametrize(
    ("overlay", "key"),
    [
        ({"rules": [{"id": "x", "kind": "maybe", "patterns": ["a"], "reason": "r"}]}, "kind"),
        ({"rules": "scripts/**"}, "rules"),
        ({"typecheck": {"command": ["tsc"]}}, "typecheck.command"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_an_invalid_overlay_is_refused_naming_the_overlay_file_and_the_key(overlay: dict[str, Any], key: str) -> None:
    with pytest.raises(PolicyError) as caught:
        extend_policy(POLICY, overlay, ".storyfence.toml")
    assert str(caught.value).startswith("Invalid policy .storyfence.toml: ")
    assert f"key `{key}`" in str(caught.value)


def test_an_invalid_user_rule_is_named_by_its_own_place_and_id_not_the_merged_index() -> None:
    overlay = {"rules": [{"id": "ours", "kind": "allow", "patterns": ["a/**"], "reason": "r"}, {"id": "bad"}]}
    with pytest.raises(PolicyError) as caught:
        extend_policy(POLICY, overlay, ".storyfence.toml")
    text = str(caught.value)
    assert "rules[1] (`bad`): key `kind`" in text
    assert "rules.1" not in text
    assert f"rules.{len(POLICY.rules) + 1}" not in text


# --- properties -----------------------------------------------------------------------------------------

_segment = st.text(st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)), min_size=1).filter(
    lambda s: s not in (".", "..")
)
_prefix = st.one_of(
    st.lists(_segment, max_size=4),
    st.sampled_from(
        [["packages", "core"], ["packages", "backend", "src"], ["apps", "api", "api"], ["api"], ["__http__"]]
    ).flatmap(lambda head: st.lists(_segment, max_size=3).map(lambda tail: head + tail)),
)


@given(_prefix, st.lists(_segment, max_size=3))
def test_decide_write_never_raises_and_returns_a_decision_for_the_path_it_was_given(
    head: list[str], tail: list[str]
) -> None:
    path = "/".join(head + tail) or "x"
    decision = decide_write(POLICY, path)
    assert decision.path == path
    assert decision.rule


@given(_prefix, st.lists(_segment, min_size=1, max_size=3))
def test_no_path_inside_a_git_directory_is_ever_writable(head: list[str], tail: list[str]) -> None:
    path = "/".join([*head, ".git", *tail])
    decision = decide_write(POLICY, path)
    assert decision.allowed is False
    assert decision.rule in ("protected-git", "no-control-characters")


@given(_prefix.filter(bool))
def test_no_backend_log_is_ever_writable(head: list[str]) -> None:
    path = "/".join([*head, "_implementation", "BACKEND-LOG.md"])
    decision = decide_write(POLICY, path)
    assert decision.allowed is False
    # an earlier protection may win first: `.mcp.json/_implementation/BACKEND-LOG.md` is under a client config
    assert decision.rule.startswith("protected-") or decision.rule == "no-control-characters"


@given(_prefix, st.lists(_segment, max_size=3))
def test_decide_read_never_raises(head: list[str], tail: list[str]) -> None:
    path = "/".join(head + tail) or "x"
    assert decide_read(POLICY, path).path == path


# --- .http files live under __http__/ ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("apps/api/orders.http", "__http__/orders.http"),
        ("packages/backend/requests/orders-cancel.http", "__http__/orders-cancel.http"),
        ("apps/api/__http__/orders-cancel.http", "__http__/orders-cancel.http"),
        ("orders-cancel.http", "__http__/orders-cancel.http"),
    ],
)
def test_a_http_file_outside_the_root_http_dir_is_refused_with_the_path_it_should_have(path: str, target: str) -> None:
    decision = decide_write(POLICY, path)
    assert (decision.allowed, decision.rule, decision.pattern) == (False, "http-files-under-http-dir", "*.http")
    assert decision.instead == f"write `{target}`."


# --- frontend packages by manifest ---------------------------------------------------------------------------

ROOT_PKG = PackageFacts(dir=".", name="shop-monorepo", dependencies=("turbo", "react"))
SHOP = PackageFacts(dir="apps/shop", name="@acme/shop", dependencies=("@acme/core", "next", "react", "react-dom"))
ADMIN = PackageFacts(dir="apps/admin", name="@acme/admin", dependencies=("@angular/core", "rxjs"))
DASH = PackageFacts(dir="apps/dash", name="@acme/dash", dependencies=("vue",))
API = PackageFacts(dir="apps/api", name="@acme/api", dependencies=("@acme/core", "zod"))
BACKEND = PackageFacts(
    dir="packages/backend", name="@acme/backend", dependencies=("@acme/core", "react", "@react-email/components")
)
CORE = PackageFacts(dir="packages/core", name="@acme/core", dependencies=("zod",))
PACKAGES = (ROOT_PKG, SHOP, ADMIN, DASH, API, BACKEND, CORE)


@pytest.mark.parametrize(
    ("path", "dependency", "package"),
    [
        ("apps/shop/api/orders.ts", "react", "@acme/shop"),  # allowed by apps/*/api/** without the manifest
        ("apps/shop/lib/cart.ts", "react", "@acme/shop"),
        ("apps/shop/app/api/orders/helpers.ts", "react", "@acme/shop"),
        ("apps/admin/api/users.ts", "@angular/core", "@acme/admin"),
        ("apps/dash/api/stats.ts", "vue", "@acme/dash"),
        ("apps/dash/package.json", "vue", "@acme/dash"),
    ],
)
def test_a_write_into_a_package_whose_manifest_depends_on_a_frontend_framework_is_refused(
    path: str, dependency: str, package: str
) -> None:
    decision = decide_write(POLICY, path, packages=PACKAGES)
    assert (decision.allowed, decision.rule, decision.pattern) == (
        False,
        "no-frontend-packages-by-manifest",
        dependency,
    )
    assert decision.kind == "deny"
    assert decision.policy_file == SOURCE
    folder = path.split("/")[0] + "/" + path.split("/")[1]
    assert decision.reason.startswith(f"`{folder}` is the workspace package `{package}`, a frontend package")
    assert decision.instead.startswith(f"leave `{folder}` ({package}) to the frontend story")


def test_the_refusal_names_the_dependency_and_the_list_entry_it_matched() -> None:
    decision = decide_write(POLICY, "apps/admin/api/users.ts", packages=PACKAGES)
    assert "its package.json depends on `@angular/core` (listed as `@angular/*`)." in decision.reason
    shop = decide_write(POLICY, "apps/shop/api/orders.ts", packages=PACKAGES)
    assert "depends on `react`. frontend packages" in shop.reason  # react is listed before next


@pytest.mark.parametrize(
    ("path", "rule"),
    [
        ("packages/backend/src/orders.ts", "backend-package"),  # depends on react, named a backend package
        ("packages/core/src/orders/cancel-order.ts", "core-package"),
        ("apps/api/api/orders/index.ts", "api-endpoints"),
        ("apps/shop/app/api/orders/route.ts", "api-endpoints"),  # a Next route handler stays allowed
        ("apps/shop/app/api/orders/[id]/route.ts", "api-endpoints"),
        ("apps/shop/src/app/api/orders/route.ts", "api-endpoints"),
        ("__http__/orders.http", "http-requests"),  # owned by the root package only
        ("api/health.ts", "api-endpoints"),
    ],
)
def test_backend_writes_pass_when_the_repo_also_has_frontend_packages(path: str, rule: str) -> None:
    decision = decide_write(POLICY, path, packages=PACKAGES)
    assert (decision.allowed, decision.rule) == (True, rule)


def test_the_path_deny_rules_are_reported_before_the_manifest_rule() -> None:
    assert decide_write(POLICY, "apps/shop/components/Cart.ts", packages=PACKAGES).rule == "no-ui-folders"
    assert decide_write(POLICY, "apps/shop/app/page.tsx", packages=PACKAGES).rule == "no-react-components"


def test_protections_still_come_first_inside_a_frontend_package() -> None:
    decision = decide_write(POLICY, "apps/shop/.git/config", packages=PACKAGES)
    assert decision.rule == "protected-git"


def test_a_backend_package_may_be_named_by_package_name_or_glob() -> None:
    for entry in ("@acme/shop", "apps/shop", "@acme/*", "apps/*"):
        settings = POLICY.frontend_packages.model_copy(update={"backend_packages": (entry,)})
        policy = POLICY.model_copy(update={"frontend_packages": settings})
        assert decide_write(policy, "apps/shop/api/orders.ts", packages=PACKAGES).allowed is True, entry


def test_the_nearest_package_above_a_path_decides() -> None:
    inner = PackageFacts(dir="apps/shop/api", name="@acme/shop-api", dependencies=("zod",))
    assert owning_package("apps/shop/api/orders.ts", (*PACKAGES, inner)) == inner
    assert owning_package("apps/shop/lib/x.ts", (*PACKAGES, inner)) == SHOP
    assert owning_package("apps/shopping/lib/x.ts", PACKAGES) is None  # a folder prefix is not a parent
    assert owning_package("README.md", PACKAGES) is None  # the workspace root never owns a path here
    assert decide_write(POLICY, "apps/shop/api/orders.ts", packages=(*PACKAGES, inner)).allowed is True


def test_the_manifest_rule_can_be_switched_off_and_is_inert_without_packages() -> None:
    off = POLICY.model_copy(
        update={"frontend_packages": POLICY.frontend_packages.model_copy(update={"enabled": False})}
    )
    assert decide_write(off, "apps/shop/api/orders.ts", packages=PACKAGES).allowed is True
    assert decide_write(POLICY, "apps/shop/api/orders.ts").allowed is True
    assert frontend_package_refusal(POLICY, "apps/shop/api/orders.ts", ()) is None


def test_an_overlay_merges_the_frontend_packages_table_key_by_key() -> None:
    merged = extend_policy(POLICY, {"frontend_packages": {"backend_packages": ["apps/shop"]}}, ".storyfence.toml")
    assert merged.frontend_packages.backend_packages == ("apps/shop",)
    assert merged.frontend_packages.dependencies == POLICY.frontend_packages.dependencies
    assert decide_write(merged, "apps/shop/api/orders.ts", packages=PACKAGES).allowed is True
    assert decide_write(merged, "apps/dash/api/stats.ts", packages=PACKAGES).allowed is False


# --- content rules in the policy ----------------------------------------------------------------------------


def test_an_overlay_merges_a_content_rule_with_the_same_id_key_by_key_and_appends_a_new_one() -> None:
    overlay = {
        "content_rules": [
            {"id": "no-port-or-env-change", "paths": ["packages/**"]},
            {"id": "no-sql-in-core", "kind": "markers", "markers": ["SELECT"], "reason": "use the repository."},
        ]
    }
    merged = extend_policy(POLICY, overlay, ".storyfence.toml")
    assert [r.id for r in merged.content_rules] == [*(r.id for r in POLICY.content_rules), "no-sql-in-core"]
    ports = merged.content_rules[2]
    assert ports.paths == ("packages/**",)
    assert ports.reason == POLICY.content_rules[2].reason


def test_an_overlay_rule_with_the_same_id_and_another_kind_replaces_it_whole() -> None:
    overlay = {"content_rules": [{"id": "no-todo-markers", "kind": "definitions", "definitions": ["x"], "reason": "r"}]}
    merged = extend_policy(POLICY, overlay, ".storyfence.toml")
    assert merged.content_rules[1].kind == "definitions"


def test_a_regex_rule_dumps_under_the_key_of_its_kind_so_an_overlay_replaces_that_list() -> None:
    markers, ports = POLICY.content_rules[1], POLICY.content_rules[2]
    assert "markers" in markers.model_dump()
    assert "regexes" not in markers.model_dump()
    assert "definitions" in ports.model_dump()
    overlay = {"content_rules": [{"id": "no-todo-markers", "markers": [r"\bDRAFT\b"]}]}
    merged = extend_policy(POLICY, overlay, ".storyfence.toml")
    assert merged.content_rules[1].model_dump()["markers"] == (r"\bDRAFT\b",)
    assert merged.content_rules[1].reason == markers.reason
    assert check_content(merged, "packages/core/src/a.ts", "", "// DRAFT\n") is not None
    assert check_content(merged, "packages/core/src/a.ts", "", "// TODO\n") is None


def _set_content(index: int, key: str, value: object) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        data["content_rules"][index][key] = value

    return edit


def _drop_content(index: int, key: str) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        del data["content_rules"][index][key]

    return edit


def _set_frontend(key: str, value: object) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        data["frontend_packages"][key] = value

    return edit


INVALID_CONTENT = [
    pytest.param(
        _set_content(1, "markers", ["(unclosed"]),
        "content_rules.1.markers",
        "not a valid regular expression",
        id="regex",
    ),
    pytest.param(
        _set_content(2, "definitions", ["port(\\d+"]),
        "content_rules.2.definitions",
        "not a valid regular expression",
        id="definitions-regex",
    ),
    pytest.param(
        _set_content(1, "markers", []),
        "content_rules.1.markers",
        "at least 1",
        id="markers-empty",
    ),
    pytest.param(
        _set_content(1, "definitions", ["PORT"]),
        "content_rules.1",
        "a `markers` rule lists its regexes under `markers`, not `definitions`",
        id="markers-and-definitions",
    ),
    pytest.param(
        _drop_content(2, "definitions"),
        "content_rules.2",
        "a `definitions` rule needs `definitions`",
        id="definitions-missing",
    ),
    pytest.param(
        _set_content(1, "regexes", ["TODO"]),
        "content_rules.1.regexes",
        "Extra inputs are not permitted",
        id="regexes-key",
    ),
    pytest.param(
        _set_content(0, "kind", "maybe"),
        "content_rules.0",
        "'imports', 'markers', 'definitions'",
        id="kind",
    ),
    pytest.param(
        _set_content(0, "id", "no-env-files"),
        "content_rules",
        "duplicate rule id 'no-env-files'",
        id="dup",
    ),
    pytest.param(
        _set_frontend("id", "no-todo-markers"),
        "frontend_packages",
        "duplicate rule id 'no-todo-markers'",
        id="dup-frontend",
    ),
    pytest.param(
        _set_content(0, "extensions", ["ts"]),
        "content_rules.0.extensions",
        "must look like `.ts`",
        id="ext",
    ),
    pytest.param(
        _set_content(0, "modules", []),
        "content_rules.0.modules",
        "at least 1",
        id="modules",
    ),
    pytest.param(
        _set_content(2, "paths", ["src\\"]),
        "content_rules.2.paths",
        "gitignore",
        id="paths",
    ),
    pytest.param(
        _set_frontend("allow", ["app\\"]),
        "frontend_packages.allow",
        "gitignore",
        id="allow",
    ),
    pytest.param(
        _set_frontend("colour", "blue"),
        "frontend_packages.colour",
        "Extra inputs are not permitted",
        id="extra",
    ),
]


@pytest.mark.parametrize(("edit", "key", "reason"), INVALID_CONTENT)
def test_an_invalid_content_rule_is_refused_naming_the_file_the_key_and_the_reason(
    edit: Callable[[dict[str, Any]], None], key: str, reason: str
) -> None:
    data = copy.deepcopy(backend_data())
    edit(data)
    with pytest.raises(PolicyError) as caught:
        parse_policy(data, "repo/.storyfence.toml")
    message = str(caught.value)
    assert message.startswith("Invalid policy repo/.storyfence.toml: ")
    assert f"key `{key}`:" in message
    assert reason in message


def test_a_policy_without_content_tables_has_no_content_rules_and_an_inert_manifest_rule() -> None:
    policy = parse_policy({"name": "bare", "rules": backend_data()["rules"]}, "bare.toml")
    assert policy.content_rules == ()
    assert decide_write(policy, "apps/shop/api/orders.ts", packages=PACKAGES).allowed is True


@pytest.mark.parametrize(
    ("name", "globs", "subpaths", "expected"),
    [
        ("@vercel/node", ("@vercel/*",), False, "@vercel/*"),
        ("next/server", ("next",), True, "next"),
        ("next/server", ("next",), False, None),
        ("nextra", ("next",), True, None),
        ("apps/shop", ("apps/*",), False, "apps/*"),
        ("a.b", ("a?b",), False, None),  # only `*` is special
    ],
)
def test_match_name_matches_exact_names_star_globs_and_optional_subpaths(
    name: str, globs: tuple[str, ...], subpaths: bool, expected: str | None
) -> None:
    assert match_name(name, globs, subpaths=subpaths) == expected


@given(st.text(max_size=40), st.text(max_size=40))
def test_match_name_never_raises_on_any_glob(name: str, glob: str) -> None:
    result = match_name(name, (glob,), subpaths=True)
    assert result in (None, glob)
    if "*" not in glob and result is not None:
        assert name == glob or name.startswith(glob + "/")


@pytest.mark.parametrize(
    ("path", "rule"),
    [
        ("packages/core/src/.ENV", "no-env-files"),
        ("packages/core/.Env.local", "no-env-files"),
        ("packages/core/.GIT/config", "protected-git"),
        ("STORY-042/_implementation/backend-log.md", "protected-server-owned"),
        ("packages/core/src/Widget.TSX", "no-react-components"),
    ],
)
def test_protections_and_deny_rules_hold_for_case_variants(path: str, rule: str) -> None:
    decision = decide_write(POLICY, path)
    assert (decision.allowed, decision.rule) == (False, rule)


def test_a_secret_read_is_refused_in_any_case() -> None:
    decision = decide_read(POLICY, "apps/api/.ENV")
    assert (decision.allowed, decision.rule) == (False, "no-secret-reads")


# --- env and container files by other names (issue 11, hole 3) ----------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "packages/db/.env-template",
        "apps/api/api/.env_local",
        "apps/api/api/.env-example",
        "packages/db/.env.example",
        "packages/backend/.env.template",
        "packages/backend/.envrc",
        "packages/backend/prod.env",
        "packages/core/.env.local",
        "apps/api/api/.ENV_LOCAL",
        "packages/db/migrations/.env",
    ],
)
def test_an_env_file_by_any_name_inside_an_allowed_folder_is_refused(path: str) -> None:
    decision = decide_write(POLICY, path)
    assert (decision.allowed, decision.rule) == (False, "no-env-files")


@pytest.mark.parametrize(
    "path",
    [
        "packages/backend/Dockerfile",
        "apps/api/api/Dockerfile.prod",
        "packages/backend/api.Dockerfile",
        "apps/api/api/dockerfile",
        "packages/backend/.dockerignore",
        "packages/backend/Containerfile",
        "packages/db/docker/Dockerfile",
    ],
)
def test_a_dockerfile_inside_an_allowed_folder_is_refused_as_infrastructure(path: str) -> None:
    decision = decide_write(POLICY, path)
    assert (decision.allowed, decision.rule) == (False, "no-docker-files")
    assert "EXPOSE" in decision.reason
    assert decision.instead


@pytest.mark.parametrize(
    "path",
    ["packages/core/src/env.ts", "packages/backend/src/config/env.ts", "packages/core/src/environment.ts"],
)
def test_code_that_reads_the_environment_stays_writable(path: str) -> None:
    assert decide_write(POLICY, path).allowed is True


@pytest.mark.parametrize(
    "path",
    [
        "packages/db/.env_local",
        "apps/api/.env-local",
        ".env-production",
        "packages/backend/.envrc",
        "packages/backend/prod.env",
        "apps/api/.env.production.local",
    ],
)
def test_a_secret_env_file_by_another_name_is_refused_for_reading(path: str) -> None:
    decision = decide_read(POLICY, path)
    assert (decision.allowed, decision.rule) == (False, "no-secret-reads")


@pytest.mark.parametrize(
    "path",
    [
        ".env.example",
        "apps/api/.env-example",
        "packages/db/.env.template",
        "packages/db/.env-template",
        "apps/api/.env_sample",
    ],
)
def test_an_env_template_stays_readable(path: str) -> None:
    assert decide_read(POLICY, path).allowed is True


SEGMENTS = st.sampled_from(
    [
        "packages",
        "apps",
        "core",
        "web",
        "src",
        "api",
        "app",
        "components",
        "orders",
        ".env",
        ".env.local",
        "x.ts",
        "page.tsx",
        "route.ts",
        "a.css",
        "Dockerfile",
        "docker-compose.yml",
        "migrations",
        "1.sql",
        "__http__",
        "STORY-042",
        "_implementation",
        "BACKEND-LOG.md",
        ".storyfence",
        "node_modules",
        "[id]",
        "(group)",
        "ÄÖ.ts",
        "README.md",
        "next.config.js",
        "a b.ts",
        "Page.TSX",
        ".ENV",
    ]
)


@given(st.lists(SEGMENTS, min_size=1, max_size=6).map("/".join))
def test_the_quick_test_before_pathspec_never_changes_what_a_rule_matches(path: str) -> None:
    """Rule.match asks pathspec only when one regex of the rule's include patterns could match: for every rule of
    the built-in policy, and either case, the answer is pathspec's own."""
    for rule in backend_policy().rules:
        expected = rule.spec.check_file(path)
        want = rule.patterns[expected.index] if expected.include and expected.index is not None else None
        if want is None:
            folded = rule.folded_spec.check_file(path.lower())
            folded_want = rule.patterns[folded.index] if folded.include and folded.index is not None else None
        else:
            folded_want = want
        assert rule.match(path) == want, (rule.id, path)
        assert rule.match(path, any_case=True) == folded_want, (rule.id, path)
