"""`storyfence hook claude-code` run as a command, the way Claude Code runs a PreToolUse hook: the JSON on stdin,
the decision on stdout, the exit code read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.hook import REPO_FILES, denial, pre_tool_use
from tests.support.repos import write_tree


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "repo", REPO_FILES)


def test_the_hook_runs_as_a_command_reading_stdin(repo: Path) -> None:
    """What Claude Code actually does: run the command with the JSON on stdin, read stdout and the exit code."""
    script = (
        "import sys\n"
        "from storyfence.commands.hook import claude_code_hook\n"
        "code, out = claude_code_hook(sys.stdin.read(), root=None, policy_path=None, story=None)\n"
        "sys.stdout.write(out)\n"
        "sys.exit(code)\n"
    )
    text = pre_tool_use(repo, "Write", {"file_path": str(repo / "apps/web/components/Y.tsx"), "content": ""})
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
