"""`storyfence hook claude-code` run as a command, the way Claude Code runs a PreToolUse hook: the JSON on stdin,
the decision on stdout, the exit code read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

STORY = "STORY-007"
SCOPE = """# Scope

## In scope
- `packages/core/src/orders/**`
- `apps/api/api/orders/**`

## Out of scope
- `packages/db/**`
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    files = {
        "packages/core/src/orders/cancel.ts": "export const cancel = (id: string) => id;\n",
        "packages/core/src/other.ts": "export const other = 1;\n",
        "apps/api/api/orders/index.ts": "export default () => new Response('ok');\n",
        "apps/web/components/Button.tsx": "export const Button = () => null;\n",
        f"{STORY}/{STORY}.md": "# Story\n",
        f"{STORY}/_implementation/IMPLEMENTATION-PLAN.md": "# Plan\n",
        f"{STORY}/_implementation/SCOPE.md": SCOPE,
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


def payload(root: Path, tool_name: str, tool_input: dict[str, Any], **extra: Any) -> str:
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
    assert answer is not None, "expected a deny decision"
    output = answer["hookSpecificOutput"]
    assert output["hookEventName"] == "PreToolUse"
    assert output["permissionDecision"] == "deny"
    return output["permissionDecisionReason"]


def test_the_hook_runs_as_a_command_reading_stdin(repo: Path) -> None:
    """What Claude Code actually does: run the command with the JSON on stdin, read stdout and the exit code."""
    script = (
        "import sys\n"
        "from storyfence.commands.hook import claude_code_hook\n"
        "code, out = claude_code_hook(sys.stdin.read(), root=None, policy_path=None, story=None)\n"
        "sys.stdout.write(out)\n"
        "sys.exit(code)\n"
    )
    text = payload(repo, "Write", {"file_path": str(repo / "apps/web/components/Y.tsx"), "content": ""})
    proc = subprocess.run(
        [sys.executable, "-c", script],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        env={"CLAUDE_PROJECT_DIR": str(repo), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "`no-react-components`" in denial(json.loads(proc.stdout))
