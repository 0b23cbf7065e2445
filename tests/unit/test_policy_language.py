"""The policy language composes: extend a rule without restating it, carve explicit exceptions out of a
deny rule (never a hard one), and carry examples that must hold."""

from __future__ import annotations

from typing import Any

import pytest

from storyfence.core.decisions import decide_write
from storyfence.core.errors import PolicyError
from storyfence.core.policy import PackageFacts, Policy
from storyfence.core.policy_load import check_examples, extend_policy
from tests.support.policies import backend_policy

BASE: Policy = backend_policy()


def test_add_patterns_extends_a_built_in_rule_without_restating_it() -> None:
    merged = extend_policy(BASE, {"rules": [{"id": "database", "add_patterns": ["packages/prisma/**"]}]}, "x.toml")
    database = next(r for r in merged.rules if r.id == "database")
    before = next(r for r in BASE.rules if r.id == "database")
    assert database.patterns == (*before.patterns, "packages/prisma/**")
    assert database.reason == before.reason
    assert decide_write(merged, "packages/prisma/client.ts").allowed
    assert decide_write(merged, "packages/db/migrations/1.sql").allowed  # the built-in patterns are still there


def test_a_same_id_rule_is_merged_key_by_key() -> None:
    merged = extend_policy(BASE, {"rules": [{"id": "backend-package", "patterns": ["services/**"]}]}, "x.toml")
    rule = next(r for r in merged.rules if r.id == "backend-package")
    assert rule.patterns == ("services/**",)
    assert rule.kind == "allow"
    assert rule.reason


def test_an_allow_rule_with_overrides_carves_a_visible_exception_out_of_a_soft_deny() -> None:
    route = "apps/web/pages/api/orders.ts"
    assert not decide_write(BASE, route).allowed
    overlay = {
        "rules": [
            {
                "id": "web-api-routes",
                "kind": "allow",
                "patterns": ["apps/web/pages/api/**"],
                "reason": "Next Pages Router API routes",
                "overrides": ["no-frontend-packages", "no-ui-folders"],
            }
        ]
    }
    merged = extend_policy(BASE, overlay, ".storyfence.toml")
    decision = decide_write(merged, route)
    assert decision.allowed
    assert decision.rule == "web-api-routes"
    assert decision.exceptions == ("no-ui-folders", "no-frontend-packages")
    assert "an exception to `no-ui-folders`, `no-frontend-packages`" in decision.message()
    # the exception is scoped to its patterns: the rest of the package stays refused
    assert decide_write(merged, "apps/web/pages/index.ts").rule == "no-ui-folders"
    # and it never reaches a deny it does not name
    assert decide_write(merged, "apps/web/pages/api/.env").rule == "no-env-files"


def test_an_exception_to_the_manifest_rule_is_scoped_to_one_package() -> None:
    web = PackageFacts(dir="apps/shop", name="@acme/shop", dependencies=("next", "react"))
    admin = PackageFacts(dir="apps/admin", name="@acme/admin", dependencies=("next", "react"))
    overlay = {
        "rules": [
            {
                "id": "shop-server",
                "kind": "allow",
                "patterns": ["apps/shop/lib/server/**"],
                "reason": "server modules",
                "overrides": ["no-frontend-packages-by-manifest"],
            }
        ]
    }
    merged = extend_policy(BASE, overlay, ".storyfence.toml")
    ok = decide_write(merged, "apps/shop/lib/server/db.ts", packages=[web, admin])
    assert ok.allowed
    assert ok.exceptions == ("no-frontend-packages-by-manifest",)
    other = decide_write(merged, "apps/admin/lib/server/db.ts", packages=[web, admin])
    assert other.rule == "no-frontend-packages-by-manifest"


@pytest.mark.parametrize("hard", ["no-env-files", "no-compose-files", "http-files-under-http-dir"])
def test_no_allow_rule_may_make_an_exception_to_a_hard_deny(hard: str) -> None:
    overlay = {"rules": [{"id": "mine", "kind": "allow", "patterns": ["**"], "reason": "r", "overrides": [hard]}]}
    with pytest.raises(PolicyError) as caught:
        extend_policy(BASE, overlay, ".storyfence.toml")
    assert "rules[0] (`mine`)" in str(caught.value)
    assert "hard deny rule" in str(caught.value)


def test_overrides_must_name_an_existing_deny_rule_and_belong_to_an_allow_rule() -> None:
    unknown = {"rules": [{"id": "a", "kind": "allow", "patterns": ["x"], "reason": "r", "overrides": ["nope"]}]}
    with pytest.raises(PolicyError, match="`nope`, which is not a deny rule"):
        extend_policy(BASE, unknown, ".storyfence.toml")
    on_deny = {"rules": [{"id": "d", "kind": "deny", "patterns": ["x"], "reason": "r", "overrides": ["no-ui-folders"]}]}
    with pytest.raises(PolicyError, match="only an allow rule"):
        extend_policy(BASE, on_deny, ".storyfence.toml")


def test_examples_report_every_path_that_decides_otherwise() -> None:
    data: dict[str, Any] = {
        "examples": {
            "allowed": ["packages/core/src/a.ts", "apps/web/components/B.tsx"],
            "refused": [".env = no-env-files", "packages/backend/x.ts", "docker-compose.yml = no-env-files"],
        }
    }
    merged = extend_policy(BASE, data, ".storyfence.toml")
    failures = check_examples(merged)
    assert len(failures) == 3
    assert any("apps/web/components/B.tsx" in f and "should be allowed" in f for f in failures)
    assert any("packages/backend/x.ts" in f and "should be refused" in f for f in failures)
    assert any("docker-compose.yml" in f and "`no-compose-files`, not `no-env-files`" in f for f in failures)


def test_the_built_in_policy_holds_its_own_examples() -> None:
    assert BASE.examples.allowed
    assert BASE.examples.refused
    assert check_examples(BASE) == []


@pytest.mark.parametrize(
    ("glob", "why"),
    [
        ("a/***/[", "`***` is not a glob"),
        ("apps/web/[", "never closed"),
        ("src/[abc/*.ts", "never closed"),
    ],
)
def test_a_malformed_glob_refuses_the_policy_and_names_the_rule_key_and_entry(glob: str, why: str) -> None:
    overlay = {"rules": [{"id": "mine", "kind": "allow", "patterns": ["ok/**", glob], "reason": "r"}]}
    with pytest.raises(PolicyError) as caught:
        extend_policy(backend_policy(), overlay, "team.toml")
    message = str(caught.value)
    assert "team.toml" in message
    assert "patterns" in message
    assert f"entry 1 ({glob!r})" in message
    assert why in message


@pytest.mark.parametrize("glob", ["a/[bc]/*.ts", "a/\\[x", "**/*.tsx", "!keep/**", "a/**/b"])
def test_well_formed_globs_still_load(glob: str) -> None:
    overlay = {"rules": [{"id": "mine", "kind": "allow", "patterns": [glob], "reason": "r"}]}
    assert extend_policy(backend_policy(), overlay, "team.toml").rules
