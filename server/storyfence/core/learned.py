"""The learned layout as policy: roles in, an overlay out (allow rules with explicit exceptions and their
evidence, typecheck allowances for non-TypeScript backends, examples), and the TOML text `init` writes.

Learning only ever adds allows. An exception names the soft deny rules it wins over for its own patterns
(frontend packages by name or manifest, UI folders, `route.tsx` handlers); hard denies (env, compose,
Docker, styles, frontend config) refuse whatever was learned.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

import pathspec

from storyfence.core.layout import Layout, PackageRole
from storyfence.core.server_parts import literal

FRONTEND_RULES = ("no-frontend-packages", "no-frontend-packages-by-manifest")
BEGIN = "# >>> learned by `storyfence init` (refresh: storyfence init --refresh) >>>"
END = "# <<< learned <<<"
LEARNED_SOURCE = "learned layout (no .storyfence.toml)"


@dataclass(frozen=True)
class LearnedRule:
    id: str
    patterns: tuple[str, ...]
    reason: str
    evidence: tuple[str, ...]
    overrides: tuple[str, ...]

    def table(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": "allow",
            "patterns": list(self.patterns),
            "reason": self.reason,
            "overrides": list(self.overrides),
            "evidence": list(self.evidence),
        }


@dataclass(frozen=True)
class Unchecked:
    patterns: tuple[str, ...]
    reason: str

    def table(self) -> dict[str, Any]:
        return {"paths": list(self.patterns), "reason": self.reason}


@dataclass(frozen=True)
class LearnedPolicy:
    rules: tuple[LearnedRule, ...]
    unchecked: tuple[Unchecked, ...]
    examples_allowed: tuple[str, ...]
    examples_refused: tuple[str, ...] = ()

    def overlay(self) -> dict[str, Any]:
        """The policy overlay (the shape of a `.storyfence.toml`) that the learned layout amounts to.

        Without the examples: they are candidates, which `init` keeps only where they hold today, so that
        the file it writes guards tomorrow's edits against breaking what learning got right."""
        data: dict[str, Any] = {"rules": [r.table() for r in self.rules]}
        if self.unchecked:
            data["typecheck"] = {"unchecked": [u.table() for u in self.unchecked]}
        return data


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "root"


def learned_policy(layout: Layout, files: Sequence[str] = ()) -> LearnedPolicy:
    """The overlay for `layout`; `files` (repo-relative paths of the apps' modules) give each learned app
    rule a real example path, checked whenever the policy loads."""
    rules: list[LearnedRule] = []
    unchecked: list[Unchecked] = []
    examples: list[str] = []
    refused: list[str] = []
    for role in layout.roles:
        pkg = role.package
        if role.role in ("backend", "python-backend", "go-backend"):
            # a backend package's `pages/` or `components/` are no UI (status pages, email parts); its client
            # modules are carved out of the patterns instead
            overrides = (*FRONTEND_RULES, "no-ui-folders")
            if role.renders_server_ui:
                overrides += ("no-react-components",)
            kind = {"backend": "backend", "python-backend": "Python backend", "go-backend": "Go backend"}[role.role]
            rules.append(
                LearnedRule(
                    id=f"learned-{_slug(pkg.dir)}",
                    patterns=(f"{literal(pkg.dir)}/**", *role.carve_out),
                    reason=f"`{pkg.dir}` (`{pkg.name}`) is a {kind} package (learned: {'; '.join(role.evidence)}).",
                    evidence=role.evidence,
                    overrides=overrides,
                )
            )
            if role.role != "backend":
                language = "Python" if role.role == "python-backend" else "Go"
                unchecked.append(
                    Unchecked(
                        (f"{pkg.dir}/**",),
                        f"a {language} backend: no TypeScript check applies; its own tests and CI check it.",
                    )
                )
            examples.append(f"{pkg.dir}/{'package.json' if pkg.language == 'js' else pkg.configs[0]}")
        elif role.role == "app":
            app_rules = _app_rules(role)
            rules.extend(app_rules)
            for rule in app_rules:
                spec = pathspec.PathSpec.from_lines("gitignore", rule.patterns)
                sample = next((f for f in files if spec.match_file(f)), None)
                if sample is not None:
                    examples.append(sample)
            refused.append(f"{pkg.dir}/package.json")
        elif role.role == "frontend":
            refused.append(f"{pkg.dir}/package.json")
    return LearnedPolicy(_unique_ids(rules), tuple(unchecked), tuple(examples), tuple(refused))


def _unique_ids(rules: list[LearnedRule]) -> tuple[LearnedRule, ...]:
    """Two folders can slug alike (`apps/web-app`, `apps/web/app`): a duplicate id would stop the policy
    from loading, so the later one is numbered."""
    seen: set[str] = set()
    out: list[LearnedRule] = []
    for rule in rules:
        rule_id, n = rule.id, 2
        while rule_id in seen:
            rule_id, n = f"{rule.id}-{n}", n + 1
        seen.add(rule_id)
        out.append(replace(rule, id=rule_id))
    return tuple(out)


def _app_rules(role: PackageRole) -> list[LearnedRule]:
    out: list[LearnedRule] = []
    for index, part in enumerate(role.server_parts):
        overrides = FRONTEND_RULES
        if any("pages/" in p for p in part.patterns):
            overrides += ("no-ui-folders",)
        if part.overrides_components:
            overrides += ("no-react-components",)
        suffix = {"convention": f"routes-{index + 1}", "folder": "", "files": "server-modules"}[part.kind]
        name = part.patterns[0].removesuffix("/**") if part.kind == "folder" else f"{role.package.dir}-{suffix}"
        out.append(
            LearnedRule(
                id=f"learned-{_slug(name)}",
                patterns=part.patterns,
                reason=f"server code inside the {role.framework} app `{role.package.dir}`: {part.evidence}.",
                evidence=(*role.evidence, part.evidence),
                overrides=overrides,
            )
        )
    return out


# --- TOML text ---------------------------------------------------------------------------------------------


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        items = cast("list[object]", value)
        return "[" + ", ".join(_value(v) for v in items) + "]"
    return str(value)


def render_toml(learned: LearnedPolicy, layout: Layout) -> str:
    """The learned block of `.storyfence.toml`: each rule with its evidence as comments, for review."""
    lines = [
        BEGIN,
        "# storyfence read this repo's packages and modules and learned which parts are backend. Review it,",
        "# commit it; a committed file wins over learning. Hard denies (env, compose, Docker, styles, frontend",
        "# config) hold whatever is learned. Edit freely outside this block.",
        "#",
        "# Roles:",
    ]
    for role in layout.roles:
        lines.append(f"#   {role.package.dir} ({role.package.name}): {role.role}. {'; '.join(role.evidence)}")
    for rule in learned.rules:
        lines += ["", "[[rules]]"]
        lines += [f"# evidence: {e}" for e in rule.evidence]
        table = rule.table()
        for key in ("id", "kind", "patterns", "reason", "overrides", "evidence"):
            lines.append(f"{key} = {_value(table[key])}")
    for entry in learned.unchecked:
        lines += ["", "[[typecheck.unchecked]]", f"paths = {_value(list(entry.patterns))}"]
        lines.append(f"reason = {_value(entry.reason)}")
    if learned.examples_allowed or learned.examples_refused:
        lines += [
            "",
            "# checked whenever the policy loads: learning got these right, and must go on doing so",
            "[examples]",
        ]
        lines.append(f"allowed = {_value(list(learned.examples_allowed))}")
        lines.append(f"refused = {_value(list(learned.examples_refused))}")
    lines += ["", END]
    return "\n".join(lines) + "\n"


def replace_block(text: str, block: str) -> str:
    """`text` with its learned block replaced by `block` (or `block` appended when it has none)."""
    start, end = text.find(BEGIN), text.find(END)
    if start == -1 or end == -1 or end < start:
        return (text.rstrip("\n") + "\n\n" if text.strip() else "") + block
    return text[:start] + block + text[end + len(END) :].lstrip("\n")
