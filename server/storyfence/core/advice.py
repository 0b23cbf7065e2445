"""What the active policy lets an agent write, in words for the model: drawn from the policy's own rules (the
allow rules' reasons and patterns, the hard deny rules, the content rules), never from a fixed list, so a
repo's own policy gets advice about its own rules."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from storyfence.core.policy import Policy

MAX_LISTED_RULES = 12
MAX_RULE_PATTERNS = 4
MAX_DEFAULT_DENY_PATTERNS = 12


def listed(items: Sequence[str], limit: int) -> str:
    """The first `limit` items as code spans, then how many more: "`a`, `b` and 3 more" ("" for none)."""
    shown = ", ".join(f"`{item}`" for item in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _positive(patterns: Sequence[str]) -> list[str]:
    # a negated pattern takes paths out of its rule: it names nowhere a write may go
    return [p for p in patterns if not p.startswith("!")]


def _patterns_of(rule_id: str, patterns: Sequence[str]) -> str:
    """ "`rule` (`a`, `b` and 3 more, except `c`)": a deny rule's patterns, and the paths it leaves alone."""
    excepted = [p.removeprefix("!") for p in patterns if p.startswith("!")]
    text = listed(_positive(patterns), 2) + (f", except {listed(excepted, 2)}" if excepted else "")
    return f"`{rule_id}` ({text})"


def default_deny_advice(policy: Policy) -> str:
    """What a write that no allow rule matches is told to do: where writes are allowed, by the active policy."""
    patterns = [p for r in policy.rules if r.kind == "allow" for p in _positive(r.patterns)]
    shown = listed(patterns, MAX_DEFAULT_DENY_PATTERNS)
    return f"backend scope is {shown or 'nothing (no allow rule)'}; call check_path to test a path before writing."


@dataclass(frozen=True)
class WriteAdvice:
    """Where the policy lets a write go and what it must never touch or change, one line per item."""

    policy: str  # the policy's name
    allowed: tuple[str, ...]  # each allow rule: its reason, then its patterns
    unlisted: int  # allow rules left out of `allowed` (check_path decides them too)
    never: tuple[str, ...]  # each hard deny rule (no allow rule may make an exception to it): its id, patterns
    content: tuple[str, ...]  # each enabled content rule's reason: what a write may not add or change


def write_advice(policy: Policy) -> WriteAdvice:
    """The advice `policy` gives about writes, from its rules in policy order."""
    allows = [r for r in policy.rules if r.kind == "allow"]
    allowed = tuple(
        f"{rule.reason.rstrip('.')}: {listed(_positive(rule.patterns), MAX_RULE_PATTERNS)}"
        for rule in allows[:MAX_LISTED_RULES]
    )
    never = tuple(_patterns_of(rule.id, rule.patterns) for rule in policy.rules if rule.kind == "deny" and rule.hard)
    content = tuple(rule.reason for rule in policy.content_rules if rule.enabled)
    return WriteAdvice(
        policy=policy.name,
        allowed=allowed,
        unlisted=max(len(allows) - MAX_LISTED_RULES, 0),
        never=never,
        content=content,
    )


def advice_lines(advice: WriteAdvice) -> list[str]:
    """The advice as markdown list lines (no indentation): where writes may go, what never, what a write
    may not add or change."""
    lines = [f"- {line}" for line in advice.allowed] or ["- nowhere: the policy has no allow rule"]
    if advice.unlisted:
        lines.append(f"- and {advice.unlisted} more allow rules: call check_path to test a path")
    if advice.never:
        lines.append("Never, whatever any rule says: " + ", ".join(advice.never) + ".")
    if advice.content:
        lines.append("A write is also judged by what it adds or removes:")
        lines += [f"- {reason}" for reason in advice.content]
    return lines
