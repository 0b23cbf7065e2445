"""The policy as data, and the one function that decides a path: confinement is done before, content after.

Order of a write decision (DESIGN.md, "Policy"): protected paths, deny rules (deny wins), allow rules
(else default deny), then the story's SCOPE.md narrowing. Every decision names the rule that made it.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Any, Literal, cast

import pathspec
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from storyfence.core.errors import PolicyError

RuleKind = Literal["allow", "deny", "read_deny"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Rule(_Frozen):
    """A named rule: gitignore-style patterns, what a match means, why, and what to do instead."""

    model_config = ConfigDict(frozen=True, extra="forbid", ignored_types=(cached_property,))

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    kind: RuleKind
    patterns: tuple[str, ...] = Field(min_length=1)
    reason: str = Field(min_length=1)
    instead: str = ""

    @field_validator("patterns")
    @classmethod
    def _patterns_compile(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        try:
            pathspec.PathSpec.from_lines("gitignore", value)
        except Exception as exc:  # pathspec raises several types for a bad pattern
            raise ValueError(f"invalid gitignore pattern: {exc}") from exc
        return value

    @cached_property
    def spec(self) -> pathspec.PathSpec[Any]:
        return pathspec.PathSpec.from_lines("gitignore", self.patterns)

    def match(self, path: str) -> str | None:
        """The pattern that makes `path` match this rule, or None (a negated pattern un-matches)."""
        result = self.spec.check_file(path)
        if result.include and result.index is not None:
            return self.patterns[result.index]
        return None


class TypecheckSettings(_Frozen):
    """How the fast-fail gate runs: one command per affected workspace package, argv only."""

    command: tuple[str, ...] = ("pnpm", "check-types", "--filter", "{package}")
    script: str = "check-types"
    timeout_seconds: float = Field(default=300.0, gt=0)
    output_cap_bytes: int = Field(default=1_000_000, gt=1024)
    max_fix_attempts: int = Field(default=2, ge=0, le=20)

    @field_validator("command")
    @classmethod
    def _command_names_package(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value or not value[0]:
            raise ValueError("command must be a non-empty argv list")
        if not any("{package}" in arg for arg in value):
            raise ValueError("command must contain the placeholder {package}")
        return value


class Limits(_Frozen):
    """Caps that keep one call from taking the server down."""

    max_file_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    max_read_lines: int = Field(default=2000, gt=0)
    max_list_entries: int = Field(default=500, gt=0)
    max_search_matches: int = Field(default=200, gt=0)
    max_search_files: int = Field(default=100_000, gt=0)


class Stories(_Frozen):
    """Where stories live and what their ids look like."""

    id_pattern: str = r"STORY-[0-9]{1,9}"
    id_glob: str = "STORY-*"
    folders: tuple[str, ...] = (".", "docs/stories", "stories")

    @field_validator("id_pattern")
    @classmethod
    def _regex_compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from exc
        return value


class Policy(_Frozen):
    """A complete, validated policy. `sources` names the files it was built from."""

    name: str
    description: str = ""
    rules: tuple[Rule, ...]
    typecheck: TypecheckSettings = TypecheckSettings()
    limits: Limits = Limits()
    stories: Stories = Stories()
    sources: tuple[str, ...] = ()

    @field_validator("rules")
    @classmethod
    def _unique_ids(cls, value: tuple[Rule, ...]) -> tuple[Rule, ...]:
        seen: set[str] = set()
        for rule in value:
            if rule.id in seen:
                raise ValueError(f"duplicate rule id {rule.id!r}")
            seen.add(rule.id)
        return value

    @property
    def source_label(self) -> str:
        return " + ".join(self.sources) if self.sources else "<built-in>"


class Decision(_Frozen):
    """What a write (or read) of `path` would get, and the rule that says so."""

    path: str
    allowed: bool
    rule: str
    kind: str
    pattern: str | None = None
    reason: str
    instead: str = ""
    policy_file: str = ""

    def message(self) -> str:
        verdict = "allowed" if self.allowed else "refused"
        where = f" (pattern `{self.pattern}`)" if self.pattern else ""
        text = f"{self.path}: {verdict} by rule `{self.rule}`{where} in {self.policy_file}: {self.reason}"
        if not self.allowed and self.instead:
            text += f" Instead: {self.instead}"
        return text


# --- protected paths: built in, never relaxed by any policy -----------------------------------------------

BUILT_IN = "storyfence (built in)"
"""The policy_file a decision names when a built-in protection, not a policy file, made it."""

SERVER_DIR = ".storyfence"
"""The server's own files inside a story's _implementation folder (journal, lock)."""


def protected_rules(stories: Stories, extra_policy_files: tuple[str, ...] = ()) -> tuple[Rule, ...]:
    """The always-on protections: git, policy and client config, story inputs, server-owned files."""
    g = stories.id_glob
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
            patterns=(
                f"**/{g}/{g}.md",
                f"**/{g}/_implementation/IMPLEMENTATION-PLAN.md",
                f"**/{g}/_implementation/SCOPE.md",
            ),
            reason="the story, its implementation plan and its SCOPE.md are the authoritative inputs: read-only.",
            instead="implement what they say; if they are wrong, call report_blocker.",
        ),
        Rule(
            id="protected-server-owned",
            kind="deny",
            patterns=(
                "**/_implementation/BACKEND-LOG.md",
                "**/_implementation/BLOCKERS.md",
                f"**/_implementation/{SERVER_DIR}",
                f"**/_implementation/{SERVER_DIR}/**",
            ),
            reason="BACKEND-LOG.md, BLOCKERS.md and the story journal are written by the server only.",
            instead="call append_chunk_log to log a chunk, report_blocker to record a blocker.",
        ),
    )


def _fill(template: str, path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    stem = name.split(".", 1)[0]
    return template.replace("{path}", path).replace("{name}", name).replace("{stem}", stem)


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
        instead=_fill(rule.instead, path),
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
        pattern = rule.match(path)
        if pattern is not None:
            return rule, pattern
    return None


class ScopeLists(_Frozen):
    """The story's own narrowing, parsed from SCOPE.md (see core.scope)."""

    in_scope: tuple[str, ...] = ()
    out_of_scope: tuple[str, ...] = ()
    source: str = "SCOPE.md"


def decide_write(
    policy: Policy,
    path: str,
    *,
    scope: ScopeLists | None = None,
    protected: tuple[Rule, ...] | None = None,
) -> Decision:
    """Decide a write of the confined, repo-relative POSIX `path`. Deny wins; no allow means deny."""
    refused = _control_refusal(path)
    if refused is not None:
        return refused
    guards = protected if protected is not None else protected_rules(policy.stories)
    for rule in guards:
        pattern = rule.match(path)
        if pattern is not None:
            return _decision(path, False, rule, pattern, policy, built_in=True)
    denied = first_match(policy.rules, path, "deny")
    if denied is not None:
        return _decision(path, False, denied[0], denied[1], policy)
    allowed = first_match(policy.rules, path, "allow")
    if allowed is None:
        return Decision(
            path=path,
            allowed=False,
            rule="default-deny",
            kind="deny",
            reason="no allow rule matches this path: only backend scope may be written.",
            instead="backend code lives in api/**, apps/*/api/**, packages/backend/**, packages/core/**, "
            "migrations and __http__/*.http; call check_path to test a path before writing.",
            policy_file=policy.source_label,
        )
    if scope is not None:
        narrowed = _decide_scope(path, scope, allowed[0], policy)
        if narrowed is not None:
            return narrowed
    return _decision(path, True, allowed[0], allowed[1], policy)


def _decide_scope(path: str, scope: ScopeLists, allow: Rule, policy: Policy) -> Decision | None:
    if scope.out_of_scope:
        spec = pathspec.PathSpec.from_lines("gitignore", scope.out_of_scope)
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
        spec = pathspec.PathSpec.from_lines("gitignore", scope.in_scope)
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


# --- building a policy from TOML data ------------------------------------------------------------------------


def _format_validation(source: str, exc: ValidationError) -> str:
    parts: list[str] = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "<top>"
        parts.append(f"key `{key}`: {err['msg']}")
    return f"Invalid policy {source}: " + "; ".join(parts)


def parse_policy(data: dict[str, Any], source: str) -> Policy:
    """Validate a policy document (no `extends`) into a frozen Policy, or raise PolicyError."""
    body = {k: v for k, v in data.items() if k != "extends"}
    body.setdefault("sources", (source,))
    try:
        return Policy.model_validate(body)
    except ValidationError as exc:
        raise PolicyError(_format_validation(source, exc)) from None


def extend_policy(base: Policy, data: dict[str, Any], source: str) -> Policy:
    """Layer a repo policy over `base`: a rule with the same id replaces it, new rules are added,
    and the typecheck / limits / stories tables are merged key by key."""
    merged: dict[str, Any] = base.model_dump(mode="python")
    merged["rules"] = [r.model_dump(mode="python") for r in base.rules]
    overlay = {k: v for k, v in data.items() if k != "extends"}
    for key, value in overlay.items():
        if key == "rules":
            if not isinstance(value, list):
                raise PolicyError(f"Invalid policy {source}: key `rules`: must be an array of tables")
            by_id = {r["id"]: i for i, r in enumerate(merged["rules"])}
            for item in cast("list[Any]", value):
                rule_id = cast("dict[str, object]", item).get("id") if isinstance(item, dict) else None
                if isinstance(rule_id, str) and rule_id in by_id:
                    merged["rules"][by_id[rule_id]] = item
                else:
                    merged["rules"].append(item)  # pyright: ignore[reportUnknownArgumentType]
        elif key in ("typecheck", "limits", "stories") and isinstance(value, dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    merged["sources"] = (*base.sources, source)
    try:
        return Policy.model_validate(merged)
    except ValidationError as exc:
        raise PolicyError(_format_validation(source, exc)) from None
