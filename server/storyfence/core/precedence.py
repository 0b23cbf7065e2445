"""The order in which a write's rules decide, written once for both forms of the policy: the Policy's models
(core/decisions.py) and the plain data the Claude Code hook reads from its cache (core/quick.py).

Protections first (any case); then deny rules, each unless an allow rule that matches names it in
`overrides`; then a frontend package by its manifest, the same way; then the first matching allow rule, or
no allow at all. It imports nothing at run time (typing only for the checker): the hook pays for every module.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from typing import Literal, Protocol, TypeVar

    class MatchRule(Protocol):
        @property
        def id(self) -> str: ...

        @property
        def kind(self) -> str: ...

        @property
        def overrides(self) -> tuple[str, ...]: ...

        def match(self, path: str, *, any_case: bool = False) -> str | None: ...

    R = TypeVar("R", bound=MatchRule)
    F = TypeVar("F")
    Verdict = Literal["protected", "denied", "frontend", "no-allow", "allowed"]


def rank(
    path: str,
    guards: Iterable[R],
    rules: Sequence[R],
    frontend: Callable[[str], tuple[F, str] | None],
) -> tuple[Verdict, R | None, str | None, F | None, tuple[str, ...]]:
    """Decide `path` over `guards` (the protections) and `rules`; `frontend` gives the refusal of a path in a
    frontend package with that refusal's rule id, or None.

    Returns (what decided, the rule, its pattern, the frontend refusal, the deny rules an allow rule made
    exceptions to): a protection or a deny rule names its rule and pattern; "frontend" carries the refusal;
    "allowed" names the allow rule and its pattern.
    """
    for rule in guards:
        pattern = rule.match(path, any_case=True)
        if pattern is not None:
            return "protected", rule, pattern, None, ()
    allows = [(rule, pattern) for rule in rules if rule.kind == "allow" for pattern in [rule.match(path)] if pattern]
    exceptions: list[str] = []
    chosen = allows[0] if allows else None
    for rule in rules:
        if rule.kind != "deny":
            continue
        pattern = rule.match(path, any_case=True)
        if pattern is None:
            continue
        overriding = next((a for a in allows if rule.id in a[0].overrides), None)
        if overriding is None:
            return "denied", rule, pattern, None, ()
        exceptions.append(rule.id)
        chosen = overriding
    refusal = frontend(path)
    if refusal is not None:
        found, rule_id = refusal
        overriding = next((a for a in allows if rule_id in a[0].overrides), None)
        if overriding is None:
            return "frontend", None, None, found, ()
        exceptions.append(rule_id)
        chosen = overriding
    if chosen is None:
        return "no-allow", None, None, None, ()
    return "allowed", chosen[0], chosen[1], None, tuple(exceptions)
