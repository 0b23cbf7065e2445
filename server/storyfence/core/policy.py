"""The policy as data, and the one function that decides a path: confinement is done before, content after.

Order of a write decision (DESIGN.md, "Policy"): protected paths, deny rules (deny wins), allow rules
(else default deny), then the story's SCOPE.md narrowing. Every decision names the rule that made it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Annotated, Any, Literal, cast

import pathspec
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from storyfence.core.story_paths import protected_globs

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
    hard: bool = False
    """A deny rule no allow rule may make an exception to (env, compose, Docker, styles, frontend config)."""
    overrides: tuple[str, ...] = ()
    """An allow rule's explicit exceptions: the deny rules (by id) it wins over for its own patterns."""
    evidence: tuple[str, ...] = ()
    """Why a learned rule exists (what the repo's files say); shown with its decisions."""

    @field_validator("patterns")
    @classmethod
    def _patterns_compile(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_globs(value)

    @field_validator("overrides")
    @classmethod
    def _overrides_need_allow(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        if value and info.data.get("kind") != "allow":
            raise ValueError("only an allow rule can make exceptions to deny rules")
        return value

    @cached_property
    def spec(self) -> pathspec.PathSpec[Any]:
        return pathspec.PathSpec.from_lines("gitignore", self.patterns)

    @cached_property
    def folded_spec(self) -> pathspec.PathSpec[Any]:
        return pathspec.PathSpec.from_lines("gitignore", [p.lower() for p in self.patterns])

    def match(self, path: str, *, any_case: bool = False) -> str | None:
        """The pattern that makes `path` match this rule, or None (a negated pattern un-matches).

        `any_case` also matches regardless of case: deny rules and protections must hold on case-insensitive
        filesystems (on macOS `.ENV` is `.env`); allow rules never use it."""
        result = self.spec.check_file(path)
        if result.include and result.index is not None:
            return self.patterns[result.index]
        if any_case:
            folded = self.folded_spec.check_file(path.lower())
            if folded.include and folded.index is not None:
                return self.patterns[folded.index]
        return None


class UncheckedAllowance(_Frozen):
    """Changed files that may stay without a typecheck, and why: `[[typecheck.unchecked]]`.

    A chunk whose changed files no check covers closes only when each of them matches one of these
    entries; they are still listed as not type-checked, with the reason. `id` (optional) lets a repo's
    policy replace a built-in entry instead of adding one."""

    model_config = ConfigDict(frozen=True, extra="forbid", ignored_types=(cached_property,))

    id: str = Field(default="", pattern=r"^([a-z0-9][a-z0-9-]*)?$")
    paths: tuple[str, ...]
    reason: str = Field(min_length=1)

    @field_validator("paths")
    @classmethod
    def _paths_compile(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_globs(value)

    @cached_property
    def spec(self) -> pathspec.PathSpec[Any]:
        return pathspec.PathSpec.from_lines("gitignore", self.paths)


class TypecheckSettings(_Frozen):
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


# --- content rules and frontend-by-manifest settings (evaluated by core.content and decide_write) ----------


def name_pattern(glob: str) -> re.Pattern[str]:
    """A module or package name glob as a regex: `*` matches any run of characters, `/` included."""
    return re.compile("".join(".*" if part == "*" else re.escape(part) for part in re.split(r"(\*)", glob)))


def match_name(name: str, globs: tuple[str, ...], *, subpaths: bool = False) -> str | None:
    """The first glob in `globs` that `name` matches (exactly, or as a glob), or None.

    With `subpaths`, a plain entry also matches a path below it: `express` matches `express/lib/router`.
    """
    for glob in globs:
        if "*" in glob:
            if name_pattern(glob).fullmatch(name):
                return glob
        elif name == glob or (subpaths and name.startswith(glob + "/")):
            return glob
    return None


def _check_regexes(value: tuple[str, ...]) -> tuple[str, ...]:
    for index, text in enumerate(value):
        try:
            re.compile(text)
        except re.error as exc:
            raise ValueError(f"entry {index} ({text!r}) is not a valid regular expression: {exc}") from exc
    return value


def _check_globs(value: tuple[str, ...]) -> tuple[str, ...]:
    try:
        pathspec.PathSpec.from_lines("gitignore", value)
    except Exception as exc:  # pathspec raises several types for a bad pattern
        raise ValueError(f"invalid gitignore pattern: {exc}") from exc
    return value


class _ContentRuleBase(_Frozen):
    """What every content rule has: which files it judges (`paths`, `extensions`), why, what to do instead."""

    model_config = ConfigDict(frozen=True, extra="forbid", ignored_types=(cached_property,))

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    enabled: bool = True
    paths: tuple[str, ...] = Field(default=("**",), min_length=1)
    extensions: tuple[str, ...] = ()
    reason: str = Field(min_length=1)
    instead: str = ""

    @field_validator("paths")
    @classmethod
    def _paths_compile(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_globs(value)

    @field_validator("extensions")
    @classmethod
    def _extensions_are_suffixes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for ext in value:
            if not ext.startswith(".") or "/" in ext or len(ext) < 2:
                raise ValueError(f"extension {ext!r} must look like `.ts`")
        return value

    @cached_property
    def spec(self) -> pathspec.PathSpec[Any]:
        return pathspec.PathSpec.from_lines("gitignore", self.paths)

    def applies_to(self, path: str) -> bool:
        """Whether this rule judges `path`: enabled, one of its extensions (if any), and matched by `paths`."""
        if not self.enabled:
            return False
        if self.extensions and not path.lower().endswith(tuple(e.lower() for e in self.extensions)):
            return False
        return self.spec.match_file(path)


class ImportRule(_ContentRuleBase):
    """JS/TS files matched by `paths` may not gain an import of a listed module (name, glob, or subpath)."""

    kind: Literal["imports"]
    modules: tuple[str, ...] = Field(min_length=1)


class MarkerRule(_ContentRuleBase):
    """Added lines may not introduce a marker: each entry is a regex (`(?i)` for case-insensitive);
    a named group `marker` is what the refusal reports, else the whole match."""

    kind: Literal["markers"]
    markers: tuple[str, ...] = Field(min_length=1)

    @field_validator("markers")
    @classmethod
    def _markers_compile(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_regexes(value)

    @cached_property
    def compiled(self) -> tuple[re.Pattern[str], ...]:
        return tuple(re.compile(m) for m in self.markers)


class DefinitionRule(_ContentRuleBase):
    """Definitions (ports, env-var defaults) found by the regexes may be added, never changed or removed."""

    kind: Literal["definitions"]
    definitions: tuple[str, ...] = Field(min_length=1)

    @field_validator("definitions")
    @classmethod
    def _definitions_compile(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_regexes(value)

    @cached_property
    def compiled(self) -> tuple[re.Pattern[str], ...]:
        return tuple(re.compile(d) for d in self.definitions)


ContentRule = Annotated[ImportRule | MarkerRule | DefinitionRule, Field(discriminator="kind")]


class PackageFacts(_Frozen):
    """What the manifest rule needs to know about one workspace package (read by the packages adapter)."""

    dir: str  # repo-relative POSIX; "." is the workspace root, never judged
    name: str
    dependencies: tuple[str, ...] = ()  # dependencies + devDependencies + peerDependencies


class FrontendPackages(_Frozen):
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

    model_config = ConfigDict(frozen=True, extra="forbid", ignored_types=(cached_property,))

    @field_validator("allow")
    @classmethod
    def _allow_compiles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_globs(value)

    @cached_property
    def allow_spec(self) -> pathspec.PathSpec[Any]:
        return pathspec.PathSpec.from_lines("gitignore", self.allow)


class PolicyExamples(_Frozen):
    """Paths the policy must allow and paths it must refuse, checked whenever it loads (and by
    `storyfence check --examples`). A refused entry may name the rule: `"apps/web/.env = no-env-files"`."""

    allowed: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()


class Policy(_Frozen):
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
    exceptions: tuple[str, ...] = ()
    """The deny rules this decision passed by an explicit exception of its allow rule."""

    def message(self) -> str:
        verdict = "allowed" if self.allowed else "refused"
        where = f" (pattern `{self.pattern}`)" if self.pattern else ""
        text = f"{self.path}: {verdict} by rule `{self.rule}`{where} in {self.policy_file}: {self.reason}"
        if self.exceptions:
            text += " (an exception to " + ", ".join(f"`{e}`" for e in self.exceptions) + ")"
        if not self.allowed and self.instead:
            text += f" Instead: {self.instead}"
        return text


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


def fill_template(template: str, path: str, extra: Mapping[str, str] | None = None) -> str:
    """Fill an `instead` template: {path}, {name}, {stem}, and any `extra` placeholders (e.g. {module})."""
    name = path.rsplit("/", 1)[-1]
    stem = name.split(".", 1)[0]
    values = {"path": path, "name": name, "stem": stem, **(extra or {})}
    # one pass, so a value that itself contains `{...}` is never filled again
    return re.sub(r"\{([a-z_]+)\}", lambda m: values.get(m.group(1), m.group(0)), template)


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


class ScopeLists(_Frozen):
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
    for rule in guards:
        pattern = rule.match(path, any_case=True)
        if pattern is not None:
            return _decision(path, False, rule, pattern, policy, built_in=True)
    allows = [
        (rule, pattern) for rule in policy.rules if rule.kind == "allow" for pattern in [rule.match(path)] if pattern
    ]
    exceptions: list[str] = []
    chosen = allows[0] if allows else None
    for rule in policy.rules:
        if rule.kind != "deny":
            continue
        pattern = rule.match(path, any_case=True)
        if pattern is None:
            continue
        overriding = next((a for a in allows if rule.id in a[0].overrides), None)
        if overriding is None:
            return _decision(path, False, rule, pattern, policy)
        exceptions.append(rule.id)
        chosen = overriding
    frontend = frontend_package_refusal(policy, path, packages)
    if frontend is not None:
        overriding = next((a for a in allows if frontend.rule in a[0].overrides), None)
        if overriding is None:
            return frontend
        exceptions.append(frontend.rule)
        chosen = overriding
    if chosen is None:
        return Decision(
            path=path,
            allowed=False,
            rule="default-deny",
            kind="deny",
            reason="no allow rule matches this path: only backend scope may be written.",
            instead=_default_deny_advice(policy),
            policy_file=policy.source_label,
        )
    if scope is not None:
        narrowed = _decide_scope(path, scope, chosen[0], policy)
        if narrowed is not None:
            return narrowed
    decision = _decision(path, True, chosen[0], chosen[1], policy)
    return decision.model_copy(update={"exceptions": tuple(exceptions)}) if exceptions else decision


def _default_deny_advice(policy: Policy) -> str:
    """Where writes are allowed, from the active policy's own allow rules (not a fixed list)."""
    patterns = [p for r in policy.rules if r.kind == "allow" for p in r.patterns if not p.startswith("!")]
    shown = ", ".join(f"`{p}`" for p in patterns[:12]) + (
        f" and {len(patterns) - 12} more" if len(patterns) > 12 else ""
    )
    return f"backend scope is {shown or 'nothing (no allow rule)'}; call check_path to test a path before writing."


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
