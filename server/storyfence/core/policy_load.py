"""A policy from TOML data: validate a document, layer a repo's overlay over the built-in policy (rules merged
by id, errors naming the user's own rule), and check the examples a policy carries."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, cast

from pydantic import ValidationError

from storyfence.core.decisions import decide_write, protected_rules
from storyfence.core.errors import PolicyError
from storyfence.core.policy import PackageFacts, Policy

_CONTENT_KINDS = ("imports", "markers", "definitions")


def _format_validation(source: str, exc: ValidationError, origins: Mapping[int, str] | None = None) -> str:
    parts: list[str] = []
    for err in exc.errors():
        loc = list(err["loc"])
        if len(loc) > 2 and loc[0] == "content_rules" and loc[2] in _CONTENT_KINDS:
            del loc[2]  # the union's tag: `content_rules.1.markers`, not `content_rules.1.markers.markers`
        message = str(err["msg"])
        if origins:
            # a merged index means nothing to the user: name their own entry instead
            if len(loc) > 1 and loc[0] == "rules" and isinstance(loc[1], int) and loc[1] in origins:
                parts.append(f"{origins[loc[1]]}: key `{'.'.join(str(p) for p in loc[2:]) or '<rule>'}`: {message}")
                continue
            message = re.sub(r"rules\.(\d+) \(`", lambda m: _origin(origins, int(m.group(1))), message)
        key = ".".join(str(p) for p in loc) or "<top>"
        parts.append(f"key `{key}`: {message}")
    return f"Invalid policy {source}: " + "; ".join(parts)


def _origin(origins: Mapping[int, str], index: int) -> str:
    named = origins.get(index)
    return f"{named.split(' (', 1)[0]} (`" if named else f"rules.{index} (`"


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
    and the typecheck / limits / stories / frontend_packages tables are merged key by key (the overlay's
    `[[typecheck.unchecked]]` entries are added to the base's; one with a base entry's `id` replaces it).

    A content rule with the same id (and kind) is merged key by key, so an overlay can change one list
    (`paths = ["libs/domain/**"]`) or switch a rule off (`enabled = false`) without repeating the rest;
    a content rule with a new id, or the same id and another kind, is added or replaces it whole."""
    origins: dict[int, str] = {}
    merged: dict[str, Any] = base.model_dump(mode="python")
    merged["rules"] = [r.model_dump(mode="python") for r in base.rules]
    merged["content_rules"] = [r.model_dump(mode="python") for r in base.content_rules]
    overlay = {k: v for k, v in data.items() if k != "extends"}
    for key, value in overlay.items():
        if key == "rules":
            merged["rules"], origins = _merge_rules(merged["rules"], value, source)
        elif key == "content_rules":
            merged[key] = _merge_content_rules(merged[key], value, source)
        elif key == "typecheck" and isinstance(value, dict):
            table = cast("dict[str, Any]", value)
            merged[key] = {**merged[key], **table}
            if "unchecked" in table:
                merged[key]["unchecked"] = _merge_by_id(_base_unchecked(base), table["unchecked"])
        elif key in ("limits", "stories", "frontend_packages") and isinstance(value, dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    merged["sources"] = (*base.sources, source)
    try:
        return Policy.model_validate(merged)
    except ValidationError as exc:
        raise PolicyError(_format_validation(source, exc, origins)) from None


def _merge_rules(base: list[dict[str, Any]], value: object, source: str) -> tuple[list[dict[str, Any]], dict[int, str]]:
    """Layer the overlay's `[[rules]]` over the base rules, and say where each overlay entry landed.

    A rule with a known id is merged key by key (`patterns` replaces the list, `add_patterns` extends it,
    so a built-in rule grows without being restated); a new id is added. The origins map a merged index
    to the overlay's own words (`rules[0] (`my-rule`)`) so errors name the user's rule, not `rules.12`."""
    if not isinstance(value, list):
        raise PolicyError(f"Invalid policy {source}: key `rules`: must be an array of tables")
    merged = list(base)
    by_id = {r["id"]: i for i, r in enumerate(merged)}
    origins: dict[int, str] = {}
    for position, item in enumerate(cast("list[object]", value)):
        if not isinstance(item, dict):
            origins[len(merged)] = f"rules[{position}]"
            merged.append(cast("dict[str, Any]", item))  # validation names the bad entry
            continue
        table = dict(cast("dict[str, Any]", item))
        rule_id = table.get("id")
        added = table.pop("add_patterns", None)
        index = by_id.get(rule_id) if isinstance(rule_id, str) else None
        if index is None:
            index = len(merged)
            merged.append(table)
        else:
            merged[index] = {**merged[index], **table}
        if added is not None:
            if not isinstance(added, list):
                raise PolicyError(
                    f"Invalid policy {source}: rules[{position}] (`{rule_id}`): key `add_patterns`: must be a list"
                )
            merged[index]["patterns"] = [*merged[index].get("patterns", ()), *cast("list[Any]", added)]
        origins[index] = f"rules[{position}] (`{rule_id}`)" if isinstance(rule_id, str) else f"rules[{position}]"
    return merged, origins


def _merge_content_rules(base: list[dict[str, Any]], value: object, source: str) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise PolicyError(f"Invalid policy {source}: key `content_rules`: must be an array of tables")
    merged = list(base)
    by_id = {r["id"]: i for i, r in enumerate(merged)}
    for item in cast("list[object]", value):
        if not isinstance(item, dict):
            merged.append(cast("dict[str, Any]", item))  # validation names the bad entry
            continue
        table = cast("dict[str, Any]", item)
        index = by_id.get(table.get("id")) if isinstance(table.get("id"), str) else None
        if index is None:
            merged.append(table)
        elif table.get("kind", merged[index]["kind"]) == merged[index]["kind"]:
            merged[index] = {**merged[index], **table}
        else:
            merged[index] = table
    return merged


def check_examples(policy: Policy, packages: Sequence[PackageFacts] = ()) -> list[str]:
    """Each of the policy's examples that decides otherwise than it says, in words (empty: all hold)."""
    failures: list[str] = []
    guards = protected_rules(policy.stories)
    for path in policy.examples.allowed:
        decision = decide_write(policy, path, protected=guards, packages=packages)
        if not decision.allowed:
            failures.append(f"`{path}` should be allowed, but is refused by `{decision.rule}`: {decision.reason}")
    for entry in policy.examples.refused:
        path, _, rule = (part.strip() for part in entry.partition("="))
        decision = decide_write(policy, path, protected=guards, packages=packages)
        if decision.allowed:
            failures.append(f"`{path}` should be refused, but is allowed by `{decision.rule}`")
        elif rule and decision.rule != rule:
            failures.append(
                f"`{path}` should be refused by `{rule}`, but is refused by `{decision.rule}`, not `{rule}`"
            )
    return failures


def _base_unchecked(base: Policy) -> list[dict[str, Any]]:
    return [a.model_dump(mode="python") for a in base.typecheck.unchecked]


def _merge_by_id(base: list[dict[str, Any]], value: object) -> object:
    """`[[typecheck.unchecked]]` of an overlay adds to the base's entries; one with a base entry's id replaces it."""
    if not isinstance(value, list):
        return value  # validation names the bad value
    merged = list(base)
    for item in cast("list[object]", value):
        table = cast("dict[str, Any]", item) if isinstance(item, dict) else None
        ids = [
            i for i, entry in enumerate(merged) if table is not None and table.get("id") and entry["id"] == table["id"]
        ]
        if ids:
            merged[ids[0]] = cast("dict[str, Any]", item)
        else:
            merged.append(cast("dict[str, Any]", item))
    return merged
