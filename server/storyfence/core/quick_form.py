"""The compiled form of what a write decision reads (the policy's rules, the protections, the workspace
packages, a story's SCOPE.md lists): plain JSON data that `core.quick` decides with, no pydantic needed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pathspec

from storyfence.core.advice import default_deny_advice
from storyfence.core.decisions import BUILT_IN, ScopeLists
from storyfence.core.policy import PackageFacts, Policy, Rule

FORM = 1
"""The version of the form: a cache holding another one is not read."""


def globs(patterns: Sequence[str]) -> list[list[Any]]:
    """Each gitignore pattern as pathspec compiles it: [its regex (None: it matches nothing), include]."""
    spec = pathspec.PathSpec.from_lines("gitignore", patterns)
    out: list[list[Any]] = []
    for pattern in spec.patterns:
        regex: Any = getattr(pattern, "regex", None)
        out.append([None if regex is None else str(regex.pattern), pattern.include])
    if len(out) != len(patterns):
        raise ValueError("pathspec compiled a different number of patterns")
    return out


def _rule(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "kind": rule.kind,
        "reason": rule.reason,
        "instead": rule.instead,
        "overrides": list(rule.overrides),
        "patterns": list(rule.patterns),
        "globs": globs(rule.patterns),
        "folded": globs([p.lower() for p in rule.patterns]),
    }


def bounds_form(policy: Policy, protected: Sequence[Rule], packages: Sequence[PackageFacts]) -> dict[str, Any]:
    """What `core.decisions.decide_write` and `core.content.check_content` read, as plain data."""
    front = policy.frontend_packages
    content: list[dict[str, Any]] = []
    for rule in policy.content_rules:
        content.append(
            {
                "id": rule.id,
                "kind": rule.kind,
                "enabled": rule.enabled,
                "paths": list(rule.paths),
                "globs": globs(rule.paths),
                "extensions": list(rule.extensions),
                "reason": rule.reason,
                "instead": rule.instead,
                "modules": list(rule.modules) if rule.kind == "imports" else [],
                "regexes": [] if rule.kind == "imports" else list(rule.regexes),
            }
        )
    return {
        "form": FORM,
        "label": policy.source_label,
        "advice": default_deny_advice(policy),
        "built_in": BUILT_IN,
        "protected": [_rule(r) for r in protected],
        "rules": [_rule(r) for r in policy.rules],
        "frontend": {
            "enabled": front.enabled,
            "id": front.id,
            "dependencies": list(front.dependencies),
            "backend_packages": list(front.backend_packages),
            "allow": list(front.allow),
            "allow_globs": globs(front.allow),
            "reason": front.reason,
            "instead": front.instead,
        },
        "packages": [[p.dir, p.name, list(p.dependencies)] for p in packages],
        "content": content,
        "cap": policy.limits.max_file_bytes,
        "stories": {
            "id_pattern": policy.stories.id_pattern,
            "id_glob": policy.stories.id_glob,
            "folders": list(policy.stories.folders),
        },
    }


def scope_form(scope: ScopeLists) -> dict[str, Any]:
    """A story's SCOPE.md lists as plain data."""
    return {
        "in_scope": list(scope.in_scope),
        "in_globs": globs(scope.in_scope),
        "out_of_scope": list(scope.out_of_scope),
        "out_globs": globs(scope.out_of_scope),
        "source": scope.source,
        "unreadable": scope.unreadable,
    }
