"""The Claude Code hook's test repo (a story with a SCOPE.md), what Claude Code sends a PreToolUse hook, and the
deny decision a hook answers with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.repos import story_inputs

STORY = "STORY-007"
SCOPE = """# Scope

## In scope
- `packages/core/src/orders/**`
- `apps/api/api/orders/**`

## Out of scope
- `packages/db/**`
"""
# backend code in and out of the story's scope, an API endpoint, a React component, and the story
REPO_FILES = {
    "packages/core/src/orders/cancel.ts": "export const cancel = (id: string) => id;\n",
    "packages/core/src/other.ts": "export const other = 1;\n",
    "apps/api/api/orders/index.ts": "export default () => new Response('ok');\n",
    "apps/web/components/Button.tsx": "export const Button = () => null;\n",
    **story_inputs(STORY, scope=SCOPE),
}


def pre_tool_use(root: Path, tool_name: str, tool_input: dict[str, Any], **extra: Any) -> str:
    """A PreToolUse hook input as Claude Code sends it (paths absolute, cwd the project)."""
    return json.dumps(
        {
            "session_id": "abc123",
            "transcript_path": "/home/dev/.claude/projects/repo/abc123.jsonl",
            "cwd": str(root),
            "permission_mode": "default",
            "hook_event_name": "PreToolUse",
            "tool_name": tool_name,
            "tool_input": tool_input,
            "tool_use_id": "toolu_01ABC",
            **extra,
        }
    )


def denial(answer: dict[str, Any] | None) -> str:
    """The reason of a deny decision (and a failed assertion if the answer is anything else)."""
    assert answer is not None, "expected a deny decision"
    output = answer["hookSpecificOutput"]
    assert output["hookEventName"] == "PreToolUse"
    assert output["permissionDecision"] == "deny"
    return output["permissionDecisionReason"]
