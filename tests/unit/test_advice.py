"""Advice comes from the active policy: where a write may go (its allow rules), what never (its hard denies),
what a write may not add or change (its content rules); a repo's own policy gets advice about its own rules."""

from __future__ import annotations

from typing import Any

from storyfence.core.advice import advice_lines, default_deny_advice, write_advice
from storyfence.core.decisions import decide_write
from storyfence.core.policy import Policy
from storyfence.core.policy_load import extend_policy, parse_policy
from tests.support.policies import backend_policy

BACKEND: Policy = backend_policy()

SERVICES: dict[str, Any] = {
    "name": "services",
    "rules": [
        {"id": "no-secrets", "kind": "deny", "patterns": ["**/secrets/**"], "hard": True, "reason": "never."},
        {"id": "go-services", "kind": "allow", "patterns": ["services/*/internal/**"], "reason": "Go services."},
        {"id": "protos", "kind": "allow", "patterns": ["proto/**/*.proto", "!proto/vendor/**"], "reason": "APIs."},
    ],
    "content_rules": [
        {"id": "no-panics", "kind": "markers", "markers": [r"\bpanic\("], "reason": "return errors, never panic."}
    ],
}
CUSTOM = parse_policy(SERVICES, ".storyfence.toml")
BUNDLED_WORDS = ("packages/core/**", "Vercel", "__http__", "no-env-files", "transport-agnostic", "TODO")


def test_the_bundled_policy_advises_each_allow_rule_with_its_reason_and_patterns() -> None:
    advice = write_advice(BACKEND)
    allows = [r for r in BACKEND.rules if r.kind == "allow"]
    assert len(advice.allowed) == len(allows)
    for line, rule in zip(advice.allowed, allows, strict=True):
        assert line.startswith(rule.reason.rstrip("."))
        assert f"`{rule.patterns[0]}`" in line
    assert advice.unlisted == 0


def test_the_hard_denies_are_named_with_their_patterns_and_what_they_leave_alone() -> None:
    never = write_advice(BACKEND).never
    assert [n.split("`")[1] for n in never] == [r.id for r in BACKEND.rules if r.kind == "deny" and r.hard]
    assert "`no-env-files` (`*.env`, `.env*`)" in never
    assert "`http-files-under-http-dir` (`*.http`, except `/__http__/**/*.http`)" in never
    assert not [n for n in never if "no-react-components" in n]  # a soft deny: an allow rule may override it


def test_the_content_rules_advise_by_their_reasons_and_a_disabled_one_says_nothing() -> None:
    assert write_advice(BACKEND).content == tuple(r.reason for r in BACKEND.content_rules)
    off = extend_policy(BACKEND, {"content_rules": [{"id": "no-todo-markers", "enabled": False}]}, "x.toml")
    assert [r for r in write_advice(off).content if "TODO" in r] == []


def test_a_custom_policy_is_advised_by_its_own_rules_and_never_by_the_bundled_ones() -> None:
    text = "\n".join(advice_lines(write_advice(CUSTOM)))
    assert "- Go services: `services/*/internal/**`" in text
    assert "- APIs: `proto/**/*.proto`" in text  # a negated pattern names nowhere a write may go
    assert "`no-secrets` (`**/secrets/**`)" in text
    assert "- return errors, never panic." in text
    for word in BUNDLED_WORDS:
        assert word not in text


def test_many_allow_rules_are_listed_up_to_a_cap_and_counted_beyond_it() -> None:
    rules = [
        {"id": f"part-{i}", "kind": "allow", "patterns": [f"part{i}/**"], "reason": f"part {i}."} for i in range(15)
    ]
    advice = write_advice(parse_policy({"name": "many", "rules": rules}, "many.toml"))
    assert len(advice.allowed) == 12
    assert advice.unlisted == 3
    assert "- and 3 more allow rules: call check_path to test a path" in advice_lines(advice)


def test_the_default_deny_names_where_the_active_policy_allows_writes() -> None:
    decision = decide_write(CUSTOM, "README.md")
    assert decision.rule == "default-deny"
    assert decision.instead == default_deny_advice(CUSTOM)
    assert decision.instead == (
        "backend scope is `services/*/internal/**`, `proto/**/*.proto`; call check_path to test a path before writing."
    )
    bare = parse_policy({"name": "bare", "rules": [SERVICES["rules"][0]]}, "bare.toml")
    assert "nothing (no allow rule)" in default_deny_advice(bare)
    assert advice_lines(write_advice(bare))[0] == "- nowhere: the policy has no allow rule"
