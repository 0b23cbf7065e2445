"""How a decision is said: its message, and the `instead` templates it fills (shared by core.decisions,
core.content and core.quick, so the hook's quick path words a decision exactly as the server does)."""

from __future__ import annotations

import re


def fill_template(template: str, path: str, extra: dict[str, str] | None = None) -> str:
    """Fill an `instead` template: {path}, {name}, {stem}, and any `extra` placeholders (e.g. {module})."""
    name = path.rsplit("/", 1)[-1]
    stem = name.split(".", 1)[0]
    values = {"path": path, "name": name, "stem": stem, **(extra or {})}
    # one pass, so a value that itself contains `{...}` is never filled again
    return re.sub(r"\{([a-z_]+)\}", lambda m: values.get(m.group(1), m.group(0)), template)


def decision_message(
    path: str,
    allowed: bool,
    rule: str,
    pattern: str | None,
    policy_file: str,
    reason: str,
    exceptions: tuple[str, ...] = (),
    instead: str = "",
) -> str:
    """A decision in words (`Decision.message` says it this way too)."""
    verdict = "allowed" if allowed else "refused"
    where = f" (pattern `{pattern}`)" if pattern else ""
    text = f"{path}: {verdict} by rule `{rule}`{where} in {policy_file}: {reason}"
    if exceptions:
        text += " (an exception to " + ", ".join(f"`{e}`" for e in exceptions) + ")"
    if not allowed and instead:
        text += f" Instead: {instead}"
    return text
