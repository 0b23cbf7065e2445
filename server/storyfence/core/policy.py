"""The policy as data: a frozen, validated model of its rules and settings (typecheck, limits, stories,
frontend packages, examples). core.policy_load builds one from TOML; core.decisions decides paths with it."""

from __future__ import annotations

import re
from functools import cached_property
from typing import Any, Literal, cast

import pathspec
from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator

from storyfence.core.content_rules import ContentRule
from storyfence.core.models import Value
from storyfence.core.patterns import any_include, check_globs, compiled

RuleKind = Literal["allow", "deny", "read_deny"]


class Rule(Value):
    """A named rule: gitignore-style patterns, what a match means, why, and what to do instead."""

    model_config = ConfigDict(ignored_types=(cached_property,))

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    kind: RuleKind
    patterns: tuple[str, ...] = Field(min_length=1)
    reason: str = Field(min_length=1)
    instead: str = ""
    hard: bool = False
    """A deny rule no allow rule may make an exception to (env, compose, Docker, styles, frontend config)."""
    overrides: tuple[str, ...] = ()
    """An allow rule's explicit exceptions: the deny rules (by id) it wins over for its own patterns."""
    evidence: tuple[str, ...] = ()
    """Why a learned rule exists (what the repo's files say); shown with its decisions."""

    @field_validator("patterns")
    @classmethod
    def _patterns_compile(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return check_globs(value)

    @field_validator("overrides")
    @classmethod
    def _overrides_need_allow(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        if value and info.data.get("kind") != "allow":
            raise ValueError("only an allow rule can make exceptions to deny rules")
        return value

    @cached_property
    def spec(self) -> pathspec.PathSpec[Any]:
        return compiled(self.patterns)

    @cached_property
    def folded_patterns(self) -> tuple[str, ...]:
        return tuple(p.lower() for p in self.patterns)

    @cached_property
    def folded_spec(self) -> pathspec.PathSpec[Any]:
        return compiled(self.folded_patterns)

    def match(self, path: str, *, any_case: bool = False) -> str | None:
        """The pattern that makes `path` match this rule, or None (a negated pattern un-matches).

        `any_case` also matches regardless of case: deny rules and protections must hold on case-insensitive
        filesystems (on macOS `.ENV` is `.env`); allow rules never use it."""
        could = any_include(self.patterns)
        result = self.spec.check_file(path) if could is None or could(path) else None
        if result is not None and result.include and result.index is not None:
            return self.patterns[result.index]
        if any_case:
            could = any_include(self.folded_patterns)
            if could is not None and not could(path.lower()):
                return None
            folded = self.folded_spec.check_file(path.lower())
            if folded.include and folded.index is not None:
                return self.patterns[folded.index]
        return None


class UncheckedAllowance(Value):
    """Changed files that may stay without a typecheck, and why: `[[typecheck.unchecked]]`.

    A chunk whose changed files no check covers closes only when each of them matches one of these
    entries; they are still listed as not type-checked, with the reason. `id` (optional) lets a repo's
    policy replace a built-in entry instead of adding one."""

    model_config = ConfigDict(ignored_types=(cached_property,))

    id: str = Field(default="", pattern=r"^([a-z0-9][a-z0-9-]*)?$")
    paths: tuple[str, ...]
    reason: str = Field(min_length=1)

    @field_validator("paths")
    @classmethod
    def _paths_compile(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return check_globs(value)

    @cached_property
    def spec(self) -> pathspec.PathSpec[Any]:
        return compiled(self.paths)


class TypecheckSettings(Value):
    """How the fast-fail gate runs: one command per affected workspace package, argv only.

    By default the command is built per package from the repo (package manager, the package's check
    script, turbo); `command` (with `{package}`, optionally `{script}`) overrides that for scripts."""

    command: tuple[str, ...] = ()
    script: str = ""  # legacy single script name: tried before `scripts`
    scripts: tuple[str, ...] = (
        "check-types",
        "typecheck",
        "type-check",
        "check:types",
        "types:check",
        "typecheck:all",
        "tsc",
        "types",
    )
    check_tools: tuple[str, ...] = ("tsc", "vue-tsc", "svelte-check", "tsgo", "astro", "turbo", "pyright", "mypy")
    extensions: tuple[str, ...] = (".ts", ".tsx", ".mts", ".cts", ".js", ".jsx", ".mjs", ".cjs", ".vue", ".svelte")
    unchecked: tuple[UncheckedAllowance, ...] = ()
    timeout_seconds: float = Field(default=300.0, gt=0)
    output_cap_bytes: int = Field(default=1_000_000, gt=1024)
    max_fix_attempts: int = Field(default=2, ge=0, le=20)
    # check the packages that depend on a changed one too; their failures from before the story are not blamed
    dependents: bool = True

    @field_validator("command")
    @classmethod
    def _command_names_package(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            return value  # detect the command from the repo
        if not value[0]:
            raise ValueError("command must be a non-empty argv list")
        if not any("{package}" in arg for arg in value):
            raise ValueError("command must contain the placeholder {package}")
        return value

    @property
    def script_names(self) -> tuple[str, ...]:
        """The check script names to look for, in order of preference."""
        return tuple(dict.fromkeys(n for n in (self.script, *self.scripts) if n))


class Limits(Value):
    """Caps that keep one call from taking the server down."""

    max_file_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    max_read_lines: int = Field(default=2000, gt=0)
    max_list_entries: int = Field(default=500, gt=0)
    max_search_matches: int = Field(default=200, gt=0)


class Stories(Value):
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


class PackageFacts(Value):
    """What the manifest rule needs to know about one workspace package (read by the packages adapter)."""

    dir: str  # repo-relative POSIX; "." is the workspace root, never judged
    name: str
    dependencies: tuple[str, ...] = ()  # dependencies + devDependencies + peerDependencies


class FrontendPackages(Value):
    """A workspace package that depends on a listed frontend framework is a frontend package, whatever its
    folder; writes into it are refused, except in `backend_packages` (name or dir, `*` globs) and for paths
    matching `allow` (gitignore patterns relative to the package folder, e.g. Next route handlers)."""

    id: str = Field(default="no-frontend-packages-by-manifest", pattern=r"^[a-z0-9][a-z0-9-]*$")
    enabled: bool = True
    dependencies: tuple[str, ...] = ()
    backend_packages: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()
    reason: str = Field(default="frontend packages are outside backend scope.", min_length=1)
    instead: str = "put the logic in packages/core/** and expose it from an API endpoint (apps/*/api/**)."

    model_config = ConfigDict(ignored_types=(cached_property,))

    @field_validator("allow")
    @classmethod
    def _allow_compiles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return check_globs(value)

    @cached_property
    def allow_spec(self) -> pathspec.PathSpec[Any]:
        return compiled(self.allow)


class PolicyExamples(Value):
    """Paths the policy must allow and paths it must refuse, checked whenever it loads (and by
    `storyfence check --examples`). A refused entry may name the rule: `"apps/web/.env = no-env-files"`."""

    allowed: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()


class Policy(Value):
    """A complete, validated policy. `sources` names the files it was built from."""

    name: str
    description: str = ""
    rules: tuple[Rule, ...]
    typecheck: TypecheckSettings = TypecheckSettings()
    limits: Limits = Limits()
    stories: Stories = Stories()
    content_rules: tuple[ContentRule, ...] = ()
    frontend_packages: FrontendPackages = FrontendPackages()
    sources: tuple[str, ...] = ()
    examples: PolicyExamples = PolicyExamples()

    @field_validator("rules")
    @classmethod
    def _unique_ids(cls, value: tuple[Rule, ...]) -> tuple[Rule, ...]:
        seen: set[str] = set()
        for rule in value:
            if rule.id in seen:
                raise ValueError(f"duplicate rule id {rule.id!r}")
            seen.add(rule.id)
        return value

    @field_validator("content_rules")
    @classmethod
    def _content_ids_unique(cls, value: tuple[ContentRule, ...], info: ValidationInfo) -> tuple[ContentRule, ...]:
        seen = {rule.id for rule in cast("tuple[Rule, ...]", info.data.get("rules", ()))}
        for rule in value:
            if rule.id in seen:
                raise ValueError(f"duplicate rule id {rule.id!r}")
            seen.add(rule.id)
        return value

    @field_validator("frontend_packages")
    @classmethod
    def _frontend_id_unique(cls, value: FrontendPackages, info: ValidationInfo) -> FrontendPackages:
        rules = cast("tuple[Rule, ...]", info.data.get("rules", ()))
        content = cast("tuple[ContentRule, ...]", info.data.get("content_rules", ()))
        if value.id in {r.id for r in (*rules, *content)}:
            raise ValueError(f"duplicate rule id {value.id!r}")
        return value

    @model_validator(mode="after")
    def _overrides_name_soft_denies(self) -> Policy:
        rules = self.rules
        value = self.frontend_packages
        denies = {r.id: r for r in rules if r.kind == "deny"}
        for index, rule in enumerate(rules):
            for target in rule.overrides:
                if target == value.id:
                    continue
                if target not in denies:
                    raise ValueError(
                        f"rules.{index} (`{rule.id}`): `overrides` names `{target}`, which is not a deny rule "
                        f"(deny rules: {', '.join(sorted(denies))}, {value.id})"
                    )
                if denies[target].hard:
                    raise ValueError(
                        f"rules.{index} (`{rule.id}`): `overrides` names `{target}`, a hard deny rule: "
                        "no allow rule may make an exception to it"
                    )
        return self

    @property
    def source_label(self) -> str:
        return " + ".join(self.sources) if self.sources else "<built-in>"
