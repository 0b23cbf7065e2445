"""The decision on one path, and the rule that makes it: confinement is done before, content after.

Order of a write decision (README, "The policy"): protected paths (built in), deny rules (deny wins), the
frontend-package rule (by manifest), allow rules (else default deny), then the story's SCOPE.md narrowing.
A read is refused only by a read_deny rule. Every decision names the rule that made it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pathspec

from storyfence.core.advice import default_deny_advice
from storyfence.core.messages import decision_message, fill_template
from storyfence.core.models import Value
from storyfence.core.patterns import compiled, match_name
from storyfence.core.policy import PackageFacts, Policy, Rule, RuleKind, Stories
from storyfence.core.precedence import rank
from storyfence.core.story_paths import protected_globs


class Decision(Value):
    """What a write (or read) of `path` would get, and the rule that says so."""

    path: str
    allowed: bool
    rule: str
    kind: str
    pattern: str | None = None
    reason: str
    instead: str = ""
    policy_file: str = ""
    exceptions: tuple[str, ...] = ()
    """The deny rules this decision passed by an explicit exception of its allow rule."""

    def message(self) -> str:
        return decision_message(
            self.path,
            self.allowed,
            self.rule,
            self.pattern,
            self.policy_file,
            self.reason,
            self.exceptions,
            self.instead,
        )


# --- protected paths: built in, never relaxed by any policy -----------------------------------------------

BUILT_IN = "storyfence (built in)"
"""The policy_file a decision names when a built-in protection, not a policy file, made it."""


def protected_rules(stories: Stories, extra_policy_files: tuple[str, ...] = ()) -> tuple[Rule, ...]:
    """The always-on protections: git, policy and client config, story inputs, server-owned files."""
    inputs, owned = protected_globs(stories.id_glob)
    policy_files = (".storyfence.toml", *extra_policy_files)
    return (
        Rule(
            id="protected-git",
            kind="deny",
            patterns=(".git", ".git/**", "**/.git", "**/.git/**"),
            reason="the git directory is never written by the agent.",
            instead="change source files only; git is the reviewer's tool.",
        ),
        Rule(
            id="protected-policy",
            kind="deny",
            patterns=(*policy_files, ".claude/**", ".mcp.json", ".cursor/**", ".vscode/mcp.json"),
            reason="policy and client configuration files are protected: the agent may not relax its own rules.",
            instead="ask the user to change the policy if a rule is wrong.",
        ),
        Rule(
            id="protected-story-inputs",
            kind="deny",
            patterns=inputs,
            reason="the story, its implementation plan and its SCOPE.md are the authoritative inputs: read-only.",
            instead="implement what they say; if they are wrong, call report_blocker.",
        ),
        Rule(
            id="protected-server-owned",
            kind="deny",
            patterns=owned,
            reason="BACKEND-LOG.md, BLOCKERS.md and the story journal are written by the server only.",
            instead="call append_chunk_log to log a chunk, report_blocker to record a blocker.",
        ),
    )


def _decision(
    path: str, allowed: bool, rule: Rule, pattern: str | None, policy: Policy, *, built_in: bool = False
) -> Decision:
    return Decision(
        path=path,
        allowed=allowed,
        rule=rule.id,
        kind=rule.kind,
        pattern=pattern,
        reason=rule.reason,
        instead=fill_template(rule.instead, path),
        policy_file=BUILT_IN if built_in else policy.source_label,
    )


# pathspec compiles `**/` to `(?:.+/)?`, and `.` does not match a newline: `a\nb/.git/config` would slip
# past every `**/` rule. No real source path contains a control character, so such a path is refused first.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _control_refusal(path: str) -> Decision | None:
    if _CONTROL.search(path) is None:
        return None
    return Decision(
        path=path,
        allowed=False,
        rule="no-control-characters",
        kind="deny",
        reason="the path contains a control character (newline, tab, ...), which no source path needs.",
        instead="use a plain path without control characters.",
        policy_file=BUILT_IN,
    )


def first_match(rules: tuple[Rule, ...], path: str, kind: RuleKind) -> tuple[Rule, str] | None:
    for rule in rules:
        if rule.kind != kind:
            continue
        pattern = rule.match(path, any_case=kind != "allow")
        if pattern is not None:
            return rule, pattern
    return None


class ScopeLists(Value):
    """The story's own narrowing, parsed from SCOPE.md (see core.scope)."""

    in_scope: tuple[str, ...] = ()
    out_of_scope: tuple[str, ...] = ()
    source: str = "SCOPE.md"
    # non-empty: SCOPE.md cannot be read unambiguously (why); every write it would narrow is refused
    unreadable: str = ""


def decide_write(
    policy: Policy,
    path: str,
    *,
    scope: ScopeLists | None = None,
    protected: tuple[Rule, ...] | None = None,
    packages: Sequence[PackageFacts] = (),
) -> Decision:
    """Decide a write of the confined, repo-relative POSIX `path`. Deny wins; no allow means deny.

    `packages` are the workspace packages (dir, name, dependencies): with them, a path inside a package
    whose manifest makes it a frontend package is refused (policy.frontend_packages), after the path deny
    rules and before the allow rules.
    """
    refused = _control_refusal(path)
    if refused is not None:
        return refused
    guards = protected if protected is not None else protected_rules(policy.stories)

    def frontend(at: str) -> tuple[Decision, str] | None:
        refusal = frontend_package_refusal(policy, at, packages)
        return None if refusal is None else (refusal, refusal.rule)

    verdict, rule, pattern, refused, exceptions = rank(path, guards, policy.rules, frontend)
    if verdict in ("protected", "denied") and rule is not None:
        return _decision(path, False, rule, pattern, policy, built_in=verdict == "protected")
    if refused is not None:
        return refused
    chosen = (rule, pattern) if rule is not None and pattern is not None else None
    if chosen is None:
        return Decision(
            path=path,
            allowed=False,
            rule="default-deny",
            kind="deny",
            reason="no allow rule matches this path: only backend scope may be written.",
            instead=default_deny_advice(policy),
            policy_file=policy.source_label,
        )
    if scope is not None:
        narrowed = _decide_scope(path, scope, chosen[0], policy)
        if narrowed is not None:
            return narrowed
    decision = _decision(path, True, chosen[0], chosen[1], policy)
    return decision.model_copy(update={"exceptions": tuple(exceptions)}) if exceptions else decision


def owning_package(path: str, packages: Sequence[PackageFacts]) -> PackageFacts | None:
    """The package whose folder is nearest above `path`; the workspace root (".") never owns a path here."""
    best: PackageFacts | None = None
    for pkg in packages:
        folder = pkg.dir.strip("/")
        if folder in ("", ".") or not path.startswith(folder + "/"):
            continue
        if best is None or len(folder) > len(best.dir.strip("/")):
            best = pkg
    return best


def frontend_package_refusal(policy: Policy, path: str, packages: Sequence[PackageFacts]) -> Decision | None:
    """The refusal of a write into a frontend package (by its manifest's dependencies), or None.

    The nearest package above `path` decides. A package listed in `backend_packages` (by name or folder)
    is never frontend; a path matching `allow` relative to the package folder (Next route handlers) passes.
    """
    settings = policy.frontend_packages
    if not settings.enabled or not settings.dependencies:
        return None
    pkg = owning_package(path, packages)
    if pkg is None:
        return None
    folder = pkg.dir.strip("/")
    if match_name(pkg.name, settings.backend_packages) or match_name(folder, settings.backend_packages):
        return None
    if settings.allow and settings.allow_spec.match_file(path[len(folder) + 1 :]):
        return None
    for glob in settings.dependencies:
        for dependency in pkg.dependencies:
            if match_name(dependency, (glob,)) is None:
                continue
            listed = "" if glob == dependency else f" (listed as `{glob}`)"
            extra = {"package": pkg.name, "dir": folder, "dependency": dependency}
            return Decision(
                path=path,
                allowed=False,
                rule=settings.id,
                kind="deny",
                pattern=dependency,
                reason=f"`{folder}` is the workspace package `{pkg.name}`, a frontend package: its package.json "
                f"depends on `{dependency}`{listed}. {settings.reason}",
                instead=fill_template(settings.instead, path, extra),
                policy_file=policy.source_label,
            )
    return None


def _spec(globs: tuple[str, ...]) -> pathspec.PathSpec[Any]:
    """A SCOPE.md list compiled once per distinct list, not once per write."""
    return compiled(globs)


def _decide_scope(path: str, scope: ScopeLists, allow: Rule, policy: Policy) -> Decision | None:
    if scope.unreadable:
        # narrowing to nothing, not to "no list": an unreadable In scope list must never mean "no narrowing"
        return Decision(
            path=path,
            allowed=False,
            rule="story-scope-unreadable",
            kind="deny",
            reason=f"{scope.unreadable}; a scope that cannot be read refuses every write rather than widen.",
            instead="call report_blocker: a human must fix the story's SCOPE.md (one glob per list item, "
            "`` - `packages/core/src/orders/**` ``); read_story lists what was ignored and why.",
            policy_file=scope.source,
        )
    if scope.out_of_scope:
        spec = _spec(scope.out_of_scope)
        hit = spec.check_file(path)
        if hit.include and hit.index is not None:
            return Decision(
                path=path,
                allowed=False,
                rule="story-out-of-scope",
                kind="deny",
                pattern=scope.out_of_scope[hit.index],
                reason="the story's SCOPE.md lists this path as out of scope.",
                instead="stay inside the story's In scope list; if the story truly needs this file, "
                "call report_blocker.",
                policy_file=scope.source,
            )
    if scope.in_scope:
        spec = _spec(scope.in_scope)
        hit = spec.check_file(path)
        if not (hit.include and hit.index is not None):
            return Decision(
                path=path,
                allowed=False,
                rule="story-not-in-scope",
                kind="deny",
                reason="the story's SCOPE.md has an In scope list and this path is not on it (no scope expansion).",
                instead="write only paths matching: " + ", ".join(f"`{p}`" for p in scope.in_scope),
                policy_file=scope.source,
            )
    return None


def decide_read(policy: Policy, path: str) -> Decision:
    """Decide a read: only read_deny rules (secrets) refuse; everything else confined is readable."""
    refused = _control_refusal(path)
    if refused is not None:
        return refused
    denied = first_match(policy.rules, path, "read_deny")
    if denied is not None:
        return _decision(path, False, denied[0], denied[1], policy)
    return Decision(
        path=path,
        allowed=True,
        rule="read-allowed",
        kind="allow",
        reason="no read rule refuses this path.",
        policy_file=policy.source_label,
    )
