"""The hook's command line, answered before the CLI builds its parser: `storyfence hook claude-code` runs before
every write Claude Code makes, so reading its plain options and judging the call import nothing else."""

from __future__ import annotations

import os
import sys

HOOK_OPTIONS = ("--root", "--policy", "--story")


def hook_arguments(argv: list[str]) -> tuple[str | None, str | None, str | None] | None:
    """(root, policy, story) when `argv` is plainly `hook claude-code [--root R] [--policy P] [--story S]` (what
    `init` writes), so the hook answers without building the parser; None for anything else (argparse decides,
    with its own errors and abbreviations)."""
    if argv[:2] != ["hook", "claude-code"]:
        return None
    values: dict[str, str] = {}
    rest = argv[2:]
    while rest:
        option, _, value = rest[0].partition("=")
        if option not in HOOK_OPTIONS:
            return None
        if "=" not in rest[0]:
            if len(rest) < 2:
                return None
            value = rest[1]
            rest = rest[1:]
        if not value or value.startswith("-"):
            return None
        values[option] = value
        rest = rest[1:]
    return values.get("--root"), values.get("--policy"), values.get("--story")


def run_hook(root: str | None, policy: str | None, story: str | None) -> int:
    from storyfence.commands.hook import arm_deadline, claude_code_hook, deadline_seconds

    arm_deadline(deadline_seconds(os.environ))  # before stdin: a caller that never closes it is refused too
    code, out = claude_code_hook(sys.stdin.read(), root=root or None, policy_path=policy or None, story=story)
    if out:
        print(out)
    return code
