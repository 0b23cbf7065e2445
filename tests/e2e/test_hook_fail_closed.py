"""The Claude Code hook as `init` writes it fails closed: whatever goes wrong, Claude Code would block the write.

Claude Code runs a hook's `command` through the shell and blocks a PreToolUse call on exit code 2 (stderr is shown to
the model) or on exit 0 with a `permissionDecision = "deny"` on stdout; any other exit code is a non-blocking error and
the write goes through. Each test runs the exact command from `.claude/settings.json` under `sh -c`, as Claude Code
does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from storyfence.commands.init import init

SYSTEM_PATH = "/usr/bin:/bin"
VENV_BIN = str(Path(sys.executable).parent)


def hook_command(root: Path, settings: str = ".claude/settings.json") -> str:
    data = json.loads((root / settings).read_text(encoding="utf-8"))
    groups: list[dict[str, Any]] = data["hooks"]["PreToolUse"]
    commands = [hook["command"] for group in groups for hook in group["hooks"] if "hook claude-code" in hook["command"]]
    assert len(commands) == 1, commands
    return commands[0]


def write_call(root: Path, rel: str, content: str = "export const x = 1;\n") -> str:
    return json.dumps(
        {
            "session_id": "abc123",
            "cwd": str(root),
            "hook_event_name": "PreToolUse",
            "tool_name": "Write",
            "tool_input": {"file_path": str(root / rel), "content": content},
        }
    )


def run_hook(command: str, root: Path, text: str, path: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", "-c", command],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=root,
        env={"PATH": path, "CLAUDE_PROJECT_DIR": str(root), "HOME": str(root), **env},
        check=False,
    )


def claude_code_blocks(proc: subprocess.CompletedProcess[str]) -> bool:
    """What Claude Code does with a PreToolUse hook's result: exit 2 blocks; exit 0 blocks on a deny decision."""
    if proc.returncode == 2:
        return True
    if proc.returncode != 0 or not proc.stdout.strip():
        return False
    answer = json.loads(proc.stdout)
    return answer.get("hookSpecificOutput", {}).get("permissionDecision") == "deny"


@pytest.fixture
def initialised(example_repo: Path) -> Path:
    assert init(example_repo, clients=["claude-code"], force=False, claude_code_hook=True) == 0
    return example_repo


COMPONENT = "apps/web/components/x.tsx"
BACKEND = "packages/core/src/orders/x.ts"


def test_the_written_hook_blocks_when_storyfence_is_not_on_the_hooks_path(initialised: Path) -> None:
    assert shutil.which("storyfence", path=SYSTEM_PATH) is None
    proc = run_hook(hook_command(initialised), initialised, write_call(initialised, COMPONENT), SYSTEM_PATH)
    assert claude_code_blocks(proc), (proc.returncode, proc.stdout, proc.stderr)
    assert "storyfence" in proc.stderr
    # and a write that the policy allows is blocked too: the hook could not judge it
    proc = run_hook(hook_command(initialised), initialised, write_call(initialised, BACKEND), SYSTEM_PATH)
    assert claude_code_blocks(proc)


@pytest.mark.parametrize(
    "script",
    [
        "#!/bin/sh\necho 'storyfence: something broke' >&2\nexit 1\n",
        f"#!{sys.executable}\nraise RuntimeError('boom')\n",
        "#!/bin/sh\nkill -9 $$\n",
    ],
    ids=["exits-1", "raises", "killed"],
)
def test_the_written_hook_blocks_when_the_binary_crashes(initialised: Path, tmp_path: Path, script: str) -> None:
    fake = tmp_path / "fakebin"
    fake.mkdir()
    (fake / "storyfence").write_text(script, encoding="utf-8")
    (fake / "storyfence").chmod(0o755)
    path = f"{fake}:{SYSTEM_PATH}"
    proc = run_hook(hook_command(initialised), initialised, write_call(initialised, BACKEND), path)
    assert claude_code_blocks(proc), (proc.returncode, proc.stdout, proc.stderr)


def test_the_written_hook_blocks_when_the_policy_is_invalid(initialised: Path) -> None:
    (initialised / ".storyfence.toml").write_text("[[rules]\n", encoding="utf-8")
    path = f"{VENV_BIN}:{SYSTEM_PATH}"
    for rel in (COMPONENT, BACKEND):
        proc = run_hook(hook_command(initialised), initialised, write_call(initialised, rel), path)
        assert claude_code_blocks(proc), (rel, proc.returncode, proc.stdout, proc.stderr)


def test_the_written_hook_blocks_when_storyfence_itself_raises(initialised: Path) -> None:
    # a journal that is a folder: reading it raises IsADirectoryError, which no refusal path expected
    (initialised / "STORY-042/_implementation/.storyfence/journal.jsonl").mkdir(parents=True)
    path = f"{VENV_BIN}:{SYSTEM_PATH}"
    proc = run_hook(hook_command(initialised), initialised, write_call(initialised, BACKEND), path)
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "refused" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_written_hook_blocks_when_it_would_outlive_its_own_deadline(initialised: Path) -> None:
    # Claude Code does not block on a hook that times out, so the hook bounds its own work well under the
    # timeout: here stdin is never closed, and the hook gives up at its (shortened) deadline with exit 2
    path = f"{VENV_BIN}:{SYSTEM_PATH}"
    env = {"PATH": path, "CLAUDE_PROJECT_DIR": str(initialised), "STORYFENCE_HOOK_DEADLINE": "1"}
    with subprocess.Popen(
        ["sh", "-c", hook_command(initialised)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=initialised,
        env=env,
    ) as proc:
        code = proc.wait(timeout=30)  # stdin stays open: the hook never sees its input end
        err = proc.stderr.read() if proc.stderr else ""
    assert code == 2, err
    assert "deadline" in err


def test_a_legal_write_is_still_allowed_and_an_illegal_one_denied(initialised: Path) -> None:
    path = f"{VENV_BIN}:{SYSTEM_PATH}"
    proc = run_hook(hook_command(initialised), initialised, write_call(initialised, BACKEND), path)
    assert proc.returncode == 0, proc.stderr
    assert not claude_code_blocks(proc)
    proc = run_hook(hook_command(initialised), initialised, write_call(initialised, COMPONENT), path)
    assert claude_code_blocks(proc)
    assert "`no-react-components`" in proc.stdout + proc.stderr


def test_the_absolute_hook_in_the_local_settings_runs_without_storyfence_on_the_path(example_repo: Path) -> None:
    assert init(example_repo, clients=["claude-code"], force=False, claude_code_hook=True, absolute=True) == 0
    command = hook_command(example_repo, ".claude/settings.local.json")
    assert not (example_repo / ".claude/settings.json").exists()
    assert os.path.isabs(command.split()[0].strip("'"))
    proc = run_hook(command, example_repo, write_call(example_repo, BACKEND), SYSTEM_PATH)
    assert proc.returncode == 0, proc.stderr
    assert not claude_code_blocks(proc), proc.stdout
    proc = run_hook(command, example_repo, write_call(example_repo, COMPONENT), SYSTEM_PATH)
    assert claude_code_blocks(proc)
