"""A write decision over the policy's compiled form: plain data (rules as regexes, packages, SCOPE.md lists)
that the Claude Code hook reads from its cache, decided without pydantic or pathspec.

`core.quick_form` builds that form from the Policy; `core.decisions` stays the reference: for every path this
module must reach the decision `decide_write` reaches, with the same message (tests/unit/test_quick.py and
tests/integration/test_hook_quick.py run both). Anything the form does not hold raises `Unplain`, and the
caller decides the long way.
"""

from __future__ import annotations

import re

from storyfence.core.content import content_finding
from storyfence.core.messages import decision_message, fill_template
from storyfence.core.patterns import match_name
from storyfence.core.precedence import rank

Globs = list[list[object]]
"""A gitignore pattern list as pathspec compiles it: per pattern [regex or None, include (bool or None)]."""
Plain = dict[str, object]


class Unplain(Exception):
    """The compiled form is not what this module reads: decide with the full policy instead."""


# --- the compiled form ---------------------------------------------------------------------------------------


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise Unplain("expected a string")
    return value


def _strs(value: object) -> tuple[str, ...]:
    return tuple(_str(item) for item in _list(value))


def _map(value: object) -> Plain:
    if not isinstance(value, dict):
        raise Unplain("expected an object")
    return value  # pyright: ignore[reportUnknownVariableType]


def _list(value: object) -> list[object]:
    if not isinstance(value, list):
        raise Unplain("expected a list")
    return value  # pyright: ignore[reportUnknownVariableType]


_LITERAL = re.compile(r"[A-Za-z0-9._-]+")


def literals(pattern: str) -> tuple[str, ...]:
    """Runs of plain characters (ASCII letters, digits, `.`, `_`, `-`) that every path a gitignore pattern
    matches contains: outside a `[...]` class such a character only ever matches itself, and a run of them
    becomes one run of literals in pathspec's regex. A path lacking one cannot match, so the regex is skipped.
    Anything else (wildcards, `/`, other characters) only splits runs, which keeps this a necessary condition,
    never a sufficient one; a pattern with a `[...]` class or a backslash escape gets none."""
    if "[" in pattern or "\\" in pattern:
        return ()
    return tuple(_LITERAL.findall(pattern))


class Matcher:
    """A gitignore pattern list, matched as pathspec's `check_file` does: the last pattern that matches
    decides (a negated one un-matches); regexes are compiled on first use."""

    __slots__ = ("_compiled", "_needs", "_raw", "patterns")

    def __init__(self, patterns: tuple[str, ...], globs: object, *, folded: bool = False) -> None:
        raw: list[tuple[str | None, bool | None]] = []
        for item in _list(globs):
            pair = _list(item)
            if len(pair) != 2:
                raise Unplain("a glob is [regex, include]")
            regex, include = pair
            if (regex is not None and not isinstance(regex, str)) or (
                include is not None and type(include) is not bool
            ):
                raise Unplain("a glob is [regex, include]")
            raw.append((regex, include))
        if len(raw) != len(patterns):
            raise Unplain("one glob per pattern")
        self.patterns = patterns
        self._raw = raw
        self._needs = [literals(p.lower() if folded else p) for p in patterns]
        self._compiled: list[re.Pattern[str] | None] = [None] * len(raw)

    def index(self, path: str) -> int | None:
        """The index of the pattern that makes `path` match, or None."""
        if path.startswith("/"):
            path = path[1:]  # pathspec's normalize_file
        elif path.startswith("./"):
            path = path[2:]
        for i in range(len(self._raw) - 1, -1, -1):
            source, include = self._raw[i]
            if include is None or source is None:
                continue
            if not all(part in path for part in self._needs[i]):
                continue  # it cannot match: its regex is never compiled (compiling is most of a decision's cost)
            regex = self._compiled[i]
            if regex is None:
                regex = self._compiled[i] = re.compile(source)
            if regex.search(path) is not None:
                return i if include else None
        return None

    def match(self, path: str) -> str | None:
        i = self.index(path)
        return None if i is None else self.patterns[i]


class Rule:
    """A policy rule in its compiled form (`core.policy.Rule` as plain data)."""

    __slots__ = ("folded", "id", "instead", "kind", "overrides", "reason", "spec")

    def __init__(self, data: object) -> None:
        d = _map(data)
        self.id = _str(d["id"])
        self.kind = _str(d["kind"])
        self.reason = _str(d["reason"])
        self.instead = _str(d["instead"])
        self.overrides = _strs(d["overrides"])
        patterns = _strs(d["patterns"])
        self.spec = Matcher(patterns, d["globs"])
        self.folded = Matcher(patterns, d["folded"], folded=True)

    def match(self, path: str, *, any_case: bool = False) -> str | None:
        hit = self.spec.match(path)
        if hit is None and any_case:
            return self.folded.match(path.lower())
        return hit


class Scope:
    """A story's SCOPE.md lists in their compiled form (`core.decisions.ScopeLists` as plain data)."""

    __slots__ = ("in_scope", "out_of_scope", "source", "unreadable")

    def __init__(self, data: object) -> None:
        d = _map(data)
        self.in_scope = Matcher(_strs(d["in_scope"]), d["in_globs"])
        self.out_of_scope = Matcher(_strs(d["out_of_scope"]), d["out_globs"])
        self.source = _str(d["source"])
        self.unreadable = _str(d["unreadable"])


class ContentRule:
    """A content rule in its compiled form (`core.content_rules` as plain data)."""

    __slots__ = ("_compiled", "enabled", "extensions", "id", "instead", "kind", "modules", "reason", "regexes", "spec")

    def __init__(self, data: object) -> None:
        d = _map(data)
        self.id = _str(d["id"])
        self.kind = _str(d["kind"])
        if self.kind not in ("imports", "markers", "definitions"):
            raise Unplain(f"unknown content rule kind {self.kind!r}")
        self.enabled = d["enabled"] is True
        self.spec = Matcher(_strs(d["paths"]), d["globs"])
        self.extensions = _strs(d["extensions"])
        self.reason = _str(d["reason"])
        self.instead = _str(d["instead"])
        self.modules = _strs(d["modules"])
        self.regexes = _strs(d["regexes"])
        self._compiled: tuple[re.Pattern[str], ...] | None = None

    def applies_to(self, path: str) -> bool:
        if not self.enabled:
            return False
        if self.extensions and not path.lower().endswith(tuple(e.lower() for e in self.extensions)):
            return False
        return self.spec.index(path) is not None

    @property
    def compiled(self) -> tuple[re.Pattern[str], ...]:
        if self._compiled is None:
            self._compiled = tuple(re.compile(r) for r in self.regexes)
        return self._compiled


class Verdict:
    """What a write of `path` gets: allowed or not, and the decision in words."""

    __slots__ = ("allowed", "message", "rule")

    def __init__(self, allowed: bool, rule: str, message: str) -> None:
        self.allowed = allowed
        self.rule = rule
        self.message = message


def _control(path: str) -> bool:
    return re.search(r"[\x00-\x1f\x7f]", path) is not None


class Bounds:
    """What a path decision reads besides the path, compiled: `core.decisions.decide_write` over plain data."""

    def __init__(self, data: object) -> None:
        d = _map(data)
        self.label = _str(d["label"])
        self.advice = _str(d["advice"])
        self.built_in = _str(d["built_in"])
        self.protected = [Rule(r) for r in _list(d["protected"])]
        self.rules = [Rule(r) for r in _list(d["rules"])]
        front = _map(d["frontend"])
        self.front_enabled = front["enabled"] is True
        self.front_id = _str(front["id"])
        self.front_dependencies = _strs(front["dependencies"])
        self.front_backend = _strs(front["backend_packages"])
        self.front_allow = Matcher(_strs(front["allow"]), front["allow_globs"])
        self.front_reason = _str(front["reason"])
        self.front_instead = _str(front["instead"])
        self.content_rules = [ContentRule(r) for r in _list(d["content"])]
        self.packages: list[tuple[str, str, tuple[str, ...]]] = []
        for pkg in _list(d["packages"]):
            p = _list(pkg)
            if len(p) != 3:
                raise Unplain("a package is [dir, name, dependencies]")
            self.packages.append((_str(p[0]), _str(p[1]), _strs(p[2])))

    def _verdict(self, path: str, allowed: bool, rule: Rule, pattern: str | None, *, built_in: bool = False) -> Verdict:
        where = self.built_in if built_in else self.label
        text = decision_message(
            path, allowed, rule.id, pattern, where, rule.reason, instead=fill_template(rule.instead, path)
        )
        return Verdict(allowed, rule.id, text)

    def decide(self, path: str, scope: Scope | None) -> Verdict:
        """The decision on the confined, repo-relative POSIX `path` (see `core.decisions.decide_write`)."""
        if _control(path):
            reason = "the path contains a control character (newline, tab, ...), which no source path needs."
            instead = "use a plain path without control characters."
            text = decision_message(path, False, "no-control-characters", None, self.built_in, reason, instead=instead)
            return Verdict(False, "no-control-characters", text)
        verdict, found, pattern, refused, exceptions = rank(path, self.protected, self.rules, self._frontend_ranked)
        if verdict in ("protected", "denied") and found is not None:
            return self._verdict(path, False, found, pattern, built_in=verdict == "protected")
        if refused is not None:
            return refused
        chosen = (found, pattern) if found is not None and pattern is not None else None
        if chosen is None:
            reason = "no allow rule matches this path: only backend scope may be written."
            text = decision_message(path, False, "default-deny", None, self.label, reason, instead=self.advice)
            return Verdict(False, "default-deny", text)
        if scope is not None:
            narrowed = _scope_refusal(path, scope)
            if narrowed is not None:
                return narrowed
        rule, pattern = chosen
        text = decision_message(
            path, True, rule.id, pattern, self.label, rule.reason, tuple(exceptions), fill_template(rule.instead, path)
        )
        return Verdict(True, rule.id, text)

    def content(self, path: str, old_text: str | None, new_text: str | None) -> Verdict | None:
        """The refusal of the change by a content rule (see `core.content.check_content`), or None."""
        if old_text == new_text:
            return None
        for rule in self.content_rules:
            if not rule.applies_to(path):
                continue
            compiled = () if rule.kind == "imports" else rule.compiled
            finding = content_finding(rule.kind, rule.modules, compiled, path, old_text, new_text)
            if finding is not None:
                reason = f"{finding.detail}. {rule.reason}"
                instead = fill_template(rule.instead, path, finding.extra)
                text = decision_message(path, False, rule.id, finding.pattern, self.label, reason, instead=instead)
                return Verdict(False, rule.id, text)
        return None

    def _frontend_ranked(self, path: str) -> tuple[Verdict, str] | None:
        refusal = self._frontend(path)
        return None if refusal is None else (refusal, self.front_id)

    def _frontend(self, path: str) -> Verdict | None:
        if not self.front_enabled or not self.front_dependencies:
            return None
        best: tuple[str, str, tuple[str, ...]] | None = None
        for pkg in self.packages:
            folder = pkg[0].strip("/")
            if folder in ("", ".") or not path.startswith(folder + "/"):
                continue
            if best is None or len(folder) > len(best[0].strip("/")):
                best = pkg
        if best is None:
            return None
        folder, name, dependencies = best[0].strip("/"), best[1], best[2]
        if match_name(name, self.front_backend) or match_name(folder, self.front_backend):
            return None
        if self.front_allow.patterns and self.front_allow.index(path[len(folder) + 1 :]) is not None:
            return None
        for glob in self.front_dependencies:
            for dependency in dependencies:
                if match_name(dependency, (glob,)) is None:
                    continue
                listed = "" if glob == dependency else f" (listed as `{glob}`)"
                extra = {"package": name, "dir": folder, "dependency": dependency}
                reason = (
                    f"`{folder}` is the workspace package `{name}`, a frontend package: its package.json "
                    f"depends on `{dependency}`{listed}. {self.front_reason}"
                )
                instead = fill_template(self.front_instead, path, extra)
                text = decision_message(path, False, self.front_id, dependency, self.label, reason, instead=instead)
                return Verdict(False, self.front_id, text)
        return None


def _scope_refusal(path: str, scope: Scope) -> Verdict | None:
    if scope.unreadable:
        rule = "story-scope-unreadable"
        reason = f"{scope.unreadable}; a scope that cannot be read refuses every write rather than widen."
        instead = (
            "call report_blocker: a human must fix the story's SCOPE.md (one glob per list item, "
            "`` - `packages/core/src/orders/**` ``); read_story lists what was ignored and why."
        )
        return Verdict(False, rule, decision_message(path, False, rule, None, scope.source, reason, instead=instead))
    if scope.out_of_scope.patterns:
        pattern = scope.out_of_scope.match(path)
        if pattern is not None:
            rule = "story-out-of-scope"
            reason = "the story's SCOPE.md lists this path as out of scope."
            instead = "stay inside the story's In scope list; if the story truly needs this file, call report_blocker."
            text = decision_message(path, False, rule, pattern, scope.source, reason, instead=instead)
            return Verdict(False, rule, text)
    if scope.in_scope.patterns and scope.in_scope.index(path) is None:
        rule = "story-not-in-scope"
        reason = "the story's SCOPE.md has an In scope list and this path is not on it (no scope expansion)."
        instead = "write only paths matching: " + ", ".join(f"`{p}`" for p in scope.in_scope.patterns)
        return Verdict(False, rule, decision_message(path, False, rule, None, scope.source, reason, instead=instead))
    return None
